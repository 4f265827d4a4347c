// JSONL files: one JSON object per line. Reading reports any bad line with its file and line
// number (blank lines are allowed, nothing is skipped silently); writing is atomic, so a crash or
// a bad record halfway leaves an existing file exactly as it was.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '@repirl/autograd';

/** A bad data file or record. `file` and `line` say where (line is null for a whole-file problem). */
export class DataFormatError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number | null,
    readonly field: string | null = null,
  ) {
    super(message);
    this.name = 'DataFormatError';
  }
}

/** One parsed line: the object and its 1-based line number. */
export interface JsonlLine {
  line: number;
  value: Record<string, unknown>;
}

/** The objects of a JSONL file, with their line numbers. */
export async function readJsonl(path: string): Promise<JsonlLine[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DataFormatError(`cannot read ${path}: ${(err as Error).message}`, path, null);
  }
  if (text.startsWith('\uFEFF')) text = text.slice(1); // a byte-order mark some editors add
  const lines: JsonlLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new DataFormatError(
        `${path}:${line}: invalid JSON (${(err as Error).message}); each non-blank line must be one complete JSON object`,
        path, line);
    }
    if (!isPlainObject(value)) {
      throw new DataFormatError(`${path}:${line}: the line must be a JSON object {...}, got ${jsonType(value)}`, path, line);
    }
    lines.push({ line, value });
  });
  return lines;
}

/**
 * Writes one JSON object per line, atomically (temp file beside `path`, then rename), creating
 * the parent directory if needed. Records may come from a generator; a record that is not a plain
 * object or holds something JSON cannot represent exactly (NaN, Infinity, a bigint, a function,
 * an undefined array element) aborts the write with an error naming it.
 */
export async function writeJsonl(path: string, records: Iterable<unknown> | AsyncIterable<unknown>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const encoder = new TextEncoder();
  let recordError: { error: unknown } | undefined; // a bad record, rethrown as is (not as an I/O error)
  async function* lines(): AsyncIterable<Uint8Array> {
    let index = 0;
    try {
      for await (const record of records) {
        yield encoder.encode(`${stringifyRecord(record, path, `writeJsonl(${path}): record ${index}`)}\n`);
        index++;
      }
    } catch (error) {
      recordError = { error };
      throw error;
    }
  }
  try {
    await writeFileAtomic(path, lines());
  } catch (err) {
    throw recordError !== undefined ? recordError.error : err;
  }
}

/** JSON.stringify that refuses what JSON would silently change or drop. */
function stringifyRecord(record: unknown, path: string, where: string): string {
  if (!isPlainObject(record)) throw new DataFormatError(`${where} must be a plain object, got ${jsonType(record)}`, path, null);
  return JSON.stringify(record, function (this: unknown, key: string, value: unknown) {
    const field = Array.isArray(this) ? `element ${key}` : `field "${key}"`;
    const fail = (why: string) => new DataFormatError(`${where}: ${field} ${why}`, path, null, key);
    if (typeof value === 'number' && !Number.isFinite(value)) throw fail(`is ${value}, which JSON cannot hold; use a finite number or null`);
    if (typeof value === 'bigint') throw fail('is a bigint; convert it to a number or a string');
    if (typeof value === 'function' || typeof value === 'symbol') throw fail(`is a ${typeof value}, which JSON cannot hold`);
    if (value === undefined && Array.isArray(this)) throw fail('is undefined; use null or remove it');
    return value;
  });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The JSON type of a value, for messages: "string", "number", "array", "null", ... */
export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
