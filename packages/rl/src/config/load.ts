// Resolving a config: the schema's defaults, then a JSON file merged over them, then `--set`
// overrides, then validation. Every problem is reported at once, each naming the key, the value,
// what is allowed, and where the value came from (the file or the --set).
//
// Merging: objects and records merge key by key; everything else (numbers, strings, arrays, null)
// replaces. A key "//" in any object of a file is a comment and is dropped.
//
// `--set a.b=c`: the path must exist in the schema (records accept any key). The value is parsed
// as JSON when possible, else taken as text (`--set task.name=add-carry`); where the key holds a
// string, text that parses as a non-string JSON value stays text (`--set data.path=123`).
// An object value merges into the object at that key (`--set 'train={"lr":0.01,"steps":50}'`).
import { readFile } from 'node:fs/promises';
import {
  didYouMean, formatValue, unknownKeyMessage, isError, isPlainObject, join, defaultsOf, schemaAt, unwrap, validate, type Fields, type Issue,
  type ObjectSchema, type Schema,
} from './schema.js';

/** A config that cannot be used: every issue, each with where its value came from. */
export class ConfigError extends Error {
  constructor(
    readonly issues: readonly (Issue & { origin?: string })[],
    readonly context = 'invalid config',
  ) {
    super(formatIssues(context, issues));
    this.name = 'ConfigError';
  }
}

function formatIssues(context: string, issues: readonly (Issue & { origin?: string })[]): string {
  const lines = issues.map((i) => `  ${i.path === '' ? '' : `${i.path}: `}${i.message}${i.origin ? ` [from ${i.origin}]` : ''}`);
  return issues.length === 1 ? `${context}: ${lines[0]!.trim()}` : `${context} (${issues.length} problems):\n${lines.join('\n')}`;
}

export interface ConfigSources {
  /** A parsed config file (already JSON-decoded) and its name for messages. */
  file?: { value: unknown; name: string };
  /** `key.path=value` strings, applied in order. */
  sets?: readonly string[];
  /** Receives the notes of a valid config ("key: message"), e.g. a warmup longer than the run. */
  notes?: string[];
}

/**
 * The value a user gave at a dotted path (the last --set naming it, else the file), before any
 * validation; `origin` says where it came from, for messages.
 */
export type Given = ((path: string) => unknown) & { origin?: (path: string) => string | undefined };

/**
 * A config's schema, or a function that picks it from a key the user gave: an RL config's
 * defaults depend on its `algorithm`, a PRM config's on its `method`. Read such keys with choose().
 */
export type SchemaSource = ObjectSchema | ((given: Given) => ObjectSchema);

/** The schema `source` stands for under these sources. */
export function schemaOf(source: SchemaSource, sources: ConfigSources = {}): ObjectSchema {
  return typeof source === 'function' ? source(givenIn(sources)) : source;
}

/** The choice at `path` (one of `values`; `fallback` when not given), or a ConfigError naming the key. */
export function choose<const V extends string>(given: Given, path: string, values: readonly V[], fallback: NoInfer<V>): V {
  const value = given(path);
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (values as readonly string[]).includes(value)) return value as V;
  const hint = typeof value === 'string' ? didYouMean(value, values) : '';
  const origin = given.origin?.(path);
  throw new ConfigError([{ path, message: `${formatValue(value)} is not one of ${values.map((v) => JSON.stringify(v)).join(', ')}${hint}`, ...(origin ? { origin } : {}) }]);
}

function givenIn(sources: ConfigSources): Given {
  const file = sources.file === undefined ? undefined : stripComments(sources.file.value);
  const lookup = (path: string): { value: unknown; origin: string } | undefined => {
    for (const text of [...(sources.sets ?? [])].reverse()) {
      const eq = text.indexOf('=');
      if (eq === -1) continue;
      const key = text.slice(0, eq).trim();
      if (key !== path && !path.startsWith(`${key}.`)) continue;
      const value = jsonOrText(text.slice(eq + 1));
      const inner = key === path ? value : valueAt(value, path.slice(key.length + 1));
      if (inner !== undefined) return { value: inner, origin: `--set ${text}` };
    }
    const value = valueAt(file, path);
    return value === undefined ? undefined : { value, origin: sources.file!.name };
  };
  return Object.assign((path: string) => lookup(path)?.value, { origin: (path: string) => lookup(path)?.origin });
}

/** Defaults ← file ← sets, validated. Throws ConfigError listing every problem. */
export function resolveConfig<T>(source: SchemaSource, sources: ConfigSources = {}): T {
  const schema = schemaOf(source, sources);
  const origins = new Map<string, string>();
  let config = defaultsOf(schema) as Record<string, unknown>;

  if (sources.file !== undefined) {
    const { value, name } = sources.file;
    if (!isPlainObject(value)) {
      throw new ConfigError([{ path: '', message: `the file must hold a JSON object, got ${formatValue(value)}` }], name);
    }
    const clean = stripComments(value) as Record<string, unknown>;
    recordOrigins(clean, '', name, origins);
    config = merge(config, clean) as Record<string, unknown>;
  }

  const setIssues: (Issue & { origin?: string })[] = [];
  for (const text of sources.sets ?? []) {
    try {
      const { path, value } = parseSet(schema, text);
      config = setAt(schema, config, path, value) as Record<string, unknown>;
      recordOrigins(value, path.join('.'), `--set ${text}`, origins);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      setIssues.push(...err.issues);
    }
  }
  if (setIssues.length > 0) throw new ConfigError(setIssues, 'invalid --set');

  const all = validate(schema, config).map((issue) => ({ ...issue, origin: originOf(issue.path, origins) }));
  const issues = all.filter(isError);
  if (issues.length > 0) throw new ConfigError(issues);
  for (const note of all) sources.notes?.push(`${note.path === '' ? '' : `${note.path}: `}${note.message}`);
  return config as T;
}

