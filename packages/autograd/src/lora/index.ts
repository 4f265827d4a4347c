// LoRA adapters on DecoderLM projections, and their PEFT file layout.
export {
  LORA_TARGET_MODULES,
  LoraAdapters,
  LoraError,
  applyLora,
  checkLoraConfig,
  loraAdaptersConfig,
  loraSites,
  type LoraAdaptersConfig,
  type LoraConfig,
  type LoraSite,
  type LoraTargetModule,
} from './lora.js';
export {
  PEFT_CONFIG_FILE,
  PEFT_PREFIX,
  PEFT_WEIGHTS_FILE,
  loadPeftAdapter,
  peftConfigJson,
  readPeftConfig,
  savePeftAdapter,
  type PeftAdapterConfig,
  type SavePeftOptions,
} from './peft.js';
