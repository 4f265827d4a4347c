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
  /** The same split by the program's variant (tile config, width, path…). */
  variants?: Record<string, { count: number; ms: number }>;
}

/**
 * What the runtime has done since it was created (always counted: plain integer increments).
 * Runtime.counters() reads them; profile() reports the difference over its function.
 */
export interface RuntimeCounters {
  /** Compute dispatches encoded (one compute pass each). */
  dispatches: number;
  /** queue.submit calls. */
  submits: number;
  /** Read-backs to the host (read(): one staging copy + mapAsync each) and their bytes. */
  readbacks: number;
  readbackBytes: number;
  /** Host → device writes of array data (upload()) and their bytes; uniforms are not counted here. */
  uploads: number;
  uploadBytes: number;
  /** Arrays allocated (empty/zeros/upload: a buffer taken from the pool). */
  arrays: number;
  /** New GPU buffers the pool had to create (pool misses: arrays, staging and uniform buffers). */
  buffersCreated: number;
  /** Waits for the whole queue (sync(); profile() itself excluded). */
  syncs: number;
}

/** Host (JavaScript thread) time inside the runtime while profiling, in ms. */
export interface HostTiming {
  /** Validating, binding and encoding dispatches (dispatch()). */
  encodeMs: number;
  /** Finishing and submitting command buffers (submit()). */
  submitMs: number;
  /** Waiting for the GPU: read-backs' mapAsync and sync(). */
  waitMs: number;
}

export interface Profile {
  /**
   * GPU time: summed timestamp-query durations; without timestamps ('wall'), the sum of the
   * host-measured per-kernel times (see kernels) or, with no dispatch, the wall time.
   */
  gpuMs: number;
  wallMs: number;
  /**
   * 'timestamp': per-pass GPU timestamps. 'wall': the device has no timestamp-query, so each
   * dispatch was submitted alone and timed on the host from its submit (or the previous
   * completion) to its completion callback: an upper bound that includes the callback latency.
   */
  source: 'timestamp' | 'wall';
  kernels: KernelTiming[];
  /** Counts over fn (the profiler's own query resolves and read-backs are not counted). */
  counts: RuntimeCounters;
  host: HostTiming;
}

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  error: KernelError | null;
}

interface TimestampChunk {
  /** Resolved timestamps of `names` (2 per pass), copied into a mappable buffer. */
  staging: GPUBuffer;
  resolve: GPUBuffer;
  names: string[];
}

interface Profiling {
  /** Timestamps: the query set, its capacity in passes, the passes written since the last resolve. */
  querySet: GPUQuerySet | null;
  capacity: number;
  names: string[];
  chunks: TimestampChunk[];
  /** Without timestamps: host-timed completion of each dispatch, submitted alone. */
  wallTimes: Promise<{ name: string; ms: number }>[];
  lastDone: number;
  host: HostTiming;
  /** Waits in flight, and when the first of them began. */
  waiting: number;
  waitStart: number;
}

