// Finds a WebGPU implementation: the browser's navigator.gpu, or in Node the `webgpu` package
// (Dawn). The Node module is loaded through a computed specifier so browser bundles never try to
// include it. The GPU object is kept in a module-level variable for the life of the process:
// if Dawn's instance is garbage-collected while a device lives, the process crashes or hangs
// (docs/research/toolchain.md §6.1).
import { readEnv } from './env.js';

export type Backend = 'vulkan' | 'opengles' | 'browser';

const kept = new Map<string, GPU>();

interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

export function requestedBackend(): Backend {
  const raw = readEnv('REPIRL_WEBGPU_BACKEND');
  if (raw === undefined) {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    // A browser (or a host that set navigator.gpu itself) brings its own implementation.
    return nav?.gpu && !('process' in globalThis) ? 'browser' : 'vulkan';
  }
  if (raw !== 'vulkan' && raw !== 'opengles') {
    throw new Error(`REPIRL_WEBGPU_BACKEND="${raw}" is not supported; use "vulkan" (default) or "opengles"`);
  }
  return raw;
}

export async function acquireGpu(backend: Backend): Promise<GPU> {
  const existing = kept.get(backend);
  if (existing) return existing;
  let gpu: GPU;
  if (backend === 'browser') {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (!nav?.gpu) throw new Error('WebGPU is not available: navigator.gpu is undefined');
    gpu = nav.gpu;
  } else {
    const specifier = 'webgpu';
    let dawn: DawnModule;
    try {
      dawn = (await import(/* @vite-ignore */ specifier)) as DawnModule;
    } catch (err) {
      throw new Error(`could not load the "webgpu" package (Dawn for Node): ${(err as Error).message}`);
    }
    Object.assign(globalThis, dawn.globals);
    const options = ['disable-dawn-features=timestamp_quantization'];
    if (backend === 'opengles') {
      // Dawn's GL backend needs a surfaceless EGL platform on a headless machine.
      const proc = (globalThis as { process?: { env: Record<string, string | undefined> } }).process;
      if (proc && !proc.env.EGL_PLATFORM) proc.env.EGL_PLATFORM = 'surfaceless';
      options.push('backend=opengles');
    } else {
      options.push('backend=vulkan');
    }
    gpu = dawn.create(options);
  }
  kept.set(backend, gpu);
  return gpu;
}
