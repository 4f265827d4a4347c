// Kernel flags force a particular variant of a kernel (for example the shared-memory fallback of a
// reduction) so that tests can run every variant on the same cases, as tfjs does with
// WEBGPU_MATMUL_PROGRAM_TYPE. Set them in code with setFlags/withFlags or from the environment:
//   REPIRL_FLAGS="matmul.variant=naive,reduce.subgroups=off"
import { readEnvList } from './env.js';

export type FlagValue = string | number | boolean;

const overrides = new Map<string, FlagValue>();

function parseValue(raw: string): FlagValue {
  if (raw === 'true' || raw === 'on') return true;
  if (raw === 'false' || raw === 'off') return false;
  const n = Number(raw);
  return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
}

for (const entry of readEnvList('REPIRL_FLAGS')) {
  const eq = entry.indexOf('=');
  if (eq <= 0) throw new Error(`REPIRL_FLAGS: entry "${entry}" must look like name=value`);
  overrides.set(entry.slice(0, eq).trim(), parseValue(entry.slice(eq + 1).trim()));
}

export function getFlag<T extends FlagValue>(name: string, fallback: T): T {
  const value = overrides.get(name);
  if (value === undefined) return fallback;
  if (typeof value !== typeof fallback) {
    throw new Error(`flag "${name}" is ${JSON.stringify(value)} but must be a ${typeof fallback}`);
  }
  return value as T;
}

export function setFlags(values: Record<string, FlagValue | undefined>): void {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) overrides.delete(name);
    else overrides.set(name, value);
  }
}

/** Runs fn with the given flags set, restoring the previous values afterwards (also on error). */
export async function withFlags<T>(values: Record<string, FlagValue>, fn: () => T | Promise<T>): Promise<T> {
  const previous: Record<string, FlagValue | undefined> = {};
  for (const name of Object.keys(values)) previous[name] = overrides.get(name);
  setFlags(values);
  try {
    return await fn();
  } finally {
    setFlags(previous);
  }
}