const NO_COUNTS: RuntimeCounters = {
  dispatches: 0, submits: 0, readbacks: 0, readbackBytes: 0, uploads: 0, uploadBytes: 0, arrays: 0, buffersCreated: 0, syncs: 0,
};

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
  private counts: RuntimeCounters = { ...NO_COUNTS };
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
    this.counts.arrays++;
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
      this.counts.uploads++;
      this.counts.uploadBytes += array.byteLength;
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
    this.counts.readbacks++;
    this.counts.readbackBytes += byteLength;
    try {
      await this.waitFor(staging.mapAsync(MAP_READ_MODE, 0, byteLength));
      const copy = staging.getMappedRange(0, byteLength).slice(0);
      staging.unmap();
      await this.raiseCollectedErrors();
      const limit = source instanceof GpuArray ? array.size : count;
      return hostView(copy, array.dtype, limit);
    } finally {
      this.pool.release(staging);
    }
  }

  /** Copies source into target (the same size), or, with targetByteOffset, into target's bytes from there (a multiple of 4). */
  copy(source: GpuArray, target: GpuArray, targetByteOffset?: number): void {
    if (targetByteOffset === undefined) {
      if (source.byteLength !== target.byteLength) {
        throw new ArgumentError('copy', 'target', `has ${target.byteLength} bytes, source has ${source.byteLength}`);
      }
    } else if (!Number.isInteger(targetByteOffset) || targetByteOffset < 0 || targetByteOffset % 4 !== 0 || targetByteOffset + source.byteLength > target.byteLength) {
      throw new ArgumentError('copy', 'targetByteOffset', `must be a multiple of 4 with ${source.byteLength} source bytes fitting the target's ${target.byteLength}, got ${targetByteOffset}`);
    }
    if (source.byteLength > 0) this.commandEncoder().copyBufferToBuffer(source.buffer, 0, target.buffer, targetByteOffset ?? 0, source.byteLength);
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
    const p = this.profiling;
    if (!p) return this.encodeDispatch(program, args);
    const t0 = performance.now();
    try {
      this.encodeDispatch(program, args);
    } finally {
      p.host.encodeMs += performance.now() - t0;
    }
    if (!p.querySet) this.submitTimed(program.name); // no timestamps: time each dispatch alone
  }

  private encodeDispatch(program: KernelProgram, args: DispatchArgs): void {
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
    const pass = this.commandEncoder().beginComputePass({ label: program.name, ...this.timestampWrites(program) });
    pass.setPipeline(cached.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.pool.release(uniformBuffer); // reusable after this batch is submitted
    this.counts.dispatches++;
    this.batchKernels.push(program.name);
    if (this.batchKernels.length >= this.submitBatch) this.submit();
  }

  /** Profiling without timestamps: submits the dispatch just encoded and times it to its completion on the host. */
  private submitTimed(name: string): void {
    const p = this.profiling!;
    if (!this.encoder) return; // an empty grid encodes nothing
    this.submit();
    const submitted = performance.now();
    p.wallTimes.push(
      this.device.queue.onSubmittedWorkDone().then(() => {
        const done = performance.now();
        const ms = done - Math.max(submitted, p.lastDone);
        p.lastDone = done;
        return { name, ms };
      }),
    );
  }

  /** Sends the batched commands to the GPU (does not wait). */
  submit(): void {
    if (!this.encoder) return;
    const p = this.profiling;
    const t0 = p ? performance.now() : 0;
    this.counts.submits++;
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
    if (p) p.host.submitMs += performance.now() - t0;
  }

  /** Submits and waits for the GPU to finish; throws the first collected GPU error. */
  async sync(): Promise<void> {
    this.assertUsable('sync');
    this.submit();
    this.counts.syncs++;
    await this.waitFor(this.device.queue.onSubmittedWorkDone());
    await this.raiseCollectedErrors();
  }

  /**
   * Awaits a GPU promise (guarded against device loss). While profiling, the host's waiting time
   * is the wall time during which at least one such wait is pending (concurrent reads count once).
   */
  private waitFor<T>(promise: Promise<T>): Promise<T> {
    const p = this.profiling;
    if (!p) return this.guard(promise);
    if (p.waiting++ === 0) p.waitStart = performance.now();
    return this.guard(promise).finally(() => {
      if (--p.waiting === 0) p.host.waitMs += performance.now() - p.waitStart;
    });
  }

  /** What the runtime has done since it was created (see RuntimeCounters). */
  counters(): RuntimeCounters {
    return { ...this.counts, buffersCreated: this.pool.stats().created };
  }

  // ---------------------------------------------------------------- timing

  /**
   * Runs fn and measures what it costs: the GPU time of every dispatch per kernel (timestamp
   * queries written by each compute pass, unquantized), the host time inside the runtime, and
   * the counts of dispatches, submits, read-backs, uploads and allocations. Without the
   * timestamp-query feature each dispatch is submitted alone and timed on the host to its
   * completion (source 'wall'; see Profile.source). Nothing is timed or counted differently
   * when no profile is running: the only cost outside profile() is the counters' increments.
   */
  async profile(fn: () => void | Promise<void>): Promise<Profile> {
    if (this.profiling) throw new Error('[profile] a profile is already running on this runtime');
    await this.sync(); // submits what came before fn (counted: it is the caller's work)
    this.counts.syncs--; // the wait itself is the profiler's
    const useTimestamps = this.hasFeature('timestamp-query');
    const capacity = 2048; // passes per query set: 4096 queries is the maximum query-set size
    if (useTimestamps) this.profilingQuerySet ??= this.device.createQuerySet({ type: 'timestamp', count: capacity * 2 });
    const p: Profiling = {
      querySet: useTimestamps ? this.profilingQuerySet : null,
      capacity,
      names: [],
      chunks: [],
      wallTimes: [],
      lastDone: 0,
      host: { encodeMs: 0, submitMs: 0, waitMs: 0 },
      waiting: 0,
      waitStart: 0,
    };
    const before = this.counters();
    this.profiling = p;
    const start = performance.now();
    let after: RuntimeCounters;
    try {
      await fn();
      this.submit();
      after = this.counters();
      await this.guard(this.device.queue.onSubmittedWorkDone());
    } finally {
      this.profiling = null;
    }
    const wallMs = performance.now() - start;
    await this.raiseCollectedErrors();
    const counts = { ...after };
    for (const k of Object.keys(counts) as (keyof RuntimeCounters)[]) counts[k] -= before[k];
    if (!useTimestamps) {
      const times = await Promise.all(p.wallTimes);
      const kernels = new Map<string, KernelTiming>();
      for (const { name, ms } of times) add(kernels, name, undefined, ms);
      const gpuMs = times.length > 0 ? times.reduce((sum, t) => sum + t.ms, 0) : wallMs;
      return { gpuMs, wallMs, source: 'wall', kernels: [...kernels.values()], counts, host: p.host };
    }
    this.resolveTimestamps(p);
    if (this.encoder) {
      this.submit();
      this.counts.submits--; // the profiler's own resolve
    }
    const kernels = new Map<string, KernelTiming>();
    let gpuMs = 0;
    try {
      for (const chunk of p.chunks) {
        const bytes = chunk.names.length * 16;
        await this.guard(chunk.staging.mapAsync(MAP_READ_MODE, 0, bytes));
        const stamps = new BigUint64Array(chunk.staging.getMappedRange(0, bytes).slice(0));
        chunk.staging.unmap();
        chunk.names.forEach((key, i) => {
          const ms = Math.max(0, Number(stamps[2 * i + 1]! - stamps[2 * i]!)) / 1e6;
          gpuMs += ms;
          const cut = key.indexOf('\u0000');
          add(kernels, key.slice(0, cut), key.slice(cut + 1), ms);
        });
      }
    } finally {
      for (const chunk of p.chunks) {
        chunk.staging.destroy();
        chunk.resolve.destroy();
      }
    }
    return { gpuMs, wallMs, source: 'timestamp', kernels: [...kernels.values()], counts, host: p.host };
  }

  private timestampWrites(program: KernelProgram): { timestampWrites?: GPUComputePassTimestampWrites } {
    const p = this.profiling;
    if (!p?.querySet) return {};
    if (p.names.length >= p.capacity) this.resolveTimestamps(p);
    const i = p.names.length;
    p.names.push(`${program.name}\u0000${program.variant}`);
    return { timestampWrites: { querySet: p.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  /**
   * Encodes the resolve of the passes written so far into a buffer of their own, so the query set
   * can be written again by later passes (queue order keeps the two apart); read after fn.
   * The profiler's buffers come from the device, not the pool, so the counts stay fn's own.
   */
  private resolveTimestamps(p: Profiling): void {
    const n = p.names.length;
    if (n === 0 || !p.querySet) return;
    const bytes = n * 16;
    const resolve = this.device.createBuffer({ size: bytes, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC, label: 'profile-resolve' });
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST, label: 'profile-staging' });
    const encoder = this.commandEncoder();
    encoder.resolveQuerySet(p.querySet, 0, 2 * n, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
    p.chunks.push({ staging, resolve, names: p.names });
    p.names = [];
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

function add(kernels: Map<string, KernelTiming>, name: string, variant: string | undefined, ms: number): void {
  let entry = kernels.get(name);
  if (!entry) kernels.set(name, (entry = { name, count: 0, ms: 0 }));
  entry.count++;
  entry.ms += ms;
  if (variant !== undefined) {
    entry.variants ??= {};
    const v = (entry.variants[variant] ??= { count: 0, ms: 0 });
    v.count++;
    v.ms += ms;
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
