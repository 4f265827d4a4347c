// What the step-labelled and ProcessBench readers share: records of a JSONL or Parquet file with
// where they are (rl's streamJsonl / streamParquet), and errors that name file:line (JSONL) or the
// Parquet row and the field.
import { extname } from 'node:path';
import { DataFormatError, streamJsonl, streamParquet, type SourceRecord } from '@repirl/rl';

export type DataFileFormat = 'jsonl' | 'parquet';

/** 'auto': .parquet / .pq is Parquet, anything else JSONL. */
export function fileFormat(path: string, format: 'auto' | DataFileFormat = 'auto'): DataFileFormat {
  if (format === 'jsonl' || format === 'parquet') return format;
  if (format !== 'auto') throw new DataFormatError(`${path}: format must be auto, jsonl or parquet, got ${JSON.stringify(format)}`, path, null);
  const ext = extname(path).toLowerCase();
  return ext === '.parquet' || ext === '.pq' ? 'parquet' : 'jsonl';
}

/** The records of a file, JSONL line by line or Parquet row group by row group. */
export async function* fileRecords(path: string, format: DataFileFormat): AsyncIterable<SourceRecord> {
  if (format === 'parquet') {
    yield* streamParquet(path);
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
