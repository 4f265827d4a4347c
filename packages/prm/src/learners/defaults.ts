// A learner's defaults under a user's partial config: how the factories apply each method's RL
// settings (PRIME's accuracy filter and RLOO estimator, AIRL-S's GRPO, …) before resolveRlConfig
// checks every key.

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** `defaults` with `input` laid over it, section by section (input wins; non-objects replace). */
export function withDefaults(defaults: Record<string, unknown>, input: unknown): Record<string, unknown> {
  if (!isObject(input)) return { ...defaults };
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(input)) {
    const d = defaults[k];
    out[k] = isObject(d) && isObject(v) ? withDefaults(d, v) : v;
  }
  return out;
}
