// The runtime owns one WebGPU device and everything that lives on it: the buffer pool, the
// pipeline cache, the command encoder that batches dispatches, error collection and GPU timing.
//
// Errors on the GPU are asynchronous. Launchers validate their arguments up front (ArgumentError);
// what only the GPU can find (a WGSL compile error, a validation or out-of-memory error) is
// collected through error scopes and thrown at the next sync point (sync(), read(), profile()),
// naming the kernel. REPIRL_SUBMIT_BATCH=1 submits every dispatch alone so an error names exactly
// one kernel; the default batches dispatches into one submit, as tfjs and TVM do.
import { BufferPool, type PoolStats } from './pool.js';
import { ArgumentError, DeviceLimitError, DeviceLostError, KernelError, shapeString } from './errors.js';
import { makeShader, packUniforms, programKey, type KernelProgram, type StorageType } from './program.js';
import { GpuArray, byteLengthOf, sizeOf, type DType, type HostArray } from './array.js';
import { acquireGpu, requestedBackend, type Backend } from './gpu-provider.js';
import { readEnv, readEnvList } from './env.js';
import { fromHalf, toHalf } from './float16.js';

export type OptionalFeature = 'shader-f16' | 'subgroups' | 'timestamp-query';
export const OPTIONAL_FEATURES: readonly OptionalFeature[] = ['shader-f16', 'subgroups', 'timestamp-query'];

// GPUBufferUsage / GPUMapMode values from the WebGPU spec, so this file does not depend on the
// globals being installed before it is evaluated.
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 };
const MAP_READ_MODE = 0x1;
const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/** Limits taken at the adapter's maximum instead of the spec defaults (128 MiB bindings, 16 KiB shared…). */
const NEGOTIATED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;
type NegotiatedLimit = (typeof NEGOTIATED_LIMITS)[number];

export interface RuntimeOptions {
  backend?: Backend;
  /** Optional features to leave off even if the adapter has them (also REPIRL_DISABLE_FEATURES). */
  disableFeatures?: readonly OptionalFeature[];
  /** Dispatches per submit (also REPIRL_SUBMIT_BATCH); 1 gives exact error attribution. */
  submitBatch?: number;
}

/** A sub-range of an array to bind (used by kernels that chunk work under the binding limit). */
export interface ArrayRange {
  array: GpuArray;
  /** Byte offset: a multiple of the device's minStorageBufferOffsetAlignment (256 on most devices). */
  byteOffset: number;
  byteLength: number;
}
export type Bindable = GpuArray | ArrayRange;

export interface DispatchArgs {
  bindings: readonly Bindable[];
  uniforms?: Readonly<Record<string, number>>;
  workgroups: readonly [number, number?, number?];
}

export interface KernelTiming {
  name: string;
  count: number;
  ms: number;
}

export interface Profile {
  /** GPU time: summed timestamp-query durations, or wall time when the device has no timestamps. */
  gpuMs: number;
  wallMs: number;
  source: 'timestamp' | 'wall';
  kernels: KernelTiming[];
}

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  error: KernelError | null;
}

interface Profiling {
  querySet: GPUQuerySet;
  capacity: number;
  names: string[];
}

function scalarOf(type: StorageType): DType {
  const m = /(f32|f16|i32|u32)/.exec(type);
  return (m ? m[1] : 'f32') as DType;
}

export class Runtime {
  readonly pool: BufferPool;
  readonly features: ReadonlySet<OptionalFeature>;
  readonly limits: Readonly<Record<NegotiatedLimit | 'minStorageBufferOffsetAlignment', number>>;
  readonly submitBatch: number;
  private lostError: DeviceLostError | null = null;
  private readonly lostSignal: Promise<never>;
  private pipelines = new Map<string, CachedPipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private batchKernels: string[] = [];
  private pendingErrors: Promise<Error | null>[] = [];
  private uncaptured: Error | null = null;
  private profiling: Profiling | null = null;
  private profilingQuerySet: GPUQuerySet | null = null;
  private destroyed = false;

