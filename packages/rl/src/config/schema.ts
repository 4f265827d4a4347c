// A small schema language for experiment configs: each key has a type, a default and a one-line
// doc, so one declaration gives the defaults, the validation (with messages that name the key, the
// value and what is allowed), the `--set` paths and the `repirl config <command>` listing.
//
//   const schema = s.object('what the config is', {
//     steps: s.number('optimizer steps', { default: 100, min: 1, integer: true }),
//     norm: s.enum('normalisation layer', ['rms', 'layer'], { default: 'rms' }),
//     path: s.optional(s.string('a JSONL file')),          // null unless given
//   });
//   type Config = Infer<typeof schema>;                   // { steps: number; norm: 'rms' | 'layer'; path: string | null }
//
// A leaf without a default is required. Objects take their defaults from their fields; `check`
// on an object adds cross-field rules, run only once the object's own fields are valid.

/**
 * One problem found in a config, at a dotted key path ('' is the whole config). A 'note' is not a
 * problem: the config is used as it is and the note is printed (e.g. a warmup longer than the run).
 */
export interface Issue {
  path: string;
  message: string;
  level?: 'error' | 'note';
}

interface Base<T> {
  readonly doc: string;
  readonly default?: T;
  /** Phantom: carries the value type for `Infer`. */
  readonly __type?: T;
}

export interface NumberSchema extends Base<number> {
  readonly kind: 'number';
  readonly min?: number;
  readonly max?: number;
  /** The minimum itself is not allowed (e.g. a learning rate > 0). */
  readonly minExclusive?: boolean;
  readonly integer?: boolean;
}

export interface StringSchema extends Base<string> {
  readonly kind: 'string';
  /** The empty string is not allowed. */
  readonly nonEmpty?: boolean;
}

export interface EnumSchema<V extends string = string> extends Base<V> {
  readonly kind: 'enum';
  readonly values: readonly V[];
}

export interface BooleanSchema extends Base<boolean> {
  readonly kind: 'boolean';
}

export interface ArraySchema<I extends Schema = Schema> extends Base<Infer<I>[]> {
  readonly kind: 'array';
  readonly items: I;
  readonly minItems?: number;
  readonly maxItems?: number;
}

/** An object with free keys, all of one value type (e.g. a task's difficulty knobs). */
export interface RecordSchema<I extends Schema = Schema> extends Base<Record<string, Infer<I>>> {
  readonly kind: 'record';
  readonly values: I;
  /** Also validates the keys (after the values): returns issues relative to this record. */
  check?(value: Record<string, Infer<I>>, root: unknown): Issue[];
}

/** `null` or the inner type; the default is null unless given. */
export interface OptionalSchema<I extends Schema = Schema> extends Base<Infer<I> | null> {
  readonly kind: 'optional';
  readonly inner: I;
}

export type Fields = Record<string, Schema>;
export type InferFields<F extends Fields> = { [K in keyof F]: Infer<F[K]> };

export interface ObjectSchema<F extends Fields = Fields> extends Base<InferFields<F>> {
  readonly kind: 'object';
  readonly fields: F;
  /**
   * Cross-field rules on a valid object. `root` is the whole config (for rules that read
   * elsewhere). Issue paths are relative to this object ('' = the object itself).
   */
  check?(value: InferFields<F>, root: unknown): Issue[];
}

export type Schema =
  | NumberSchema
  | StringSchema
  | EnumSchema<string>
  | BooleanSchema
  | ArraySchema<any>
  | RecordSchema<any>
  | OptionalSchema<any>
  | ObjectSchema<any>;

export type Infer<S> = S extends Base<infer T> ? T : never;

interface LeafOptions<T> {
  default?: T;
}

