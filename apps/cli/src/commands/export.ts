// `repirl export --set from=RUN_OR_CHECKPOINT_DIR --set out=DIR [--set merge=true]`: a trained
// policy (or PRM) as files other tools load (issue 13 item 6).
//
//   policy, merge=true (default)  out/ is a Hugging Face model directory: config.json and
//                                 model.safetensors with the original tensor names (LoRA merged:
//                                 W + (α/r)·B·A), the tokenizer files and generation_config.json
//                                 (AutoModelForCausalLM.from_pretrained(out), vLLM)
//   policy, merge=false           out/ is the PEFT adapter (adapter_config.json +
//                                 adapter_model.safetensors) of a LoRA run, for PeftModel.from_pretrained(base, out)
//   PRM                           out/ is the backbone as above plus prm_head.safetensors and
//                                 prm_head.json (docs/prm-export.md)
//
// `from` is a run directory (its final policy, else its newest checkpoint), a checkpoint folder,
// or a folder savePolicy wrote. A LoRA checkpoint holds the adapters alone: `base` names the
// policy they were trained on (the Hugging Face directory or repirl checkpoint the run started
// from). The tokenizer files come from `source`, else from the hf/ folder a run started from a
// Hugging Face model keeps beside its policy. out/ is written atomically (a temp directory
// renamed into place) and never over an existing path.
import { copyFile, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  LoraAdapters, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, exportHfModel, exportPeftAdapter, loadCheckpoint, loadHfModel, peftConfigJson, readPeftConfig,
  writeDirectoryAtomic, writeFileAtomic, type DecoderLM, type LoraAdaptersConfig,
} from '@repirl/autograd';
import { exportPrm, loadPrm } from '@repirl/prm';
import { ConfigError, loadPolicy, readConfigFile, resolveCheckpoint, resolveConfig, s, type Infer } from '@repirl/rl';
import { parseOptions } from './args.js';
import { UsageError, type CliIo } from './io.js';
import { backend } from './shared.js';

export const exportSchema = s.object('write a trained policy or PRM as a Hugging Face model directory (or a PEFT adapter)', {
  from: s.string('a run directory (its final policy, else its newest checkpoint), a checkpoint folder, or a folder savePolicy wrote', { nonEmpty: true }),
  out: s.string('the directory to create (must not exist; written atomically)', { nonEmpty: true }),
  merge: s.boolean('true: a full model with LoRA adapters merged in; false: the PEFT adapter alone (LoRA runs only)', { default: true }),
  base: s.optional(s.string('the policy a LoRA checkpoint was trained on: a Hugging Face directory or a repirl checkpoint (needed when from holds adapters only)', { nonEmpty: true })),
  source: s.optional(s.string("a Hugging Face directory whose tokenizer files, generation_config.json and config.json keys to carry over (default: from's hf/ folder, or base)", { nonEmpty: true })),
  dtype: s.enum('dtype of the written weights (BF16 and F16 round to nearest even)', ['F32', 'BF16', 'F16'], { default: 'F32' }),
});
export type ExportConfig = Infer<typeof exportSchema>;

export const EXPORT_USAGE = `usage: repirl export --set from=RUN_OR_CHECKPOINT_DIR --set out=DIR [--set merge=true|false] [--set base=DIR] [--set source=HF_DIR] [--set dtype=F32|BF16|F16] [--config FILE]

Writes a trained policy as a Hugging Face model directory (config.json, model.safetensors,
tokenizer files; LoRA adapters merged), or with merge=false its LoRA adapter in PEFT's layout;
a PRM as its backbone plus prm_head.safetensors and prm_head.json. out must not exist.`;

const exists = (path: string) => stat(path).then(() => true, () => false);
const isHfDir = (dir: string) => exists(join(dir, 'config.json'));

/** What `from` holds, once a run directory is resolved to its final policy or newest checkpoint. */
interface Found {
  dir: string;
  kind: 'policy' | 'lora' | 'prm';
}

async function locate(from: string): Promise<Found> {
  const probe = async (dir: string): Promise<Found | null> => {
    if (await exists(join(dir, 'policy.json'))) return { dir, kind: 'policy' };
    if (await exists(join(dir, 'prm.json'))) return { dir, kind: 'prm' };
    if (await exists(join(dir, 'lora.json'))) return { dir, kind: 'lora' };
    return null;
  };
  if (!(await exists(from))) throw new Error(`from: ${from} does not exist`);
  const direct = await probe(from);
  if (direct) return direct;
  const ref = await resolveCheckpoint(from);
  const found = await probe(ref.dir);
  if (found) return found;
  throw new Error(`from: ${from} holds no policy (policy.json), PRM (prm.json) or LoRA adapters (lora.json)${ref.dir === resolve(from) ? '' : ` and neither does its newest checkpoint ${ref.dir}`}`);
}

/** The directory whose tokenizer files go along: `source`, else hf/ beside the weights (or of the run), else an HF `base`. */
async function tokenizerSource(config: ExportConfig, found: Found): Promise<string | undefined> {
  if (config.source !== null) {
    if (!(await isHfDir(config.source))) throw new Error(`source: ${config.source} has no config.json (a Hugging Face model directory is expected)`);
    return config.source;
  }
  for (const dir of [join(found.dir, 'hf'), join(config.from, 'hf')]) if (await isHfDir(dir)) return dir;
  if (config.base !== null && (await isHfDir(config.base))) return config.base;
  return undefined;
}

