// `repirl info`: what WebGPU device repirl would use here, its negotiated limits and optional
// features: the first thing to check when a run is slow or refuses to start.
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