  private constructor(
    readonly gpu: GPU,
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    readonly backend: Backend,
    features: Set<OptionalFeature>,
    submitBatch: number,
  ) {
    this.features = features;
    this.submitBatch = submitBatch;
    const lim = device.limits as unknown as Record<string, number>;
    const limits = {} as Record<NegotiatedLimit | 'minStorageBufferOffsetAlignment', number>;
    for (const name of NEGOTIATED_LIMITS) limits[name] = lim[name]!;
    limits.minStorageBufferOffsetAlignment = lim.minStorageBufferOffsetAlignment!;
    this.limits = limits;
    this.pool = new BufferPool(device, limits.maxBufferSize, (bytes, create) => {
      device.pushErrorScope('out-of-memory');
      const buffer = create();
      this.pendingErrors.push(
        device.popErrorScope().then((e) =>
          e ? new KernelError('buffer-pool', `allocation of ${bytes} bytes failed: ${e.message}`, 'out-of-memory') : null,
        ),
      );
      return buffer;
    });
    this.lostSignal = device.lost.then((info) => {
      this.lostError = new DeviceLostError(info.reason ?? 'unknown', info.message);
      throw this.lostError;
    });
    this.lostSignal.catch(() => undefined); // observed through guard(); never an unhandled rejection
    device.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.uncaptured ??= new KernelError('device', `uncaptured GPU error: ${error.message}`);
    });
  }

  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const backend = options.backend ?? requestedBackend();
    const gpu = await acquireGpu(backend);
    const adapter = await gpu.requestAdapter(
      backend === 'opengles' ? ({ featureLevel: 'compatibility' } as GPURequestAdapterOptions) : {},
    );
    if (!adapter) {
      throw new Error(
        `no WebGPU adapter for backend "${backend}". On Linux without a GPU install lavapipe ` +
          '(mesa-vulkan-drivers ≥ 25 from bookworm-backports, plus libvulkan1): run `npm run setup`.',
      );
    }
    const disabled = new Set<string>([...(options.disableFeatures ?? []), ...readEnvList('REPIRL_DISABLE_FEATURES')]);
    for (const name of disabled) {
      if (!OPTIONAL_FEATURES.includes(name as OptionalFeature)) {
        throw new Error(`REPIRL_DISABLE_FEATURES: unknown feature "${name}" (known: ${OPTIONAL_FEATURES.join(', ')})`);
      }
    }
    const features = new Set<OptionalFeature>(
      OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f)),
    );
    const requiredLimits: Record<string, number> = {};
    const adapterLimits = adapter.limits as unknown as Record<string, number>;
    for (const name of NEGOTIATED_LIMITS) requiredLimits[name] = adapterLimits[name]!;
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({ requiredFeatures: [...features] as GPUFeatureName[], requiredLimits });
    } catch {
      // Some implementations refuse their own advertised maxima; fall back to the defaults.
      device = await adapter.requestDevice({ requiredFeatures: [...features] as GPUFeatureName[] });
    }
    const batch = options.submitBatch ?? Number(readEnv('REPIRL_SUBMIT_BATCH') ?? 32);
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`REPIRL_SUBMIT_BATCH must be an integer ≥ 1, got ${batch}`);
    return new Runtime(gpu, adapter, device, backend, features, batch);
  }

  hasFeature(feature: OptionalFeature): boolean {
    return this.features.has(feature);
  }

  get isLost(): boolean {
    return this.lostError !== null;
  }

  /** Adapter description for benchmark reports. */
  describe(): { backend: Backend; vendor: string; architecture: string; device: string; description: string; features: string[] } {
    const info = (this.adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
    return {
      backend: this.backend,
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      device: info?.device ?? '',
      description: info?.description ?? '',
      features: [...this.features],
    };
  }

  // ---------------------------------------------------------------- arrays

  empty(shape: readonly number[], dtype: DType = 'f32'): GpuArray {
    this.assertUsable('empty');
    this.checkDType('empty', dtype);
    const bytes = byteLengthOf(sizeOf(shape), dtype);
    // Checked here, where the shape is known, so the message names the tensor (the pool only sees bytes).
    if (bytes > this.limits.maxBufferSize) {
      throw new DeviceLimitError('empty', 'shape', 'maxBufferSize', bytes, this.limits.maxBufferSize, `${shapeString(shape)} ${dtype}`);
    }
    const buffer = this.pool.acquire(bytes, STORAGE_USAGE);
    return new GpuArray(this, buffer, [...shape], dtype);
  }

  zeros(shape: readonly number[], dtype: DType = 'f32'): GpuArray {
    const array = this.empty(shape, dtype);
    if (array.byteLength > 0) this.commandEncoder().clearBuffer(array.buffer, 0, array.byteLength);
    return array;
  }

  /** Copies host data into a new array. Numbers are converted to the dtype (f16: toHalf, rounded once to nearest even). */
  upload(data: ArrayLike<number>, shape: readonly number[] = [data.length], dtype: DType = hostDType(data)): GpuArray {
    const count = sizeOf(shape);
    if (count !== data.length) {
      throw new ArgumentError('upload', 'data', `has ${data.length} elements but shape ${shapeString(shape)} needs ${count}`);
    }
    const array = this.empty(shape, dtype);
    if (count > 0) {
      const bytes = toBytes(data, dtype, array.byteLength);
      this.device.queue.writeBuffer(array.buffer, 0, bytes.buffer, bytes.byteOffset, array.byteLength);
    }
    return array;
  }

  /** Reads an array back to the host (f16 arrays come back as Float32Array). */
  async read(source: Bindable): Promise<HostArray> {
    this.assertUsable('read');
    const { array, byteOffset, byteLength } = toRange(source);
    if (array.isDisposed) throw new ArgumentError('read', 'array', 'was disposed');
    const count = Math.floor(byteLength / (array.dtype === 'f16' ? 2 : 4));
    if (byteLength === 0) return hostView(new ArrayBuffer(0), array.dtype, 0);
    const staging = this.pool.acquire(byteLength, USAGE.MAP_READ | USAGE.COPY_DST);
    this.commandEncoder().copyBufferToBuffer(array.buffer, byteOffset, staging, 0, byteLength);
    this.submit();
    try {
      await this.guard(staging.mapAsync(MAP_READ_MODE, 0, byteLength));
      const copy = staging.getMappedRange(0, byteLength).slice(0);
      staging.unmap();
      await this.raiseCollectedErrors();
      const limit = source instanceof GpuArray ? array.size : count;
      return hostView(copy, array.dtype, limit);
    } finally {
      this.pool.release(staging);
    }
  }

  copy(source: GpuArray, target: GpuArray): void {
    if (source.byteLength !== target.byteLength) {
      throw new ArgumentError('copy', 'target', `has ${target.byteLength} bytes, source has ${source.byteLength}`);
    }
    if (source.byteLength > 0) this.commandEncoder().copyBufferToBuffer(source.buffer, 0, target.buffer, 0, source.byteLength);
  }

  /** @internal called by GpuArray.dispose(). */
  releaseArray(array: GpuArray): void {
    if (!this.destroyed) this.pool.release(array.buffer);
  }

  memory(): PoolStats {
    return this.pool.stats();
  }

  /** Starts a new peak: memory().peakBytes becomes the bytes live now (benchmarks measure one step's peak). */
  resetPeakMemory(): void {
    this.pool.resetPeak();
  }

  // ---------------------------------------------------------------- dispatch

  /** A workgroup grid for `count` workgroups, folded into 2-D above the per-dimension limit. */
  grid(count: number): [number, number, number] {
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (count <= max) return [count, 1, 1];
    const y = Math.ceil(count / max);
    return [Math.ceil(count / y), y, 1];
  }

  dispatch(program: KernelProgram, args: DispatchArgs): void {
    this.assertUsable(program.name);
    const { bindings, workgroups } = args;
    if (bindings.length !== program.bindings.length) {
      throw new ArgumentError(program.name, 'bindings', `expected ${program.bindings.length} (${program.bindings.map((b) => b.name).join(', ')}), got ${bindings.length}`);
    }
    const [x, y = 1, z = 1] = workgroups;
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    for (const [axis, n] of [['x', x], ['y', y], ['z', z]] as const) {
      if (!Number.isInteger(n) || n < 0 || n > maxGroups) {
        throw new ArgumentError(program.name, `workgroups.${axis}`, `must be an integer in [0, ${maxGroups}], got ${n}`);
      }
    }
    const entries: GPUBindGroupEntry[] = bindings.map((bindable, i) => {
      const decl = program.bindings[i]!;
      const { array, byteOffset, byteLength } = toRange(bindable);
      if (array.isDisposed) throw new ArgumentError(program.name, decl.name, 'was disposed');
      if (scalarOf(decl.type) !== array.dtype) {
        throw new ArgumentError(program.name, decl.name, `expected dtype ${scalarOf(decl.type)}, got ${array.dtype} ${shapeString(array.shape)}`);
      }
      if (byteLength > this.limits.maxStorageBufferBindingSize) {
        throw new DeviceLimitError(program.name, decl.name, 'maxStorageBufferBindingSize', byteLength, this.limits.maxStorageBufferBindingSize,
          `${shapeString(array.shape)} ${array.dtype}`);
      }
      if (byteOffset % this.limits.minStorageBufferOffsetAlignment !== 0) {
        throw new ArgumentError(program.name, decl.name, `byteOffset ${byteOffset} is not a multiple of ${this.limits.minStorageBufferOffsetAlignment}`);
      }
      // A zero-length binding is invalid in WebGPU; bind 16 bytes (one vec4, the largest element
      // type a kernel declares) that the kernel will not touch. Pooled buffers are ≥ 256 bytes.
      return { binding: i, resource: { buffer: array.buffer, offset: byteOffset, size: Math.max(16, byteLength) } };
    });
    if (x * y * z === 0) return; // an empty dimension: nothing to compute
    const cached = this.pipeline(program);
    if (cached.error) throw cached.error;
    const uniformData = packUniforms(program, args.uniforms ?? {});
    const uniformBuffer = this.pool.acquire(uniformData.byteLength, USAGE.UNIFORM | USAGE.COPY_DST);
    this.device.queue.writeBuffer(uniformBuffer, 0, uniformData);
    entries.push({ binding: program.bindings.length, resource: { buffer: uniformBuffer, size: uniformData.byteLength } });
    const bindGroup = this.device.createBindGroup({ layout: cached.layout, entries, label: program.name });
    const pass = this.commandEncoder().beginComputePass({ label: program.name, ...this.timestampWrites(program.name) });
    pass.setPipeline(cached.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.pool.release(uniformBuffer); // reusable after this batch is submitted
    this.batchKernels.push(program.name);
    if (this.batchKernels.length >= this.submitBatch) this.submit();
  }

  /** Sends the batched commands to the GPU (does not wait). */
  submit(): void {
    if (!this.encoder) return;
    const encoder = this.encoder;
    const kernels = this.batchKernels;
    this.encoder = null;
    this.batchKernels = [];
    const device = this.device;
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    device.queue.submit([encoder.finish()]);
    const oom = device.popErrorScope();
    const validation = device.popErrorScope();
    const where = kernels.length === 1 ? kernels[0]! : `batch of ${kernels.length}: ${[...new Set(kernels)].join(', ')}`;
    this.pendingErrors.push(
      Promise.all([validation, oom]).then(([v, o]) => {
        const e = o ?? v;
        if (!e) return null;
        return new KernelError(where, e.message, o ? 'out-of-memory' : 'validation');
      }),
    );
    this.pool.recycle();
  }

  /** Submits and waits for the GPU to finish; throws the first collected GPU error. */
  async sync(): Promise<void> {
    this.assertUsable('sync');
    this.submit();
    await this.guard(this.device.queue.onSubmittedWorkDone());
    await this.raiseCollectedErrors();
  }

  // ---------------------------------------------------------------- timing

  /**
   * Runs fn and measures the GPU time of every dispatch it makes, per kernel, with timestamp
   * queries (unquantized); without the timestamp-query feature the GPU time is the wall time.
   */
  async profile(fn: () => void | Promise<void>): Promise<Profile> {
    await this.sync();
    const useTimestamps = this.hasFeature('timestamp-query');
    if (useTimestamps) {
      const capacity = 2048; // pairs; 4096 queries is the maximum query-set size
      this.profilingQuerySet ??= this.device.createQuerySet({ type: 'timestamp', count: capacity * 2 });
      this.profiling = { querySet: this.profilingQuerySet, capacity, names: [] };
    }
    const start = performance.now();
    try {
      await fn();
      this.submit();
      await this.guard(this.device.queue.onSubmittedWorkDone());
    } finally {
      this.profiling = null;
    }
    const wallMs = performance.now() - start;
    await this.raiseCollectedErrors();
    if (!useTimestamps) return { gpuMs: wallMs, wallMs, source: 'wall', kernels: [] };
    return this.readTimestamps(this.profilingQuerySet!, this.lastProfileNames, wallMs);
  }

  private lastProfileNames: string[] = [];

  private timestampWrites(name: string): { timestampWrites?: GPUComputePassTimestampWrites } {
    const p = this.profiling;
    if (!p || p.names.length >= p.capacity) return {};
    const i = p.names.length;
    p.names.push(name);
    this.lastProfileNames = p.names;
    return { timestampWrites: { querySet: p.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  private async readTimestamps(querySet: GPUQuerySet, names: string[], wallMs: number): Promise<Profile> {
    const count = names.length * 2;
    if (count === 0) return { gpuMs: 0, wallMs, source: 'timestamp', kernels: [] };
    const resolve = this.pool.acquire(count * 8, USAGE.QUERY_RESOLVE | USAGE.COPY_SRC);
    const staging = this.pool.acquire(count * 8, USAGE.MAP_READ | USAGE.COPY_DST);
    const encoder = this.commandEncoder();
    encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, staging, 0, count * 8);
    this.submit();
    try {
      await this.guard(staging.mapAsync(MAP_READ_MODE, 0, count * 8));
      const stamps = new BigUint64Array(staging.getMappedRange(0, count * 8).slice(0));
      staging.unmap();
      const perKernel = new Map<string, KernelTiming>();
      let gpuMs = 0;
      names.forEach((name, i) => {
        const ns = Number(stamps[2 * i + 1]! - stamps[2 * i]!);
        const ms = Math.max(0, ns) / 1e6;
        gpuMs += ms;
        const entry = perKernel.get(name) ?? { name, count: 0, ms: 0 };
        entry.count++;
        entry.ms += ms;
        perKernel.set(name, entry);
      });
      return { gpuMs, wallMs, source: 'timestamp', kernels: [...perKernel.values()] };
    } finally {
      this.pool.release(resolve);
      this.pool.release(staging);
    }
  }

  // ---------------------------------------------------------------- lifecycle

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.encoder = null;
    this.pool.trim();
    this.profilingQuerySet?.destroy();
    this.device.destroy();
  }

  // ---------------------------------------------------------------- internals

  private commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private pipeline(program: KernelProgram): CachedPipeline {
    const key = programKey(program);
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    const device = this.device;
    for (const f of program.features ?? []) {
      if (!this.hasFeature(f)) throw new KernelError(program.name, `variant "${program.variant}" needs the "${f}" feature, which this device lacks`, 'compile');
    }
    const invocations = program.workgroupSize.reduce<number>((a, b) => a * (b ?? 1), 1);
    if (invocations > this.limits.maxComputeInvocationsPerWorkgroup) {
      throw new KernelError(program.name, `workgroup of ${invocations} invocations exceeds this device's limit ${this.limits.maxComputeInvocationsPerWorkgroup}`, 'compile');
    }
    const layout = device.createBindGroupLayout({
      label: program.name,
      entries: [
        ...program.bindings.map((b, i) => ({
          binding: i,
          visibility: 4 /* GPUShaderStage.COMPUTE */,
          buffer: { type: (b.access === 'read' ? 'read-only-storage' : 'storage') as GPUBufferBindingType },
        })),
        { binding: program.bindings.length, visibility: 4, buffer: { type: 'uniform' as GPUBufferBindingType } },
      ],
    });
    const code = makeShader(program);
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code, label: key });
    const pipeline = device.createComputePipeline({
      label: key,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    const entry: CachedPipeline = { pipeline, layout, error: null };
    this.pendingErrors.push(
      device.popErrorScope().then(async (e) => {
        if (!e) return null;
        const info = await module.getCompilationInfo();
        const messages = info.messages
          .filter((m) => m.type === 'error')
          .map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}\n    ${code.split('\n')[m.lineNum - 1]?.trim() ?? ''}`);
        entry.error = new KernelError(
          program.name,
          `variant "${program.variant}" failed to compile: ${messages.length ? messages.join('\n') : e.message}`,
          'compile',
        );
        return entry.error;
      }),
    );
    this.pipelines.set(key, entry);
    return entry;
  }

  private async raiseCollectedErrors(): Promise<void> {
    const pending = this.pendingErrors;
    this.pendingErrors = [];
    const errors = await this.guard(Promise.all(pending));
    // Compile errors are the most specific explanation; report them before the submit failures they cause.
    const first = errors.find((e) => e instanceof KernelError && e.kind === 'compile') ?? errors.find((e) => e !== null);
    if (first) throw first;
    if (this.uncaptured) {
      const e = this.uncaptured;
      this.uncaptured = null;
      throw e;
    }
  }

  /** Races a GPU promise against device loss, so a lost device gives an error instead of a hang. */
  private guard<T>(promise: Promise<T>): Promise<T> {
    if (this.lostError) return Promise.reject(this.lostError);
    return Promise.race([promise, this.lostSignal]);
  }

  private assertUsable(what: string): void {
    if (this.lostError) throw this.lostError;
    if (this.destroyed) throw new Error(`[${what}] this runtime was destroyed; create a new one`);
  }

  private checkDType(kernel: string, dtype: DType): void {
    if (!['f32', 'f16', 'i32', 'u32'].includes(dtype)) throw new ArgumentError(kernel, 'dtype', `unknown dtype "${dtype}" (f32, f16, i32, u32)`);
    if (dtype === 'f16' && !this.hasFeature('shader-f16')) {
      throw new ArgumentError(kernel, 'dtype', 'f16 arrays need the shader-f16 feature, which this device lacks (or it was disabled)');
    }
  }
}

function toRange(b: Bindable): ArrayRange {
  return b instanceof GpuArray ? { array: b, byteOffset: 0, byteLength: b.byteLength } : b;
}

function hostDType(data: ArrayLike<number>): DType {
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint32Array) return 'u32';
  return 'f32';
}

function toBytes(data: ArrayLike<number>, dtype: DType, byteLength: number): Uint8Array {
  const out = new ArrayBuffer(byteLength);
  if (dtype === 'f32') new Float32Array(out).set(data);
  else if (dtype === 'i32') new Int32Array(out).set(data);
  else if (dtype === 'u32') new Uint32Array(out).set(data);
  else {
    const halves = new Uint16Array(out);
    for (let i = 0; i < data.length; i++) halves[i] = toHalf(data[i]!);
  }
  return new Uint8Array(out);
}

function hostView(bytes: ArrayBuffer, dtype: DType, count: number): HostArray {
  if (dtype === 'i32') return new Int32Array(bytes, 0, count);
  if (dtype === 'u32') return new Uint32Array(bytes, 0, count);
  if (dtype === 'f32') return new Float32Array(bytes, 0, count);
  const halves = new Uint16Array(bytes, 0, count);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = fromHalf(halves[i]!);
  return out;
}

// ---------------------------------------------------------------- the process-wide runtime

let shared: Promise<Runtime> | null = null;

/** The process-wide runtime, created on first use from the environment's settings. */
export function getRuntime(): Promise<Runtime> {
  shared ??= Runtime.create().catch((err) => {
    shared = null;
    throw err;
  });
  return shared;
}

/** Destroys the process-wide runtime; the next getRuntime() creates a fresh one. */
export async function resetRuntime(): Promise<void> {
  const current = shared;
  shared = null;
  if (current) (await current.catch(() => null))?.destroy();
}
