// A small option parser: `--name value`, `--name=value`, boolean flags, repeatable options, and
// positionals; unknown options are errors that list the allowed ones (with a did-you-mean).
import { didYouMean } from '@repirl/rl';
import { UsageError } from './io.js';

export interface OptionSpec {
  /** Without dashes: 'config'. */
  name: string;
  /** flag: no value; value: one value (the last one wins); list: repeatable. */
  kind: 'flag' | 'value' | 'list';
  /** A one-letter alias without the dash: 'h'. */
  short?: string;
}

export interface ParsedOptions {
  flags: Set<string>;
  values: Map<string, string>;
  lists: Map<string, string[]>;
  positionals: string[];
}

export function parseOptions(command: string, argv: readonly string[], specs: readonly OptionSpec[]): ParsedOptions {
  const out: ParsedOptions = { flags: new Set(), values: new Map(), lists: new Map(), positionals: [] };
  const allowed = specs.map((s) => `--${s.name}`);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq === -1 ? undefined : eq) : arg.slice(1, eq === -1 ? undefined : eq);
    const spec = arg.startsWith('--') ? specs.find((s) => s.name === name) : specs.find((s) => s.short === name);
    if (spec === undefined) {
      const shown = eq === -1 ? arg : arg.slice(0, eq);
      throw new UsageError(`${command}: unknown option "${shown}"${didYouMean(`--${name}`, allowed)} (allowed: ${allowed.join(', ')})`);
    }
    if (spec.kind === 'flag') {
      if (eq !== -1) throw new UsageError(`${command}: option --${spec.name} takes no value (got "${arg}")`);
      out.flags.add(spec.name);
      continue;
    }
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`${command}: option --${spec.name} needs a value`);
      value = next;
      i++;
    }
    if (spec.kind === 'value') out.values.set(spec.name, value);
    else out.lists.set(spec.name, [...(out.lists.get(spec.name) ?? []), value]);
  }
  return out;
}

/** A non-negative integer option, or the default. */
export function integerOption(command: string, parsed: ParsedOptions, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const text = parsed.values.get(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value > max) {
    throw new UsageError(`${command}: --${name} must be an integer in [0, ${max}], got "${text}"`);
  }
  return value;
}
