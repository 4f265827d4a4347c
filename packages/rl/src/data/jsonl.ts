// JSONL files: one JSON object per line. Reading reports any bad line with its file and line
// number (blank lines are allowed, nothing is skipped silently); writing is atomic, so a crash or
// a bad record halfway leaves an existing file exactly as it was.
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '@repirl/autograd';

/**
 * A bad data file or record. `file` and `line` say where (line is null for a whole-file problem
 * and for Parquet, whose records are located by `row`, the 0-based row index in the file).
 */
export class DataFormatError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number | null,
    readonly field: string | null = null,
    readonly row: number | null = null,
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
  const lines: JsonlLine[] = [];
  for (const { line, text } of jsonlTextLines(path, await readBytes(path))) {
    if (text.trim() !== '') lines.push({ line, value: parseJsonlLine(path, line, text) });
  }
  return lines;
}

/**
 * What a JSONL data file holds, judged by its first record: 'trajectories' when it has a
 * "response" field, 'problems' otherwise, null when the file has no records. Reads and parses
 * only up to the first non-blank line (a leading byte-order mark is skipped; a bad first line is
 * reported as readJsonl would). The loaders then check every line.
 */
export async function jsonlKind(path: string): Promise<'problems' | 'trajectories' | null> {
  for (const { line, text } of jsonlTextLines(path, await readBytes(path))) {
    if (text.trim() === '') continue;
    return 'response' in parseJsonlLine(path, line, text) ? 'trajectories' : 'problems';
  }
  return null;
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new DataFormatError(`cannot read ${path}: ${(err as Error).message}`, path, null);
  }
}

const NEWLINE = 0x0a;
// UTF-8 is checked line by line, so a bad byte is reported at its line instead of silently
// becoming U+FFFD (what readFile(path, 'utf8') does) and being trained on.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The lines of a file as text, 1-based, after a leading UTF-8 byte-order mark (some editors add one). */
function* jsonlTextLines(path: string, bytes: Uint8Array): Iterable<{ line: number; text: string }> {
  let start = hasBom(bytes) ? 3 : 0;
  for (let line = 1; start <= bytes.length; line++) {
    let end = bytes.indexOf(NEWLINE, start);
    if (end < 0) end = bytes.length;
    yield { line, text: decodeLine(path, line, bytes.subarray(start, end)) };
    start = end + 1;
  }
}

function hasBom(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/** One line's bytes as text, or a DataFormatError naming the file, the line and the bad byte. */
function decodeLine(path: string, line: number, raw: Uint8Array): string {
  try {
    return utf8.decode(raw);
  } catch {
    const at = Math.max(0, firstInvalidUtf8(raw));
    throw new DataFormatError(
      `${path}:${line}: invalid UTF-8 (byte 0x${raw[at]!.toString(16).padStart(2, '0')} at byte ${at + 1} of the line); ` +
        'data files must be UTF-8 text: convert the file (e.g. iconv -f latin1 -t utf-8) or fix that line',
      path, line);
  }
}

/**
 * The objects of a JSONL file one at a time, read in chunks of `chunkBytes`, so memory stays
 * bounded by the longest line whatever the file's size. Same lines, numbers, UTF-8 and BOM
 * handling and errors as readJsonl; blank lines are skipped.
 */
export async function* streamJsonl(path: string, options: { chunkBytes?: number } = {}): AsyncIterable<JsonlLine> {
  const chunkBytes = options.chunkBytes ?? 1 << 20;
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new DataFormatError(`cannot read ${path}: ${(err as Error).message}`, path, null);
  }
  try {
    let carry: Uint8Array = new Uint8Array(0); // the start of a line that the last chunk cut
    let line = 1;
    let first = true;
    for (;;) {
      const chunk = new Uint8Array(chunkBytes);
      let n: number;
      try {
        ({ bytesRead: n } = await handle.read(chunk, 0, chunkBytes, null));
      } catch (err) {
        throw new DataFormatError(`cannot read ${path}: ${(err as Error).message}`, path, null);
      }
      let bytes: Uint8Array = chunk.subarray(0, n);
      if (carry.length > 0) {
        const joined = new Uint8Array(carry.length + n);
        joined.set(carry);
        joined.set(bytes, carry.length);
        bytes = joined;
      }
      let start = 0;
      if (first) {
        if (bytes.length < 3 && n > 0) { // too short to tell a byte-order mark yet
          carry = bytes;
          continue;
        }
        first = false;
        if (hasBom(bytes)) start = 3;
      }
      if (n === 0) { // end of file: what is left is the last line (maybe empty)
        const text = decodeLine(path, line, bytes.subarray(start));
        if (text.trim() !== '') yield { line, value: parseJsonlLine(path, line, text) };
        return;
      }
      for (;;) {
        const end = bytes.indexOf(NEWLINE, start);
        if (end < 0) break;
        const text = decodeLine(path, line, bytes.subarray(start, end));
        if (text.trim() !== '') yield { line, value: parseJsonlLine(path, line, text) };
        line++;
        start = end + 1;
      }
      carry = bytes.slice(start);
    }
  } finally {
    await handle.close();
  }
}

/** One line's JSON object, or a DataFormatError naming the file and line. */
function parseJsonlLine(path: string, line: number, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DataFormatError(
      `${path}:${line}: invalid JSON (${(err as Error).message}); each non-blank line must be one complete JSON object`,
      path, line);
  }
  if (!isPlainObject(value)) {
    throw new DataFormatError(`${path}:${line}: the line must be a JSON object {...}, got ${jsonType(value)}`, path, line);
  }
  return value;
}

/**
 * Index of the first byte that does not belong to a well-formed UTF-8 sequence (overlong forms,
 * surrogates and code points above U+10FFFF included, as the decoder rejects them), or -1.
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let n: number; // continuation bytes
    let low = 0x80; // allowed range of the second byte
    let high = 0xbf;
    if (b < 0x80) n = 0;
    else if (b >= 0xc2 && b <= 0xdf) n = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      if (b === 0xe0) low = 0xa0; // overlong
      if (b === 0xed) high = 0x9f; // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      if (b === 0xf0) low = 0x90; // overlong
      if (b === 0xf4) high = 0x8f; // above U+10FFFF
    } else return i;
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? low : 0x80) || c > (k === 1 ? high : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
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