/** Reads and parses a JSON config file; syntax errors name the line and column. */
export async function readConfigFile(path: string): Promise<{ value: unknown; name: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new ConfigError([{ path: '', message: `cannot read the config file: ${why}` }], path);
  }
  return { value: parseJsonText(text, path), name: path };
}

/** JSON.parse with the position turned into line:column. */
export function parseJsonText(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    let message = (err as Error).message;
    const m = /at position (\d+)/.exec(message);
    if (m && !/line \d+/.test(message)) {
      const before = text.slice(0, Number(m[1]));
      const line = before.split('\n').length;
      const column = Number(m[1]) - before.lastIndexOf('\n');
      message = `${message} (line ${line} column ${column})`;
    }
    throw new ConfigError([{ path: '', message: `invalid JSON: ${message}` }], name);
  }
}

// ---------------------------------------------------------------------------------------------
// --set

/** Parses `key.path=value` against the schema; throws ConfigError for a malformed or unknown key. */
export function parseSet(schema: ObjectSchema, text: string): { path: string[]; value: unknown } {
  const origin = `--set ${text}`;
  const eq = text.indexOf('=');
  const malformed = (why: string) =>
    new ConfigError([{ path: '', message: `malformed --set ${JSON.stringify(text)}: ${why}; expected key.path=value, e.g. --set steps=100` }], 'invalid --set');
  if (eq === -1) throw malformed('no "="');
  const key = text.slice(0, eq).trim();
  if (key === '') throw malformed('no key before "="');
  const path = key.split('.');
  if (path.some((p) => p === '')) throw malformed(`empty segment in the key "${key}"`);

  // Walk the schema to find the target, with a precise error at the first bad segment.
  let current: Schema = schema;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    const here = path.slice(0, i).join('.');
    const node = unwrap(current);
    if (node.kind === 'object') {
      const fields = node.fields as Fields;
      if (!Object.hasOwn(fields, segment)) {
        throw new ConfigError([{ path: key, message: unknownKeyMessage(node, here, segment, `unknown key "${segment}"`), origin }], 'invalid --set');
      }
      current = fields[segment]!;
    } else if (node.kind === 'record') {
      current = node.values;
    } else {
      throw new ConfigError([{ path: key, message: `"${here}" is ${describeKind(node)}, it has no key "${segment}"`, origin }], 'invalid --set');
    }
  }

  const raw = text.slice(eq + 1);
  let value = jsonOrText(raw);
  const target = unwrap(current);
  if ((target.kind === 'string' || target.kind === 'enum') && typeof value !== 'string' && !(value === null && current.kind === 'optional')) {
    value = raw;
  }
  return { path, value };
}

/** A --set value: JSON when it parses, else the text itself (`--set task.name=add-carry`). */
function jsonOrText(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function describeKind(schema: Schema): string {
  switch (schema.kind) {
    case 'number':
      return schema.integer ? 'an integer' : 'a number';
    case 'array':
      return 'an array (set it whole, e.g. key=[1,2])';
    case 'enum':
      return 'a choice';
    default:
      return `a ${schema.kind}`;
  }
}

/** `config` with `value` merged in at `path` (objects merge, everything else replaces). */
function setAt(schema: Schema, config: unknown, path: readonly string[], value: unknown): unknown {
  if (path.length === 0) return merge(config, value);
  const [head, ...rest] = path;
  const base = isPlainObject(config) ? config : {};
  const child = schemaAt(schema, [head!]) ?? schema;
  return { ...base, [head!]: setAt(child, base[head!], rest, value) };
}

// ---------------------------------------------------------------------------------------------
// Merging and origins

/** `over` merged onto `base`: plain objects key by key, anything else replaces. */
export function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return structuredClone(over);
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = key in base ? merge(base[key], value) : structuredClone(value);
  return out;
}

function stripComments(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripComments);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (key !== '//') out[key] = stripComments(v);
  return out;
}

function recordOrigins(value: unknown, path: string, origin: string, origins: Map<string, string>): void {
  origins.set(path, origin);
  if (isPlainObject(value)) for (const [key, v] of Object.entries(value)) recordOrigins(v, join(path, key), origin, origins);
}

/** Where the value at `path` came from: the longest recorded prefix (array items count as their array). */
function originOf(path: string, origins: Map<string, string>): string | undefined {
  let p = path.replace(/\[\d+\]/g, '');
  for (;;) {
    const origin = origins.get(p);
    if (origin !== undefined) return origin;
    if (p === '') return undefined;
    const dot = p.lastIndexOf('.');
    p = dot === -1 ? '' : p.slice(0, dot);
  }
}

/**
 * The dotted paths where two configs differ (leaf by leaf; arrays compare whole), for the
 * resume check.
 */
export function configDiff(a: unknown, b: unknown, path = ''): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((key) => configDiff(a[key], b[key], join(path, key)));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

/** The value at a dotted path, or undefined. */
export function valueAt(config: unknown, path: string): unknown {
  let current = config;
  for (const segment of path === '' ? [] : path.split('.')) {
    if (!isPlainObject(current)) return undefined;
    current = current[segment];
  }
  return current;
}
