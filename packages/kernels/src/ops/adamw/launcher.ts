// adamw: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import { expectDType } from '../validate.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';
import { adamwProgram, WORKGROUP } from './program.js';
import { type AdamWOptions, coefficients, resolve } from './reference.js';

/** One AdamW step, in place on param, m and v (all the same shape as grad, f32). */
export function adamwUpdate(rt: Runtime, param: GpuArray, grad: GpuArray, m: GpuArray, v: GpuArray, options: AdamWOptions): void {
  const kernel = 'adamw';
  for (const [name, a] of [['param', param], ['grad', grad], ['m', m], ['v', v]] as const) {
    expectDType(kernel, name, a, 'f32');
    if (a.size !== param.size || a.shape.length !== param.shape.length || a.shape.some((d, k) => d !== param.shape[k])) {
      throw new ArgumentError(kernel, name, `expected shape ${shapeString(param.shape)} (the shape of param), got ${shapeString(a.shape)}`);
    }
  }
  if (new Set([param.buffer, grad.buffer, m.buffer, v.buffer]).size !== 4) {
    throw new ArgumentError(kernel, 'param', 'param, grad, m and v must be four different buffers');
  }
  const r = resolve(kernel, options);
  const c = coefficients(r);
  const width = param.size % 4 === 0 && getFlag<boolean>('adamw.vec4', true) ? 4 : 1;
  // Parameters over the storage-binding limit (GPT-2's 38.6M-element token table is 154 MB against
  // lavapipe's 128 MiB) are updated in aligned element ranges.
  const align = rt.limits.minStorageBufferOffsetAlignment / 4; // elements per aligned offset step
  let chunk = Math.floor(rt.limits.maxStorageBufferBindingSize / 4 / align) * align;
  const forced = getFlag<number>('adamw.chunkElements', 0);
  if (forced > 0) chunk = Math.max(align, Math.floor(forced / align) * align);
  for (let start = 0; start < param.size; start += chunk) {
    const count = Math.min(chunk, param.size - start);
    const range = (a: GpuArray) => ({ array: a, byteOffset: start * 4, byteLength: count * 4 });
    const n = count / width;
    rt.dispatch(adamwProgram(width), {
      bindings: [range(param), range(grad), range(m), range(v)],
      uniforms: {
        n,
        decay: c.decay,
        beta1: r.beta1,
        beta2: r.beta2,
        oneMinusBeta1: 1 - r.beta1,
        oneMinusBeta2: 1 - r.beta2,
        stepSize: c.stepSize,
        bias2Sqrt: c.bias2Sqrt,
        eps: r.eps,
        gradScale: r.gradScale,
      },
      workgroups: rt.grid(Math.ceil(n / WORKGROUP)),
    });
  }
}
