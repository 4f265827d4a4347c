// What the step-labelled and ProcessBench readers share: records of a JSONL or Parquet file with
// where they are (rl's streamJsonl / streamParquet), and errors that name file:line (JSONL) or the
// Parquet row and the field.
import { open, readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { DataFormatError, streamJsonl, streamParquet, type SourceRecord } from '@repirl/rl';

/** jsonl: one object per line; json: one JSON array of objects (read whole); parquet. */
export type DataFileFormat = 'jsonl' | 'json' | 'parquet';
export const DATA_FILE_FORMATS = ['auto', 'jsonl', 'json', 'parquet'] as const;

/**
 * 'auto': .parquet / .pq is Parquet; a .json file whose first character (after blanks) is "[" is
 * a JSON array (how some benchmarks ship, e.g. ProcessBench's JSON files); anything else JSONL
 * (many .json data files are JSON lines).
 */
export async function fileFormat(path: string, format: 'auto' | DataFileFormat = 'auto'): Promise<DataFileFormat> {
  if (format === 'jsonl' || format === 'json' || format === 'parquet') return format;
  if (format !== 'auto') throw new DataFormatError(`${path}: format must be auto, jsonl, json or parquet, got ${JSON.stringify(format)}`, path, null);
  const ext = extname(path).toLowerCase();
  if (ext === '.parquet' || ext === '.pq') return 'parquet';
  if (ext === '.json' && (await firstCharacter(path)) === '[') return 'json';
  return 'jsonl';
}

async function firstCharacter(path: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new DataFormatError(`cannot read ${path}: ${(err as Error).message}`, path, null);
  }
  try {
    const buffer = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '').trimStart();
    return text === '' ? null : text[0]!;
  } finally {
    await handle.close();
  }
}

/** The records of a file: JSONL line by line, Parquet row group by row group, a JSON array whole (its elements by 0-based row). */
export async function* fileRecords(path: string, format: DataFileFormat): AsyncIterable<SourceRecord> {
  if (format === 'parquet') {
    yield* streamParquet(path);
    return;
  }
  if (format === 'json') {
    let value: unknown;
    try {
      value = JSON.parse((await readFile(path, 'utf8')).replace(/^\uFEFF/, ''));
    } catch (err) {
      throw new DataFormatError(`${path}: not a JSON array of records (${(err as Error).message})`, path, null);
    }
    if (!Array.isArray(value)) throw new DataFormatError(`${path}: a .json data file must hold an array of records [{...}, ...], got ${typeName(value)}`, path, null);
    for (const [row, record] of value.entries()) {
      if (!isObject(record)) throw new DataFormatError(`${path}: row ${row}: must be a JSON object {...}, got ${typeName(record)}`, path, null, null, row);
      yield { value: record, line: null, row };
    }
    return;
  }
  for await (const { line, value } of streamJsonl(path)) yield { value, line, row: null };
}

/** Where a record is, for messages. */
export interface Where {
  /** "data/x.jsonl:17" or "data/x.parquet: row 16". */
  label: string;
  /** "line 17" or "row 16". */
  short: string;
  file: string;
  line: number | null;
  row: number | null;
}

export function whereOf(path: string, record: SourceRecord): Where {
  return record.line !== null
    ? { label: `${path}:${record.line}`, short: `line ${record.line}`, file: path, line: record.line, row: null }
    : { label: `${path}: row ${record.row}`, short: `row ${record.row}`, file: path, line: null, row: record.row };
}

/** An error naming the record's place and the field. */
export function fieldError(where: Where, field: string, problem: string): DataFormatError {
  return new DataFormatError(`${where.label}: field "${field}" ${problem}`, where.file, where.line, field, where.row);
}

/** A whole-file error (nothing in it maps), at the place of the record that showed it. */
export function fileError(where: Where, message: string): DataFormatError {
  return new DataFormatError(`${where.file}: ${message}`, where.file, where.line, null, where.row);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The type of a value, for messages: "string", "number", "array", "null", … */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'bigint') return 'a 64-bit integer';
  return typeof value;
}

/** A list (a JSON array, or a Parquet list column), or null. */
export function listOf(value: unknown): unknown[] | null {
  return Array.isArray(value) ? value : null;
}

/** A non-empty string field. */
export function textField(r: Record<string, unknown>, field: string, where: Where, path = field): string {
  const value = r[field];
  if (value === undefined || value === null) throw fieldError(where, path, 'is missing; it must be a string');
  if (typeof value !== 'string') throw fieldError(where, path, `must be a string, got ${typeName(value)}`);
  if (value.trim() === '') throw fieldError(where, path, 'is empty');
  return value;
}

/** An integer (JSON number or Parquet 64-bit integer) or null when the value is not one. */
export function integerOf(value: unknown): number | null {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  return null;
}

/** The record's id column as text, or `fallback` when there is none. */
export function idOf(r: Record<string, unknown>, where: Where, fallback: string): string {
  const id = r.id;
  if (id === undefined || id === null) return fallback;
  if (typeof id === 'string' && id.trim() !== '') return id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  if (typeof id === 'bigint') return id.toString();
  throw fieldError(where, 'id', `must be a non-empty string or a number, got ${typeName(id)}`);
}

export const columnsText = (r: Record<string, unknown>): string => (Object.keys(r).length === 0 ? '(none)' : Object.keys(r).join(', '));
