// The module convention. A module is a class whose constructor is always
//
//     new SomeModule(backend, config, init?)
//
// and which registers its parameters (this.param) and sub-modules (this.child) by name. From that
// the base class derives everything generic: parameters() with dotted names such as
// `blocks.0.attn.qkv.weight`, stateDict() / loadStateDict() for safetensors checkpoints, copy()
// (to the same or another backend, optionally frozen: "policy → frozen reference" is one call) and
// dispose(). Because the signature is uniform, copy() can rebuild any module from its config.
import type { Backend } from '../core/backend.js';
import { StorageRef, Tensor } from '../core/tensor.js';
import { GpuBackend } from '../backends/gpu.js';
import type { CpuStorage } from '../backends/cpu.js';
import { SeededRandom, type GpuArray } from '@repirl/kernels';
import { SAFETENSORS_DTYPES, tensorToFloat32, type DecodedTensor } from '../io/safetensors.js';

// ---------------------------------------------------------------- seeded initialisation

/**
 * The weight-initialisation PRNG: @repirl/kernels' SeededRandom (mulberry32, Box–Muller normals),
 * seeded from any non-negative safe integer, so the same seed gives the same weights everywhere.
 */
export class Rng extends SeededRandom {
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`Rng: seed must be a non-negative integer, got ${seed}`);
    super(0);
    // Fold the high bits in so seeds above 2^32 still differ.
    this.state = (seed ^ Math.floor(seed / 2 ** 32) ^ 0x9e3779b9) >>> 0;
  }
}

/**
 * How a module's parameters start. Children share their parent's Rng, so a model's weights depend
 * only on the seed and the construction order. `empty` allocates zeros without drawing (the
 * weights are about to be copied or loaded).
 */
export interface InitOptions {
  seed?: number;
  rng?: Rng;
  empty?: boolean;
  /**
   * Storage of the weight matrices that only feed matmuls (Linear weights), on the GPU: 'f32'
   * (default), or 'f16' for frozen weights (inference, a LoRA base): half the memory and half the
   * bytes each matmul reads, values rounded to nearest even, products and sums still f32. Such a
   * weight is frozen (requiresGrad false; the matmul kernel computes no gradient for an f16
   * operand). Needs the device's shader-f16 feature. Vectors (norms, biases) and the embedding
   * table stay f32.
   */
  weights?: WeightStorage;
}

export type WeightStorage = 'f32' | 'f16';

/** The resolved form passed to children. */
export interface Init {
  rng: Rng;
  empty: boolean;
  weights: WeightStorage;
}

function resolveInit(init: InitOptions | Init | undefined): Init {
  const seed = init && 'seed' in init ? init.seed : undefined;
  const weights = init?.weights ?? 'f32';
  if (weights !== 'f32' && weights !== 'f16') throw new Error(`weights must be 'f32' or 'f16', got ${JSON.stringify(weights)}`);
  return { rng: init?.rng ?? new Rng(seed ?? 0), empty: init?.empty ?? false, weights };
}

/** Whether a tensor's storage is half precision (a frozen f16 weight on the GPU). */
export function isHalfStorage(t: Tensor): boolean {
  return t.backend instanceof GpuBackend && (t.storage as GpuArray).dtype === 'f16';
}

export type ParamFill = { normal: number } | 'zeros' | 'ones';

/** Host data of one tensor as stateDict() returns it (an F32 safetensors entry). */
export interface HostTensor {
  dtype: 'F32';
  shape: number[];
  data: Float32Array;
}

/** What loadStateDict() accepts: a stateDict(), or the tensors of loadCheckpoint() / loadSafetensors(). */
export type StateDict = Record<string, DecodedTensor | { shape: readonly number[]; data: ArrayLike<number> }>;

/** Values of a state-dict entry as numbers (safetensors F16 bits and 64-bit integers decoded). */
function hostValues(entry: StateDict[string]): ArrayLike<number> {
  if ('dtype' in entry && (SAFETENSORS_DTYPES as readonly string[]).includes(entry.dtype)) return tensorToFloat32(entry as DecodedTensor);
  return entry.data as ArrayLike<number>;
}

export interface CopyOptions {
  /** Backend of the copy; default the module's own. */
  backend?: Backend;
  /** The copy's parameters do not require grad (a frozen reference model). */
  frozen?: boolean;
}

type ModuleClass<C, M> = new (backend: Backend, config: C, init?: InitOptions | Init) => M;

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

// ---------------------------------------------------------------- Module

export abstract class Module<C = unknown> {
  private readonly ownParams = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();
  /** Non-trainable tensors derived from the config (RoPE tables): disposed with the module, never saved. */
  private readonly buffers: Tensor[] = [];
  protected readonly init: Init;

  constructor(
    readonly backend: Backend,
    readonly config: C,
    init?: InitOptions | Init,
  ) {
    this.init = resolveInit(init);
  }