/** The builders. */
export const s = {
  number(doc: string, options: LeafOptions<number> & { min?: number; max?: number; minExclusive?: boolean; integer?: boolean } = {}): NumberSchema {
    return { kind: 'number', doc, ...options };
  },
  integer(doc: string, options: LeafOptions<number> & { min?: number; max?: number } = {}): NumberSchema {
    return { kind: 'number', doc, integer: true, ...options };
  },
  string(doc: string, options: LeafOptions<string> & { nonEmpty?: boolean } = {}): StringSchema {
    return { kind: 'string', doc, ...options };
  },
  enum<const V extends string>(doc: string, values: readonly V[], options: LeafOptions<NoInfer<V>> = {}): EnumSchema<V> {
    return { kind: 'enum', doc, values, ...options };
  },
  boolean(doc: string, options: LeafOptions<boolean> = {}): BooleanSchema {
    return { kind: 'boolean', doc, ...options };
  },
  array<I extends Schema>(doc: string, items: I, options: LeafOptions<Infer<I>[]> & { minItems?: number; maxItems?: number } = {}): ArraySchema<I> {
    return { kind: 'array', doc, items, ...options };
  },
  record<I extends Schema>(
    doc: string,
    values: I,
    options: LeafOptions<Record<string, Infer<I>>> & { check?: (value: Record<string, Infer<I>>, root: unknown) => Issue[] } = {},
  ): RecordSchema<I> {
    return { kind: 'record', doc, values, ...options };
  },
  optional<I extends Schema>(inner: I, options: { doc?: string; default?: Infer<I> | null } = {}): OptionalSchema<I> {
    return { kind: 'optional', inner, doc: options.doc ?? inner.doc, default: options.default === undefined ? null : options.default };
  },
  object<F extends Fields>(doc: string, fields: F, options: { check?: (value: InferFields<F>, root: unknown) => Issue[] } = {}): ObjectSchema<F> {
    return { kind: 'object', doc, fields, ...options };
  },
};

/**
 * `schema` with other defaults at dotted paths (e.g. a learner's RL settings over the trainer's):
 * the keys keep their names, docs and validators; only what they default to changes. A path that
 * is not a leaf of the schema is a programming error and throws.
 */
export function withDefaults<S extends ObjectSchema>(schema: S, defaults: Record<string, unknown>): S {
  let out: ObjectSchema = schema;
  for (const [path, value] of Object.entries(defaults)) out = setDefault(out, path.split('.'), value, path);
  return out as S;
}

function setDefault(schema: ObjectSchema, path: readonly string[], value: unknown, full: string): ObjectSchema {
  const [head, ...rest] = path;
  const field = Object.hasOwn(schema.fields, head!) ? (schema.fields as Fields)[head!] : undefined;
  if (field === undefined) throw new Error(`withDefaults: "${full}" is not a key of the schema`);
  let next: Schema;
  if (rest.length === 0) {
    if (field.kind === 'object') throw new Error(`withDefaults: "${full}" is a section, not a key`);
    const issues = validate(field, value);
    if (issues.length > 0) throw new Error(`withDefaults: ${JSON.stringify(value)} is not a valid default of "${full}": ${issues[0]!.message}`);
    next = { ...field, default: value } as Schema;
  } else {
    if (field.kind !== 'object') throw new Error(`withDefaults: "${full}" goes through a key that is not a section`);
    next = setDefault(field, rest, value, full);
  }
  return { ...schema, fields: { ...schema.fields, [head!]: next } };
}

/** An object schema with more fields (or fields replaced), keeping its doc and cross-field check. */
export function extend<F extends Fields, G extends Fields>(schema: ObjectSchema<F>, fields: G, doc = schema.doc): ObjectSchema<Omit<F, keyof G> & G> {
  return { ...schema, doc, fields: { ...schema.fields, ...fields } } as unknown as ObjectSchema<Omit<F, keyof G> & G>;
}

/**
 * The part of a (valid) config that `schema` declares: what a command hands to the trainer whose
 * schema it extended (the trainer then validates it again under the same names).
 */
export function only<S extends ObjectSchema>(schema: S, value: unknown): Infer<S> {
  const out: Record<string, unknown> = {};
  if (!isPlainObject(value)) return out as Infer<S>;
  for (const [key, field] of Object.entries(schema.fields as Fields)) {
    if (value[key] === undefined) continue;
    out[key] = field.kind === 'object' ? only(field, value[key]) : value[key];
  }
  return out as Infer<S>;
}

// ---------------------------------------------------------------------------------------------
// Defaults

/** The default value of a schema; `undefined` when it is required (or holds a required key). */
export function defaultsOf(schema: Schema): unknown {
  if (schema.kind === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(schema.fields as Fields)) {
      const value = defaultsOf(field);
      if (value !== undefined) out[key] = value;
    }
    return out;
  }
  return schema.default === undefined ? undefined : structuredClone(schema.default);
}

