// Hugging Face model directories (config.json + safetensors) ↔ DecoderLM.
export { HfModelError, HF_ARCHITECTURES, parseHfConfig, readHfConfig, toHfConfig, type HfArchitecture, type HfConfig } from './config.js';
export { hfTensorTable, hfToOurs, oursToHf, isIgnorableHfTensor, type HfTensorEntry, type HfTensorPart } from './names.js';
export {
  describeHfModel,
  loadHfModel,
  readHfWeightFiles,
  saveHfModel,
  type HfModelDescription,
  type HfWeightFiles,
  type LoadHfModelOptions,
  type LoadedHfModel,
  type SaveHfModelOptions,
} from './model.js';
export { HF_COPIED_FILES, exportHfModel, exportPeftAdapter, writeHfModelFiles, type ExportHfModelOptions, type ExportedHfModel } from './export.js';
