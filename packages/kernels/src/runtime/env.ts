// Reads configuration from the environment without importing anything Node-specific, so the same
// kernel code runs in browsers (where `process` does not exist and every lookup returns undefined).
export function readEnv(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const value = proc?.env?.[name];
  return value === undefined || value === '' ? undefined : value;
}

/** Comma-separated list from an environment variable ("a, b" → ["a", "b"]). */
export function readEnvList(name: string): string[] {
  return (readEnv(name) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
