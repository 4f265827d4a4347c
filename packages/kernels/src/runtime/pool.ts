// A buffer pool keyed by (size class, usage). Size classes are 2^k and 1.5·2^k bytes (at least
// 256), so a reused buffer wastes at most a third of its size and a training step that allocates
// the same shapes every iteration reaches a steady state with no new GPU allocations.
//
// Released buffers are not reusable at once: a command still waiting in the runtime's encoder may
// read them, and queue.writeBuffer on a recycled buffer would run *before* that command. They wait
// in `pending` until the runtime submits, after which queue order makes reuse safe.

export interface PoolStats {
  /** Bytes of buffers handed out and not yet released (size-class bytes). */
  liveBytes: number;
  /** Highest liveBytes since creation or the last resetPeak(). */
  peakBytes: number;
  /** Bytes of released buffers kept for reuse. */
  freeBytes: number;
  /** Bytes of all GPU buffers this pool owns (live + pending + free). */
  allocatedBytes: number;
  liveBuffers: number;
  /** GPU buffers created so far (a steady state stops this count from growing). */
  created: number;
}

export function sizeClass(bytes: number): number {
  const min = 256;
  if (bytes <= min) return min;
  const pow = 2 ** Math.ceil(Math.log2(bytes));
  const threeQuarter = (pow / 4) * 3; // 1.5 · 2^(k-1)
  return bytes <= threeQuarter ? threeQuarter : pow;
}

interface Entry {
  buffer: GPUBuffer;
  size: number;
  usage: number;
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private live = new Map<GPUBuffer, Entry>();
  private pending: Entry[] = [];
  private stats_ = { liveBytes: 0, peakBytes: 0, freeBytes: 0, allocatedBytes: 0, created: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
    private readonly onAllocate?: (bytes: number, create: () => GPUBuffer) => GPUBuffer,
  ) {}

  acquire(bytes: number, usage: number, label?: string): GPUBuffer {
    if (!Number.isFinite(bytes) || bytes < 0) throw new Error(`buffer pool: invalid size ${bytes}`);
    const size = sizeClass(bytes);
    if (bytes > this.maxBufferSize) {
      throw new Error(
        `buffer pool: ${bytes} bytes exceeds this device's maxBufferSize (${this.maxBufferSize}); split the work`,
      );
    }
    const cappedSize = Math.min(size, Math.floor(this.maxBufferSize / 4) * 4);
    const key = `${usage}:${cappedSize}`;
    let buffer = this.free.get(key)?.pop();
    if (buffer) {
      this.stats_.freeBytes -= cappedSize;
    } else {
      const create = () => this.device.createBuffer({ size: cappedSize, usage, label });
      buffer = this.onAllocate ? this.onAllocate(cappedSize, create) : create();
      this.stats_.allocatedBytes += cappedSize;
      this.stats_.created++;
    }
    this.live.set(buffer, { buffer, size: cappedSize, usage });
    this.stats_.liveBytes += cappedSize;
    this.stats_.peakBytes = Math.max(this.stats_.peakBytes, this.stats_.liveBytes);
    return buffer;
  }

  /** Gives a buffer back; it becomes reusable after the next submit (see recycle()). */
  release(buffer: GPUBuffer): void {
    const entry = this.live.get(buffer);
    if (!entry) throw new Error('buffer pool: release of a buffer that is not live (double dispose?)');
    this.live.delete(buffer);
    this.stats_.liveBytes -= entry.size;
    this.pending.push(entry);
  }

  /** Called by the runtime right after a queue submit: pending buffers become reusable. */
  recycle(): void {
    for (const entry of this.pending) {
      const key = `${entry.usage}:${entry.size}`;
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      list.push(entry.buffer);
      this.stats_.freeBytes += entry.size;
    }
    this.pending = [];
  }

  /** Destroys every free buffer (memory goes back to the driver). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const buffer of list) buffer.destroy();
    }
    this.stats_.allocatedBytes -= this.stats_.freeBytes;
    this.stats_.freeBytes = 0;
    this.free.clear();
  }

  resetPeak(): void {
    this.stats_.peakBytes = this.stats_.liveBytes;
  }

  stats(): PoolStats {
    return { ...this.stats_, liveBuffers: this.live.size };
  }
}