  /** Registers a parameter (persistent, requires grad) initialised by `fill`. */
  protected param(name: string, shape: readonly number[], fill: ParamFill): Tensor {
    this.checkFreeName(name);
    const random = this.randomValues(shape, fill);
    let storage;
    if (random) storage = this.backend.upload(random, shape, 'f32');
    else storage = this.backend.fill(shape, this.init.empty || fill === 'zeros' ? 0 : 1);
    const t = new Tensor(new StorageRef(this.backend, storage), shape, 'f32', true, true);
    this.ownParams.set(name, t);
    return t;
  }

  /**
   * Registers a weight matrix that only feeds matmuls: a parameter like param(), except that when
   * the init asks for f16 weights (InitOptions.weights) it is stored in f16 and frozen. Its
   * Tensor's dtype stays 'f32' (the values it stands for); only the storage is half precision.
   */
  protected weightParam(name: string, shape: readonly number[], fill: ParamFill): Tensor {
    if (this.init.weights === 'f32') return this.param(name, shape, fill);
    if (!(this.backend instanceof GpuBackend)) {
      throw new Error(`${this.constructor.name}: weights 'f16' is a GPU storage option; the ${this.backend.name} backend holds float64 values (use weights 'f32')`);
    }
    const rt = this.backend.rt;
    if (!rt.hasFeature('shader-f16')) {
      throw new Error(`${this.constructor.name}: weights 'f16' needs the shader-f16 feature, which this device lacks (or it was disabled); use weights 'f32'`);
    }
    this.checkFreeName(name);
    const random = this.randomValues(shape, fill);
    const size = shape.reduce((a, b) => a * b, 1);
    let storage: GpuArray;
    if (random) storage = rt.upload(random, shape, 'f16');
    else if (this.init.empty || fill === 'zeros') storage = rt.zeros(shape, 'f16');
    else storage = rt.upload(new Float32Array(size).fill(1), shape, 'f16');
    const t = new Tensor(new StorageRef(this.backend, storage), shape, 'f32', false, true);
    this.ownParams.set(name, t);
    return t;
  }

  private checkFreeName(name: string): void {
    if (this.ownParams.has(name) || this.children.has(name)) throw new Error(`${this.constructor.name}: '${name}' is registered twice`);
  }

  /** The initial values of a normal fill, drawn from the shared Rng (null for zeros, ones or an empty init). */
  private randomValues(shape: readonly number[], fill: ParamFill): Float32Array | null {
    if (this.init.empty || typeof fill === 'string') return null;
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = this.init.rng.normal(0, fill.normal);
    return data;
  }

  /** Registers a sub-module under `name` (its parameters become `name.<its names>`). */
  protected child<M extends Module>(name: string, module: M): M {
    if (this.ownParams.has(name) || this.children.has(name)) throw new Error(`${this.constructor.name}: '${name}' is registered twice`);
    if (module.backend !== this.backend) throw new Error(`${this.constructor.name}: child '${name}' lives on another backend`);
    this.children.set(name, module);
    return module;
  }

  /** Registers a constant tensor the module owns (uploaded once, never trained or saved). */
  protected buffer(data: ArrayLike<number>, shape: readonly number[], dtype: 'f32' | 'i32' = 'f32'): Tensor {
    const t = new Tensor(new StorageRef(this.backend, this.backend.upload(data, shape, dtype)), shape, dtype, false, true);
    this.buffers.push(t);
    return t;
  }

