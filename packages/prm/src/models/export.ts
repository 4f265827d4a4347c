// A trained PRM as files other tools can use (issue 13 item 6; the layout is documented in
// docs/prm-export.md and this package's README). One new directory, written atomically:
//
//   config.json, model.safetensors, tokenizer files   the backbone as a Hugging Face model
//                                                     (exportHfModel: original tensor names)
//   prm_head.safetensors                              the head's weights, PyTorch nn.Linear layout
//                                                     (weight [out, in], bias [out])
//   prm_head.json                                     what the head is and how to apply it
//   reference/                                        the implicit PRM only: π_ref as a HF model
//
// The head reads the backbone's last hidden state (transformers' `last_hidden_state`: after the
// final RMSNorm) at the scored token's own position. loadExportedPrm() rebuilds the PRM from such
// a directory, so export → load gives the same rewards.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  assign, copyInto, loadHfModel, loadSafetensors, saveSafetensors, tensorToFloat32, writeDirectoryAtomic, writeFileAtomic, writeHfModelFiles,
  type Backend, type DecoderLM, type TensorInput,
} from '@repirl/autograd';
import { ImplicitPrm } from './implicit.js';
import { OutcomeHeadPrm } from './outcome-head.js';
import { StepHeadPrm } from './step-head.js';
import { TokenMlpPrm } from './token-mlp.js';
import type { SavedPrm } from './load.js';

export const PRM_HEAD_JSON = 'prm_head.json';
export const PRM_HEAD_WEIGHTS = 'prm_head.safetensors';
export const PRM_HEAD_FORMAT = 'repirl-prm-head';
export const PRM_REFERENCE_DIR = 'reference';

/** One Linear of a head, in the order they apply. */
export interface PrmHeadLayer {
  /** Tensor names in prm_head.safetensors: `${name}.weight` [out, in], `${name}.bias` [out]. */
  name: string;
  in: number;
  out: number;
  /** Applied to this layer's output. */
  activation: 'relu' | 'tanh' | 'sigmoid' | 'none';
}

/** prm_head.json. */
export interface PrmHeadFile {
  format: typeof PRM_HEAD_FORMAT;
  version: 1;
  /** The PRM class: token-mlp (rePIRL), step-head (AIRL-S), outcome-head (ORM / Math-Shepherd), implicit (PRIME). */
  prm: 'token-mlp' | 'step-head' | 'outcome-head' | 'implicit';
  /** What the head reads. */
  input: string;
  /** Which response tokens get a score, and what the score is. */
  output: string;
  /** The head's Linears (none for the implicit PRM). */
  layers: PrmHeadLayer[];
  /** outcome-head: 'last' (ORM) or 'step-ends' (Math-Shepherd). */
  read?: string;
  /** implicit: r_t = beta·(log π(y_t) − log π_ref(y_t)) at this temperature, π_ref in reference/. */
  beta?: number;
  temperature?: number;
  reference?: string;
  /** The repirl config of the PRM (rebuilds it exactly). */
  repirl: { kind: string; config: Record<string, unknown> };
}

const INPUT = "the backbone's last hidden state (transformers' last_hidden_state, after the final norm) at the scored token's own position";