/** The policy a LoRA checkpoint's adapters go on. */
async function loadBase(base: string): Promise<DecoderLM> {
  if (await isHfDir(base)) return (await loadHfModel(await backend(), base)).model;
  return loadPolicy(await backend(), (await resolveCheckpoint(base)).dir);
}

async function loadLoraCheckpoint(dir: string, model: DecoderLM): Promise<LoraAdapters> {
  const loaded = await loadCheckpoint(dir, { name: 'lora' });
  const config = loaded.config as { kind?: string; model?: LoraAdaptersConfig };
  if (config.kind !== 'LoraAdapters' || typeof config.model !== 'object' || config.model === null) {
    throw new Error(`${join(dir, 'lora.json')} does not hold LoRA adapters (kind ${JSON.stringify(config.kind)})`);
  }
  const adapters = new LoraAdapters(model.backend, config.model, { empty: true });
  try {
    adapters.loadStateDict(loaded.tensors, { source: loaded.path });
    return adapters.attach(model);
  } catch (err) {
    adapters.dispose();
    throw new Error(`${err instanceof Error ? err.message : String(err)} (is base the policy this run started from?)`);
  }
}

async function run(config: ExportConfig, io: CliIo): Promise<string[]> {
  const found = await locate(config.from);
  if (await exists(config.out)) throw new Error(`out: ${config.out} already exists; choose a new directory (nothing was written)`);
  const source = await tokenizerSource(config, found);
  const hf = { ...(source === undefined ? {} : { source }), dtype: config.dtype };
  const note = source === undefined ? ['(no tokenizer files: from has no hf/ folder; give source=HF_DIR to copy them)'] : [];

  if (found.kind === 'prm') {
    if (!config.merge) throw new Error(`merge=false exports a policy's LoRA adapter; ${found.dir} holds a PRM`);
    const prm = await loadPrm(await backend(), found.dir);
    try {
      return [...(await exportPrm(prm, config.out, source === undefined ? {} : { source })), ...note];
    } finally {
      prm.dispose();
    }
  }

  if (found.kind === 'policy') {
    const adapterDir = join(found.dir, 'adapter');
    if (!config.merge) {
      if (!(await exists(join(adapterDir, PEFT_CONFIG_FILE)))) throw new Error(`merge=false: ${found.dir} holds no LoRA adapter (adapter/${PEFT_CONFIG_FILE}); it was not trained with lora.rank > 0`);
      // The adapter is already in PEFT's layout; base_model_name_or_path names the model it belongs to.
      const { lora } = await readPeftConfig(adapterDir);
      const baseName = config.base ?? (await startingModel(found.dir, config.from));
      return writeDirectoryAtomic(config.out, async (temp) => {
        await copyFile(join(adapterDir, PEFT_WEIGHTS_FILE), join(temp, PEFT_WEIGHTS_FILE));
        await writeFileAtomic(join(temp, PEFT_CONFIG_FILE), `${JSON.stringify(peftConfigJson(lora, { baseModelNameOrPath: baseName }), null, 2)}\n`);
        return [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE];
      });
    }
    // savePolicy already wrote a LoRA policy's weights merged.
    const policy = await loadPolicy(await backend(), found.dir);
    try {
      return [...(await exportHfModel(policy, config.out, hf)).files, ...note];
    } finally {
      policy.dispose();
    }
  }

  if (config.base === null) {
    throw new Error(`${found.dir} holds LoRA adapters only (lora.safetensors); set base=DIR to the policy the run started from (its Hugging Face directory or repirl checkpoint)`);
  }
  const base = await loadBase(config.base);
  try {
    const adapters = await loadLoraCheckpoint(found.dir, base);
    try {
      if (!config.merge) return (await exportPeftAdapter(adapters, config.out, { baseModelNameOrPath: config.base })).files;
      io.stderr(`repirl export: merging ${adapters.sites.length} adapters (rank ${adapters.config.rank}) into ${config.base}\n`);
      return [...(await exportHfModel(base, config.out, { ...hf, state: await adapters.mergedStateDict() })).files, ...note];
    } finally {
      adapters.dispose();
    }
  } finally {
    base.dispose();
  }
}

/** The Hugging Face model a run started from, as its codec.json records it (null when unknown). */
async function startingModel(...dirs: string[]): Promise<string | null> {
  for (const dir of dirs) {
    const text = await readFile(join(dir, 'codec.json'), 'utf8').catch(() => null);
    if (text === null) continue;
    try {
      const source = (JSON.parse(text) as { source?: unknown }).source;
      if (typeof source === 'string' && source !== '') return source;
    } catch {
      // an unreadable record names no model
    }
  }
  return null;
}

export async function exportCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const where = 'repirl export';
  let config: ExportConfig;
  try {
    const parsed = parseOptions(where, argv, [{ name: 'config', kind: 'value' }, { name: 'set', kind: 'list' }, { name: 'help', kind: 'flag', short: 'h' }]);
    if (parsed.flags.has('help')) {
      io.print(EXPORT_USAGE);
      return 0;
    }
    if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument "${parsed.positionals[0]}" (options start with --)`);
    const configPath = parsed.values.get('config');
    config = resolveConfig<ExportConfig>(exportSchema, {
      ...(configPath === undefined ? {} : { file: await readConfigFile(configPath) }),
      sets: parsed.lists.get('set') ?? [],
    });
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.print(`${where}: ${err.message}\n${EXPORT_USAGE}`);
      return 2;
    }
    throw err;
  }
  try {
    const files = await run(config, io);
    io.print(`${where}: ${config.out}: ${files.join(', ')}`);
    return 0;
  } catch (err) {
    io.print(`${where} failed: ${(err as Error).message}`);
    return 1;
  }
}
