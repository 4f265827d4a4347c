// Peers measured side by side with our kernels: tfjs with its WebGPU backend on *our* Dawn device
// (so both run on the same lavapipe instance), and tfjs with the wasm backend (XNNPACK, SIMD,
// single-threaded in Node). Loaded lazily: a suite that does not use them pays nothing.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { Runtime } from '../src/index.js';

type Tf = typeof import('@tensorflow/tfjs-core');

let tfPromise: Promise<Tf> | null = null;
let webgpuRegistered = false;
let wasmRegistered = false;

async function loadTf(): Promise<Tf> {
  tfPromise ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    // tfjs prints a banner about tfjs-node on first use in Node; it is noise for benchmarks.
    tf.env().set('IS_TEST', true);
    return tf;
  })();
  return tfPromise;
}

/** tfjs with the WebGPU backend on the runtime's own device, made the active backend. */
export async function tfWebgpu(rt: Runtime): Promise<Tf> {
  const tf = await loadTf();
  if (!webgpuRegistered) {
    // Import before navigator.gpu exists, so the package does not register a backend of its own
    // on a second device; then expose our GPU object, which WebGPUBackend's constructor checks for.
    const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
    const g = globalThis as { navigator?: { gpu?: GPU; userAgent?: string } };
    if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu: rt.gpu, userAgent: 'node' }, configurable: true });
    else g.navigator.gpu ??= rt.gpu;
    const info = (rt.adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
    tf.registerBackend('webgpu', async () => new WebGPUBackend(rt.device, info));
    webgpuRegistered = true;
  }
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend failed to initialise');
  await tf.ready();
  return tf;
}

/** tfjs with the wasm backend (XNNPACK with SIMD; Node gets no wasm threads), made active. */
export async function tfWasm(): Promise<Tf> {
  const tf = await loadTf();
  if (!wasmRegistered) {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(`${dist}/`);
    wasmRegistered = true;
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend failed to initialise');
  await tf.ready();
  return tf;
}