// ---------------------------------------------------------------------------------------------
// Validation

/** Every problem with `value`, in key order; [] when it is valid. */
export function validate(schema: Schema, value: unknown, root: unknown = value, path = ''): Issue[] {
  switch (schema.kind) {
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return [typeIssue(path, value, describeNumber(schema))];
      if (schema.integer === true && !Number.isInteger(value)) {
        return [{ path, message: `${formatValue(value)} is not an integer: must be ${describeNumber(schema)}` }];
      }
      const bad =
        (schema.min !== undefined && (schema.minExclusive ? value <= schema.min : value < schema.min)) ||
        (schema.max !== undefined && value > schema.max);
      if (bad) return [{ path, message: `${formatValue(value)} is out of range: must be ${describeNumber(schema)}` }];
      return [];
    }
    case 'string':
      if (typeof value !== 'string') return [typeIssue(path, value, 'a string')];
      if (schema.nonEmpty && value === '') return [{ path, message: 'must not be empty' }];
      return [];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [typeIssue(path, value, 'true or false')];
    case 'enum': {
      if (typeof value === 'string' && schema.values.includes(value)) return [];
      const hint = typeof value === 'string' ? didYouMean(value, schema.values) : '';
      return [{ path, message: `${formatValue(value)} is not one of ${schema.values.map((v) => JSON.stringify(v)).join(', ')}${hint}` }];
    }
    case 'optional':
      return value === null ? [] : validate(schema.inner, value, root, path);
    case 'array': {
      if (!Array.isArray(value)) return [typeIssue(path, value, `an array of ${describe(schema.items)}`)];
      const issues: Issue[] = [];
      if (schema.minItems !== undefined && value.length < schema.minItems) {
        issues.push({ path, message: `has ${value.length} items; at least ${schema.minItems} needed` });
      }
      if (schema.maxItems !== undefined && value.length > schema.maxItems) {
        issues.push({ path, message: `has ${value.length} items; at most ${schema.maxItems} allowed` });
      }
      value.forEach((item, i) => issues.push(...validate(schema.items, item, root, `${path}[${i}]`)));
      return issues;
    }
    case 'record': {
      if (!isPlainObject(value)) return [typeIssue(path, value, describe(schema))];
      const issues: Issue[] = [];
      for (const [key, item] of Object.entries(value)) issues.push(...validate(schema.values, item, root, join(path, key)));
      if (!issues.some(isError) && schema.check) issues.push(...relative(path, schema.check(value, root)));
      return issues;
    }
    case 'object': {
      if (!isPlainObject(value)) return [typeIssue(path, value, 'an object')];
      const fields = schema.fields as Fields;
      const issues: Issue[] = [];
      for (const key of Object.keys(value)) {
        if (!Object.hasOwn(fields, key)) issues.push(unknownKeyIssue(schema, path, key));
      }
      for (const [key, field] of Object.entries(fields)) {
        const keyPath = join(path, key);
        if (value[key] === undefined) {
          if (field.kind !== 'optional') issues.push({ path: keyPath, message: `is required (${field.doc})` });
          continue;
        }
        issues.push(...validate(field, value[key], root, keyPath));
      }
      if (!issues.some(isError) && schema.check) issues.push(...relative(path, schema.check(value as never, root)));
      return issues;
    }
  }
}

/** Whether an issue stops the config from being used (everything but a note). */
export const isError = (issue: Issue): boolean => issue.level !== 'note';

function unknownKeyIssue(schema: ObjectSchema, path: string, key: string): Issue {
  return { path: join(path, key), message: unknownKeyMessage(schema, path, key, 'unknown key') };
}

/**
 * "unknown key (did you mean "dModel"?); valid keys in "model": ...". A key given at the wrong
 * level ("lr" for "train.lr") gets its full path suggested.
 */
export function unknownKeyMessage(schema: ObjectSchema, path: string, key: string, lead: string): string {
  const keys = Object.keys(schema.fields);
  let hint = didYouMean(key, keys);
  if (hint === '') {
    const elsewhere = leafPaths(schema).filter((p) => p.split('.').at(-1) === key);
    if (elsewhere.length > 0) hint = ` (did you mean ${elsewhere.map((p) => JSON.stringify(join(path, p))).join(' or ')}?)`;
  }
  return `${lead}${hint}; valid keys${path === '' ? '' : ` in "${path}"`}: ${keys.join(', ')}`;
}

