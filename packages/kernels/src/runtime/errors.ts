// Every failure that reaches a user names the kernel it came from, and for bad arguments the
// argument and what was expected, so the fix is obvious from the message alone.

/** A GPU-side failure (WGSL compile error, validation error, out-of-memory) of a named kernel. */
export class KernelError extends Error {
  constructor(
    readonly kernel: string,
    message: string,
    readonly kind: 'compile' | 'validation' | 'out-of-memory' | 'internal' = 'validation',
  ) {
    super(`[${kernel}] ${message}`);
    this.name = 'KernelError';
  }
}

/** A bad argument caught before anything reaches the GPU. */
export class ArgumentError extends Error {
  constructor(
    readonly kernel: string,
    readonly argument: string,
    message: string,
  ) {
    super(`[${kernel}] argument "${argument}": ${message}`);
    this.name = 'ArgumentError';
  }
}

/**
 * A tensor larger than a device limit: a buffer over maxBufferSize, or a binding over
 * maxStorageBufferBindingSize. The message names the tensor (shape and dtype), its size and the
 * limit; callers that know which setting makes tensors that big (a batch size) catch it and say so.
 */
export class DeviceLimitError extends ArgumentError {
  constructor(
    kernel: string,
    argument: string,
    readonly limit: 'maxBufferSize' | 'maxStorageBufferBindingSize',
    readonly bytes: number,
    readonly max: number,
    what: string,
  ) {
    super(kernel, argument, `${what} is ${bytes} bytes, over this device's ${limit} (${max})`);
    this.name = 'DeviceLimitError';
  }
}

/** The device was lost (driver reset, destroy(), out of memory at the driver level). */
export class DeviceLostError extends Error {
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super(
      `WebGPU device lost (${reason})${detail ? `: ${detail}` : ''}. ` +
        'Every GPU array of this runtime is gone; create a new runtime (resetRuntime()) and start again.',
    );
    this.name = 'DeviceLostError';
  }
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
