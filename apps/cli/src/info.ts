// `repirl info`: what WebGPU device repirl would use here, its negotiated limits and optional
// features: the first thing to check when a run is slow or refuses to start.
import { describeHfModel, type HfModelDescription } from '@repirl/autograd';
import { Runtime, type RuntimeOptions } from '@repirl/kernels';

export interface DeviceReport {
  adapter: ReturnType<Runtime['describe']>;
  limits: Runtime['limits'];
  submitBatch: number;
}

export async function deviceReport(options: RuntimeOptions = {}): Promise<DeviceReport> {
  const rt = await Runtime.create(options);
  try {
    return { adapter: rt.describe(), limits: { ...rt.limits }, submitBatch: rt.submitBatch };
  } finally {
    rt.destroy();
  }
}

export function formatDeviceReport(report: DeviceReport): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const { adapter, limits } = report;
  return [
    `device       ${adapter.description || adapter.device} (${adapter.vendor || 'unknown vendor'}, ${adapter.architecture || 'unknown architecture'})`,
    `backend      ${adapter.backend}`,
    `features     ${adapter.features.length ? adapter.features.join(', ') : 'none (scalar fallbacks, wall-clock timing)'}`,
    `bindings     ${mib(limits.maxStorageBufferBindingSize)} per storage binding, ${mib(limits.maxBufferSize)} per buffer`,
    `workgroups   ${limits.maxComputeInvocationsPerWorkgroup} invocations, ${limits.maxComputeWorkgroupStorageSize / 1024} KiB shared memory, ${limits.maxComputeWorkgroupsPerDimension} per dimension`,
    `submit       ${report.submitBatch} dispatches per submit`,
  ].join('\n');
}

/** A Hugging Face model directory as repirl would hold it on this device (`repirl info --set model=DIR`). */
export interface ModelReport extends HfModelDescription {
  /** The largest weight tensor on the device (float32). */
  largestTensor: { name: string; bytes: number };
  /**
   * Inference and LoRA: the largest tensor fits one buffer (maxBufferSize). Operands over one
   * storage binding are read in chunks by matmul, the embedding gather and the log-probs.
   */
  fits: boolean;
  /** Full fine-tuning: the largest tensor also fits one binding, which the elementwise gradient and optimizer kernels read whole. */
  fitsFullTraining: boolean;
  /** Why not, when it does not fit (inference first, else full fine-tuning). */
  limit?: string;
  /** Device bytes with the projection matrices in f16 (loadHfModel's dtype 'f16'; needs shader-f16). */
  deviceBytesF16Weights: number;
}

export async function modelReport(dir: string, limits: DeviceReport['limits']): Promise<ModelReport> {
  const d = await describeHfModel(dir);
  const half = await describeHfModel(dir, { dtype: 'f16' });
  const c = d.config;
  const headDim = c.headDim;
  const candidates: [string, number][] = [
    ['embedding (vocab × hidden)', c.vocabSize * c.dModel],
    ['fused q/k/v projection', c.dModel * (c.nHeads + 2 * c.nKvHeads) * headDim],
    ['feed-forward gate/up', c.dModel * c.dFF * 2],
  ];
  const [name, scalars] = candidates.reduce((a, b) => (b[1] > a[1] ? b : a));
  const bytes = scalars * 4;
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const fits = bytes <= limits.maxBufferSize;
  const fitsFullTraining = fits && bytes <= limits.maxStorageBufferBindingSize;
  const limit = !fits
    ? `its ${name} (${mib(bytes)}) is over the device's ${mib(limits.maxBufferSize)} per buffer`
    : !fitsFullTraining
      ? `its ${name} (${mib(bytes)}) is over the device's ${mib(limits.maxStorageBufferBindingSize)} per binding, which full fine-tuning's elementwise gradient and optimizer kernels read whole`
      : undefined;
  return { ...d, deviceBytesF16Weights: half.deviceBytes, largestTensor: { name, bytes }, fits, fitsFullTraining, ...(limit === undefined ? {} : { limit }) };
}

export function formatModelReport(m: ModelReport): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const c = m.config;
  return [
    `model        ${m.dir}: ${m.architecture}, ${c.nLayers} layers, hidden ${c.dModel}, ${c.nHeads} heads (${c.nKvHeads} kv) × ${c.headDim}, vocab ${c.vocabSize}`,
    `parameters   ${m.parameters.toLocaleString('en-US')} (files: ${Object.entries(m.bytesByDtype).map(([dtype, b]) => `${dtype} ${mib(b)}`).join(', ')})`,
    `on device    ${mib(m.deviceBytes)} of float32 weights (${mib(m.deviceBytesF16Weights)} with the projection matrices in f16: dtype 'f16'); KV cache ${(m.kvCacheBytesPerToken / 1024).toFixed(1)} KiB per token per sequence`,
    `fits         ${!m.fits ? `no: ${m.limit}` : `yes for inference and LoRA (largest tensor: ${m.largestTensor.name}, ${mib(m.largestTensor.bytes)}); full fine-tuning: ${m.fitsFullTraining ? 'yes' : `no: ${m.limit}`}`}`,
  ].join('\n');
}