function typeIssue(path: string, value: unknown, expected: string): Issue {
  return { path, message: `expected ${expected}, got ${formatValue(value)} (${typeName(value)})` };
}

function relative(path: string, issues: Issue[]): Issue[] {
  return issues.map((issue) => ({ ...issue, path: join(path, issue.path) }));
}

// ---------------------------------------------------------------------------------------------
// Walking and describing

/** The schema at a dotted path, or null; records accept any key. Optionals are unwrapped. */
export function schemaAt(schema: Schema, path: readonly string[]): Schema | null {
  let current: Schema = schema;
  for (const segment of path) {
    current = unwrap(current);
    if (current.kind === 'object') {
      const next = (current.fields as Fields)[segment];
      if (next === undefined || !Object.hasOwn(current.fields, segment)) return null;
      current = next;
    } else if (current.kind === 'record') {
      current = current.values;
    } else {
      return null;
    }
  }
  return current;
}

export function unwrap(schema: Schema): Schema {
  return schema.kind === 'optional' ? unwrap(schema.inner) : schema;
}

/** Dotted paths of every leaf (records count as leaves), in declaration order. */
export function leafPaths(schema: Schema, prefix = ''): string[] {
  if (schema.kind !== 'object') return [prefix];
  return Object.entries(schema.fields as Fields).flatMap(([key, field]) => leafPaths(field, join(prefix, key)));
}

/** What a schema accepts, in words: "an integer in [1, 64]", "one of "rms", "layer"". */
export function describe(schema: Schema): string {
  switch (schema.kind) {
    case 'number':
      return describeNumber(schema);
    case 'string':
      return schema.nonEmpty ? 'a non-empty string' : 'a string';
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${schema.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'optional':
      return `${describe(schema.inner)}, or null`;
    case 'array':
      return `an array of ${describe(schema.items)}`;
    case 'record':
      return `an object whose values are each ${describe(schema.values)}`;
    case 'object':
      return 'an object';
  }
}

function describeNumber(schema: NumberSchema): string {
  const what = schema.integer ? 'an integer' : 'a number';
  const { min, max } = schema;
  if (min !== undefined && max !== undefined) return `${what} in ${schema.minExclusive ? '(' : '['}${formatValue(min)}, ${formatValue(max)}]`;
  if (min !== undefined) return `${what} ${schema.minExclusive ? '>' : '≥'} ${formatValue(min)}`;
  if (max !== undefined) return `${what} ≤ ${formatValue(max)}`;
  return what;
}

// ---------------------------------------------------------------------------------------------
// Small helpers shared by the loader

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function join(path: string, key: string): string {
  if (path === '') return key;
  if (key === '') return path;
  return `${path}.${key}`;
}

/** A value as it appears in messages: JSON, shortened. */
export function formatValue(value: unknown): string {
  let text: string;
  if (value === undefined) text = 'nothing';
  else if (typeof value === 'number' && !Number.isFinite(value)) text = String(value);
  else text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && !Number.isFinite(value)) return 'not a finite number';
  const t = typeof value;
  return t === 'object' ? 'an object' : `a ${t}`;
}

/**
 * Edit distance with adjacent transpositions (optimal string alignment), case-insensitive:
 * "trian" is one edit from "train".
 */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[x.length]![y.length]!;
}

/** The closest candidates to `word` that are close enough to be a typo (best first). */
export function closest(word: string, candidates: readonly string[]): string[] {
  const limit = Math.max(1, Math.floor(word.length / 3));
  const scored = candidates
    .map((c) => ({ c, d: editDistance(word, c) }))
    .filter(({ c, d }) => d <= limit || (word.length >= 3 && c.toLowerCase().startsWith(word.toLowerCase())));
  if (scored.length === 0) return [];
  const best = Math.min(...scored.map((x) => x.d));
  return scored.filter((x) => x.d === best).map((x) => x.c);
}

/** ' (did you mean "x"?)' or ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const best = closest(word, candidates);
  if (best.length === 0) return '';
  return ` (did you mean ${best.map((c) => JSON.stringify(c)).join(' or ')}?)`;
}
