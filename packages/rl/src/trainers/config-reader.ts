// Reading a user's (partial) config section against its defaults, with errors that name the full
// key path and the allowed values, e.g.
//   rl.actor.aggregation must be one of token-mean, seq-mean-token-sum, …; got "token_mean"
//   rl.actor.lrr is not a config key; the keys of rl.actor are lr, schedule, …
// Configs are plain JSON (the CLI reads them from files and --set overrides); every value is
// checked, and unknown keys are errors rather than silently ignored typos.

export class ConfigError extends Error {
  constructor(
    /** The full dotted key, e.g. "rl.actor.lr". */
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

interface NumberRule {
  min?: number;
  /** The value must be strictly greater than min. */
  above?: number;
  max?: number;
  integer?: boolean;
}

/** Reads one section: each read() consumes a key; done() rejects the keys nobody read. */
export class SectionReader {
  private readonly input: Record<string, unknown>;
  private readonly read = new Set<string>();

  constructor(
    input: unknown,
    /** Dotted path of this section, '' for the root (or the CLI's prefix, e.g. 'rl'). */
    readonly path: string,
  ) {
    if (input === undefined || input === null) this.input = {};
    else if (typeof input === 'object' && !Array.isArray(input)) this.input = input as Record<string, unknown>;
    else throw new ConfigError(path, `${path || 'the config'} must be an object of settings, got ${JSON.stringify(input)}`);
  }

  key(name: string): string {
    return this.path ? `${this.path}.${name}` : name;
  }

  private take(name: string): unknown {
    this.read.add(name);
    return this.input[name];
  }

  number(name: string, fallback: number, rule: NumberRule = {}): number {
    const value = this.take(name);
    return value === undefined ? fallback : checkNumber(this.key(name), value, rule);
  }

  int(name: string, fallback: number, rule: Omit<NumberRule, 'integer'> = {}): number {
    return this.number(name, fallback, { ...rule, integer: true });
  }

  /** A number, or null meaning "off". */
  nullableNumber(name: string, fallback: number | null, rule: NumberRule, offMeaning: string): number | null {
    const value = this.take(name);
    if (value === undefined) return fallback;
    if (value === null) return null;
    return checkNumber(this.key(name), value, rule, ` (or null: ${offMeaning})`);
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.take(name);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw new ConfigError(this.key(name), `${this.key(name)} must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const value = this.take(name);
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      throw new ConfigError(this.key(name), `${this.key(name)} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
    }
    return value as T;
  }

  /** A nested section (an object, or absent). */
  section(name: string): SectionReader {
    return new SectionReader(this.take(name), this.key(name));
  }

  /** Whether the user gave `name` (before or after reading it). */
  has(name: string): boolean {
    return this.input[name] !== undefined;
  }

  /** Throws for any key that no read() consumed. */
  done(): void {
    for (const name of Object.keys(this.input)) {
      if (!this.read.has(name)) {
        const where = this.path ? `the keys of ${this.path}` : 'the top-level keys';
        throw new ConfigError(this.key(name), `${this.key(name)} is not a config key; ${where} are ${[...this.read].join(', ')}`);
      }
    }
  }
}

function checkNumber(key: string, value: unknown, rule: NumberRule, suffix = ''): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!rule.integer || Number.isInteger(value)) &&
    (rule.min === undefined || value >= rule.min) &&
    (rule.above === undefined || value > rule.above) &&
    (rule.max === undefined || value <= rule.max);
  if (!ok) throw new ConfigError(key, `${key} must be ${describeRule(rule)}${suffix}, got ${JSON.stringify(value)}`);
  return value as number;
}

/** "an integer ≥ 1", "a number > 0 and ≤ 1", … */
function describeRule(rule: NumberRule): string {
  const bounds: string[] = [];
  if (rule.above !== undefined) bounds.push(`> ${rule.above}`);
  if (rule.min !== undefined) bounds.push(`≥ ${rule.min}`);
  if (rule.max !== undefined) bounds.push(`≤ ${rule.max}`);
  return [rule.integer ? 'an integer' : 'a number', bounds.join(' and ')].filter(Boolean).join(' ');
}