function describeHead(prm: SavedPrm): Omit<PrmHeadFile, 'format' | 'version' | 'repirl'> {
  const d = prm.config.decoder.dModel;
  if (prm instanceof TokenMlpPrm) {
    const h = prm.config.hidden;
    return {
      prm: 'token-mlp', input: INPUT,
      output: 'every response token t: r_t = tanh(out(relu(fc2(relu(fc1(h_t)))))) in (−1, 1); a step\'s score is the sum of r_t over its tokens',
      layers: [{ name: 'fc1', in: d, out: h, activation: 'relu' }, { name: 'fc2', in: h, out: h, activation: 'relu' }, { name: 'out', in: h, out: 1, activation: 'tanh' }],
    };
  }
  if (prm instanceof StepHeadPrm) {
    return { prm: 'step-head', input: INPUT, output: "each step's end token: f = linear(h_t), an unbounded score (AIRL-S's f); 0 elsewhere", layers: [{ name: 'linear', in: d, out: 1, activation: 'none' }] };
  }
  if (prm instanceof OutcomeHeadPrm) {
    const where = prm.config.read === 'last' ? 'the last response token' : "each step's end token";
    return { prm: 'outcome-head', input: INPUT, read: prm.config.read, output: `${where}: p = sigmoid(linear(h_t)), the probability of a correct answer (step); 0 elsewhere`, layers: [{ name: 'linear', in: d, out: 1, activation: 'sigmoid' }] };
  }
  return {
    prm: 'implicit', input: 'the log-probabilities of the response tokens under this model and under reference/',
    output: `every response token t: r_t = beta·(log π(y_t | y_<t) − log π_ref(y_t | y_<t)), logits divided by the temperature; a step's score is the sum over its tokens`,
    layers: [], beta: prm.config.beta, temperature: prm.config.temperature ?? 1, reference: PRM_REFERENCE_DIR,
  };
}

/** [rows, cols] → [cols, rows]. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Where a head layer's parameters are in the PRM's state dict: head.fc1. (token MLP) or head.linear. (scalar heads). */
function layerPrefix(prm: SavedPrm, layer: PrmHeadLayer): string {
  return prm instanceof TokenMlpPrm ? `head.${layer.name}.` : 'head.linear.';
}

export interface ExportPrmOptions {
  /** The Hugging Face directory the policy (and so the backbone) came from: tokenizer files and config keys. */
  source?: string;
}

/** Writes `prm` as a new directory `dir` (see the file comment), atomically. Returns the file names. */
export async function exportPrm(prm: SavedPrm, dir: string, options: ExportPrmOptions = {}): Promise<string[]> {
  const head = describeHead(prm);
  // LoRA adapters are merged into the exported backbone (π_φ for the implicit PRM): the exported
  // PRM has none, and its config says so.
  const { lora: _lora, ...config } = structuredClone(prm.config) as unknown as Record<string, unknown>;
  const file: PrmHeadFile = { format: PRM_HEAD_FORMAT, version: 1, ...head, repirl: { kind: prm.constructor.name, config } };
  const merged = async (model: DecoderLM) => (prm.lora ? { state: await prm.lora.mergedStateDict(model) } : {});
  return writeDirectoryAtomic(dir, async (temp) => {
    const hf = options.source === undefined ? {} : { source: options.source };
    if (prm instanceof ImplicitPrm) {
      const files = await writeHfModelFiles(prm.lm, temp, { ...hf, ...(await merged(prm.lm)) });
      await mkdir(join(temp, PRM_REFERENCE_DIR));
      await writeHfModelFiles(prm.reference, join(temp, PRM_REFERENCE_DIR), hf);
      await writeFileAtomic(join(temp, PRM_HEAD_JSON), `${JSON.stringify(file, null, 2)}\n`);
      return [...files, PRM_HEAD_JSON, `${PRM_REFERENCE_DIR}/`];
    }
    const files = await writeHfModelFiles(prm.backbone, temp, { ...hf, ...(await merged(prm.backbone)) });
    const state = await prm.stateDict();
    const tensors: Record<string, TensorInput> = {};
    for (const layer of head.layers) {
      // Ours is [in, out]; PyTorch's nn.Linear holds [out, in].
      const prefix = layerPrefix(prm, layer);
      tensors[`${layer.name}.weight`] = { dtype: 'F32', shape: [layer.out, layer.in], data: transpose(state[`${prefix}weight`]!.data, layer.in, layer.out) };
      tensors[`${layer.name}.bias`] = { dtype: 'F32', shape: [layer.out], data: state[`${prefix}bias`]!.data };
    }
    await saveSafetensors(join(temp, PRM_HEAD_WEIGHTS), tensors, { format: 'pt' });
    await writeFileAtomic(join(temp, PRM_HEAD_JSON), `${JSON.stringify(file, null, 2)}\n`);
    return [...files, PRM_HEAD_WEIGHTS, PRM_HEAD_JSON];
  });
}

