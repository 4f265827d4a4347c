// Sampling pieces for generation, on either backend: the top-k / top-p (nucleus) mask — a small
// WGSL kernel of our own with a float64 sort-based reference — and categorical sampling through
// the Philox Gumbel-max kernel of @repirl/kernels (its float64 reference on the CPU backend).
//
// The mask kernel finds thresholds by radix select instead of sorting: floats are mapped to u32
// keys that order like the floats, and the largest key K with count(key ≥ K) ≥ k is built bit by
// bit from the top (32 passes over the row). Top-p does the same with the softmax mass at the
// sampling temperature, inside the top-k set: the largest K whose mass(key ≥ K) ≥ p·total.
// Everything below the final threshold becomes −∞. One invocation walks one row alone (no
// barriers, which are the expensive part on CPU implementations of WebGPU): 66 passes of V
// elements, ~17k steps per row at V = 259; written for the small vocabularies of this project —
// a 50k vocabulary would want a workgroup per row. Ties at a threshold are all kept.
import * as K from '@repirl/kernels';
import type { GpuArray, KernelProgram } from '@repirl/kernels';
import type { Tensor } from '../core/tensor.js';
import { wrap } from '../core/tape.js';
import { checkTemperature } from '../core/ops.js';
import { GpuBackend } from '../backends/gpu.js';
import type { CpuStorage } from '../backends/cpu.js';

export interface MaskOptions {
  /** Keep the k largest logits (ties at the k-th value included); 0 or ≥ V: no top-k. */
  topK?: number;
  /** Keep the smallest top set whose probability reaches p (0 < p ≤ 1); 1: no top-p. */
  topP?: number;
  /** Temperature of the distribution top-p measures (the sampling temperature), > 0. Default 1. */
  temperature?: number;
}

function checkMaskOptions(options: MaskOptions): { k: number; p: number; invT: number } {
  const k = options.topK ?? 0;
  const p = options.topP ?? 1;
  const t = options.temperature ?? 1;
  if (!Number.isInteger(k) || k < 0) throw new Error(`topK must be a non-negative integer (0 = off), got ${k}`);
  if (!(p > 0 && p <= 1)) throw new Error(`topP must be in (0, 1] (1 = off), got ${p}`);
  checkTemperature('topKTopPMask', t);
  return { k, p, invT: 1 / t };
}

const MASK_WORKGROUP = 64;

const maskProgram: KernelProgram = {
  name: 'top-k-top-p-mask',
  variant: 'radix-select',
  workgroupSize: [MASK_WORKGROUP],
  uniforms: [
    { name: 'rows', type: 'u32' },
    { name: 'vocab', type: 'u32' },
    { name: 'k', type: 'u32' },
    { name: 'p', type: 'f32' },
    { name: 'invT', type: 'f32' },
    { name: 'negInf', type: 'f32' },
  ],
  bindings: [
    { name: 'logits', type: 'f32', access: 'read' },
    { name: 'out', type: 'f32', access: 'read_write' },
  ],
  code: /* wgsl */ `
// u32 keys ordered like the floats; NaN gets 0, below every threshold (which is always ≥ 1).
fn orderKey(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0u; }
  if ((b & 0x80000000u) != 0u) { return ~b; }
  return b | 0x80000000u;
}

// Softmax mass (unnormalised, relative to the max m) of the logits with key ≥ c.
fn massFrom(base: u32, c: u32, m: f32) -> f32 {
  var s = 0.0;
  for (var v = 0u; v < params.vocab; v++) {
    let x = logits[base + v];
    if (orderKey(x) >= c) { s += exp((x - m) * params.invT); }
  }
  return s;
}

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = grid_invocation(wid, nwg, lid);
  if (row >= params.rows) { return; }
  let base = row * params.vocab;
  var thr = 1u;
  if (params.k > 0u && params.k < params.vocab) {
    var ans = 0u;
    for (var bit = 0u; bit < 32u; bit++) {
      let cand = ans | (0x80000000u >> bit);
      var count = 0u;
      for (var v = 0u; v < params.vocab; v++) {
        if (orderKey(logits[base + v]) >= cand) { count++; }
      }
      if (count >= params.k) { ans = cand; }
    }
    thr = max(ans, 1u);
  }
  if (params.p < 1.0) {
    var m = -3.402823466e+38;
    for (var v = 0u; v < params.vocab; v++) {
      let x = logits[base + v];
      if (orderKey(x) >= thr) { m = max(m, x); }
    }
    let goal = params.p * massFrom(base, thr, m);
    if (goal > 0.0) {
      var ans = 0u;
      for (var bit = 0u; bit < 32u; bit++) {
        let cand = ans | (0x80000000u >> bit);
        if (massFrom(base, max(cand, thr), m) >= goal) { ans = cand; }
      }
      thr = max(ans, thr);
    }
  }
  for (var v = 0u; v < params.vocab; v++) {
    let x = logits[base + v];
    out[base + v] = select(params.negInf, x, orderKey(x) >= thr);
  }
}`,
};

