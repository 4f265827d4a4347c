// Rebuilding a saved PRM from its checkpoint: rl's saveModel writes <name>.safetensors (the state
// dict) and <name>.json ({ kind: the class name, model: its config }); the config rebuilds the
// module empty and the state dict fills it.
import { loadCheckpoint, type Backend, type Init, type InitOptions } from '@repirl/autograd';
import { ImplicitPrm } from './implicit.js';
import { OutcomeHeadPrm } from './outcome-head.js';
import { StepHeadPrm } from './step-head.js';
import { TokenMlpPrm } from './token-mlp.js';

const CLASSES = { TokenMlpPrm, OutcomeHeadPrm, ImplicitPrm, StepHeadPrm } as const;

/** Any PRM this package saves. */
export type SavedPrm = InstanceType<(typeof CLASSES)[keyof typeof CLASSES]>;

/** Loads a PRM saved with saveModel(dir, name, prm) (a trainer checkpoint's reward model, by default 'prm'). */
export async function loadPrm(backend: Backend, dir: string, options: { name?: string } = {}): Promise<SavedPrm> {
  const name = options.name ?? 'prm';
  const loaded = await loadCheckpoint(dir, { name });
  const { kind, model } = loaded.config as { kind?: string; model?: unknown };
  if (kind === undefined || !Object.hasOwn(CLASSES, kind) || typeof model !== 'object' || model === null) {
    throw new Error(`${dir}/${name}.json holds a ${JSON.stringify(kind)}, not one of this package's PRMs (${Object.keys(CLASSES).join(', ')})`);
  }
  const Ctor = CLASSES[kind as keyof typeof CLASSES] as unknown as new (backend: Backend, config: unknown, init?: InitOptions | Init) => SavedPrm;
  const prm = new Ctor(backend, model, { empty: true });
  prm.loadStateDict(loaded.tensors, { source: loaded.path });
  return prm;
}