const CLASSES = { TokenMlpPrm, OutcomeHeadPrm, ImplicitPrm, StepHeadPrm } as const;

/** Rebuilds a PRM from a directory exportPrm wrote (the backbone through loadHfModel). */
export async function loadExportedPrm(backend: Backend, dir: string): Promise<SavedPrm> {
  const path = join(dir, PRM_HEAD_JSON);
  let file: PrmHeadFile;
  try {
    file = JSON.parse(await readFile(path, 'utf8')) as PrmHeadFile;
  } catch (err) {
    throw new Error(`${path}: cannot read it as JSON (${(err as Error).message}); is ${dir} a PRM exported by repirl?`);
  }
  if (file.format !== PRM_HEAD_FORMAT || file.version !== 1) throw new Error(`${path}: format ${JSON.stringify(file.format)} version ${JSON.stringify(file.version)} is not ${PRM_HEAD_FORMAT} version 1`);
  const kind = file.repirl?.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(CLASSES, kind)) throw new Error(`${path}: repirl.kind ${JSON.stringify(kind)} is not one of ${Object.keys(CLASSES).join(', ')}`);
  const Ctor = CLASSES[kind as keyof typeof CLASSES] as unknown as new (backend: Backend, config: unknown, init?: { empty: boolean }) => SavedPrm;
  const prm = new Ctor(backend, file.repirl.config, { empty: true });
  const maxSeqLen = prm.config.decoder.maxSeqLen;
  try {
    if (prm instanceof ImplicitPrm) {
      await fillFrom(backend, dir, prm.lm, maxSeqLen);
      await fillFrom(backend, join(dir, file.reference ?? PRM_REFERENCE_DIR), prm.reference, maxSeqLen);
      return prm;
    }
    await fillFrom(backend, dir, prm.backbone, maxSeqLen);
    const weightsPath = join(dir, PRM_HEAD_WEIGHTS);
    const { tensors } = await loadSafetensors(weightsPath);
    const params = prm.parameters();
    for (const layer of file.layers) {
      const prefix = layerPrefix(prm, layer);
      const w = tensors[`${layer.name}.weight`];
      const b = tensors[`${layer.name}.bias`];
      if (!w || w.shape.join() !== `${layer.out},${layer.in}` || !b || b.shape.join() !== `${layer.out}` || !params.has(`${prefix}weight`)) {
        throw new Error(`${weightsPath}: needs '${layer.name}.weight' [${layer.out}, ${layer.in}] and '${layer.name}.bias' [${layer.out}] for a ${kind} (${PRM_HEAD_JSON}'s layers)`);
      }
      assign(params.get(`${prefix}weight`)!, transpose(tensorToFloat32(w), layer.out, layer.in));
      assign(params.get(`${prefix}bias`)!, tensorToFloat32(b));
    }
    return prm;
  } catch (err) {
    prm.dispose();
    throw err;
  }
}

/** Loads the Hugging Face model in `dir` and copies its weights into `dst` (same shapes). */
async function fillFrom(backend: Backend, dir: string, dst: DecoderLM, maxSeqLen: number): Promise<void> {
  const { model } = await loadHfModel(backend, dir, { maxSeqLen });
  try {
    const from = model.parameters();
    for (const [name, param] of dst.parameters()) {
      const src = from.get(name);
      if (!src) throw new Error(`${dir}: the model has no '${name}', which the PRM's backbone has (${PRM_HEAD_JSON}'s repirl.config.decoder differs from config.json)`);
      copyInto(src, param);
    }
  } finally {
    model.dispose();
  }
}