/**
 * Float64 reference of the mask by sorting: keep x ≥ the k-th largest value, then, within that
 * set, x ≥ the value where the descending cumulative softmax(x / T) mass first reaches p·total.
 */
export function topKTopPMaskReference(logits: ArrayLike<number>, rows: number, vocab: number, options: MaskOptions): Float64Array {
  const { k, p, invT } = checkMaskOptions(options);
  const out = new Float64Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: vocab }, (_, v) => logits[r * vocab + v]!);
    const sorted = row.filter((x) => !Number.isNaN(x)).sort((a, b) => b - a);
    let thr = -Infinity;
    if (k > 0 && k < sorted.length) thr = sorted[k - 1]!;
    if (p < 1) {
      const kept = sorted.filter((x) => x >= thr);
      const m = kept[0]!;
      const w = kept.map((x) => Math.exp((x - m) * invT));
      const total = w.reduce((a, b) => a + b, 0);
      let cum = 0;
      for (let i = 0; i < kept.length; i++) {
        cum += w[i]!;
        if (cum >= p * total) {
          thr = Math.max(thr, kept[i]!);
          break;
        }
      }
    }
    row.forEach((x, v) => (out[r * vocab + v] = x >= thr ? x : -Infinity));
  }
  return out;
}

/** logits [N, V] with everything outside the top-k / top-p set replaced by −∞ (a new tensor). */
export function topKTopPMask(logits: Tensor, options: MaskOptions): Tensor {
  if (logits.rank !== 2 || logits.dtype !== 'f32') throw new Error(`topKTopPMask: logits must be f32 [N, V], got ${logits.dtype} [${logits.shape.join(', ')}]`);
  const { k, p, invT } = checkMaskOptions(options);
  const [rows, vocab] = logits.shape as [number, number];
  const backend = logits.backend;
  if (backend instanceof GpuBackend) {
    const rt = backend.rt;
    const out = rt.empty([rows, vocab]);
    rt.dispatch(maskProgram, {
      bindings: [logits.storage as GpuArray, out],
      uniforms: { rows, vocab, k, p, invT, negInf: -Infinity },
      workgroups: rt.grid(Math.ceil(rows / MASK_WORKGROUP)),
    });
    return wrap(backend, out);
  }
  const data = topKTopPMaskReference((logits.storage as CpuStorage).data, rows, vocab, options);
  return wrap(backend, { shape: [rows, vocab], data, dtype: 'f32' } satisfies CpuStorage);
}

export interface SampleOptions {
  seed: number;
  /** Philox stream; generation uses the step index, so steps draw independent noise. */
  offset: number;
  /** softmax(logits / temperature); 0 = argmax (ties to the smallest id). */
  temperature: number;
}

/**
 * One token id per row of logits [N, V] → i32 [N], by Gumbel-max with Philox noise keyed by
 * (seed, offset, row): the same arguments give the same ids. −1 marks a row with no finite logit.
 */
export function sampleTokens(logits: Tensor, options: SampleOptions): Tensor {
  if (logits.rank !== 2) throw new Error(`sampleTokens: logits must be [N, V], got [${logits.shape.join(', ')}]`);
  checkTemperature('sampleTokens', options.temperature, { greedy: true });
  const backend = logits.backend;
  const opts = { seed: options.seed, offset: options.offset, temperature: options.temperature };
  if (backend instanceof GpuBackend) return wrap(backend, K.sampleCategorical(backend.rt, logits.storage as GpuArray, opts));
  const ids = K.sampleCategoricalReference(logits.storage as CpuStorage, opts);
  return wrap(backend, backend.upload(ids, [ids.length], 'i32'));
}