  /** Every parameter, by dotted name, in registration order. */
  parameters(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, t] of this.ownParams) out.set(name, t);
    for (const [prefix, m] of this.children) for (const [name, t] of m.parameters()) out.set(`${prefix}.${name}`, t);
    return out;
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    let n = 0;
    for (const t of this.parameters().values()) n += t.size;
    return n;
  }

  /** Sets requiresGrad on every parameter (false freezes the module). */
  setRequiresGrad(requiresGrad: boolean): this {
    for (const [name, t] of this.parameters()) {
      if (requiresGrad && isHalfStorage(t)) throw new Error(`${this.constructor.name}: '${name}' is an f16 weight, which stays frozen (load with weights 'f32' to train it)`);
    }
    for (const t of this.parameters().values()) t.requiresGrad = requiresGrad;
    return this;
  }

  /** Frees every parameter's accumulated gradient. */
  zeroGrad(): void {
    for (const t of this.parameters().values()) t.zeroGrad();
  }

  /** Host copies of every parameter (float32), ready for saveCheckpoint({ tensors }). */
  async stateDict(): Promise<Record<string, HostTensor>> {
    const out: Record<string, HostTensor> = {};
    for (const [name, t] of this.parameters()) out[name] = { dtype: 'F32', shape: [...t.shape], data: Float32Array.from(await t.data()) };
    return out;
  }

  /**
   * Copies `tensors` into the parameters in place (optimizer state keyed by the parameter objects
   * stays valid). Every parameter must be present with its exact shape; names the module does not
   * have are an error too unless `allowExtra` (e.g. a checkpoint holding a model and its head).
   * `source` (the file the tensors came from) starts the error message.
   */
  loadStateDict(tensors: StateDict, options: { allowExtra?: boolean; source?: string } = {}): void {
    const params = this.parameters();
    const problems: string[] = [];
    for (const [name, t] of params) {
      const src = tensors[name];
      if (!src) problems.push(`tensor '${name}' ${shapeText(t.shape)} is missing`);
      else if (!sameShape(src.shape, t.shape)) problems.push(`tensor '${name}' has shape ${shapeText(src.shape)} but the model expects ${shapeText(t.shape)}`);
    }
    if (!options.allowExtra) for (const name of Object.keys(tensors)) if (!params.has(name)) problems.push(`tensor '${name}' is not a parameter of this ${this.constructor.name}`);
    if (problems.length > 0) {
      throw new Error(`${options.source ? `${options.source}: ` : ''}loadStateDict into a ${this.constructor.name}: ${problems.join('; ')}`);
    }
    for (const [name, t] of params) assign(t, hostValues(tensors[name]!));
  }

  /**
   * A deep copy with the same config and weights, on `backend` (default the same one). With
   * `frozen`, its parameters do not require grad: the frozen reference policy of RL, or the
   * starting point of a reward model's backbone, in one call.
   */
  async copy(options: CopyOptions = {}): Promise<this> {
    const backend = options.backend ?? this.backend;
    const Ctor = this.constructor as ModuleClass<C, this>;
    // A GPU copy keeps f16 weights in f16; a CPU copy holds their (f16-exact) values in float64.
    const weights = backend instanceof GpuBackend ? this.init.weights : 'f32';
    const copy = new Ctor(backend, structuredClone(this.config), { empty: true, weights });
    const mine = this.parameters();
    for (const [name, dst] of copy.parameters()) {
      const src = mine.get(name)!;
      if (backend === this.backend) copyInto(src, dst);
      else assign(dst, await src.data());
    }
    if (options.frozen) copy.setRequiresGrad(false);
    return copy;
  }

  /** Frees every parameter, gradient and buffer of this module and its children. */
  dispose(): void {
    for (const t of this.ownParams.values()) {
      t.zeroGrad();
      t.dispose();
    }
    for (const t of this.buffers) t.dispose();
    for (const m of this.children.values()) m.dispose();
  }
}

// ---------------------------------------------------------------- in-place writes

/** Overwrites a tensor's data in place with host values (its shape's element count). */
export function assign(t: Tensor, data: ArrayLike<number>): void {
  if (data.length !== t.size) throw new Error(`assign: ${data.length} values for a tensor of shape ${shapeText(t.shape)}`);
  const backend = t.backend;
  if (backend instanceof GpuBackend) {
    // Upload to a temporary and copy in the command stream, so the write is ordered after any
    // queued kernel that still reads the old values.
    const storage = t.storage as GpuArray;
    // An f16 weight takes the values rounded once to nearest even (toHalf in the upload).
    const tmp = storage.dtype === 'f16' ? backend.rt.upload(data, t.shape, 'f16') : backend.upload(data, t.shape, t.dtype);
    backend.rt.copy(tmp, storage);
    tmp.dispose();
  } else {
    (t.storage as CpuStorage).data.set(data instanceof Float64Array ? data : Float64Array.from(data));
  }
}

/**
 * Every parameter of `dst` ← the parameter of the same name in `src` (same backend, same shapes),
 * on the device: a module built from another's weights (a PRM or critic backbone from the policy,
 * a kept best copy). A name `src` lacks is an error.
 */
export function copyParameters(src: ReadonlyMap<string, Tensor>, dst: ReadonlyMap<string, Tensor>): void {
  for (const [name, param] of dst) {
    const from = src.get(name);
    if (from === undefined) throw new Error(`copyParameters: the source has no parameter "${name}"`);
    copyInto(from, param);
  }
}

/** dst ← src on the same backend, without a host round trip. */
export function copyInto(src: Tensor, dst: Tensor): void {
  if (!sameShape(src.shape, dst.shape)) throw new Error(`copyInto: shapes ${shapeText(src.shape)} and ${shapeText(dst.shape)} differ`);
  const backend = src.backend;
  if (backend !== dst.backend) throw new Error('copyInto: tensors live on different backends');
  if (backend instanceof GpuBackend) backend.rt.copy(src.storage as GpuArray, dst.storage as GpuArray);
  else (dst.storage as CpuStorage).data.set((src.storage as CpuStorage).data);
}
