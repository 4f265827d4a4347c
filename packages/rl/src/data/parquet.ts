// Parquet records, row group by row group (hyparquet, pure JS): memory holds the footer and one
// row group's rows at a time, whatever the file's size. Nested columns (lists, structs) come as
// arrays and objects; 64-bit integers as bigint (problem-files.ts turns them into numbers).
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, type FileMetaData } from 'hyparquet';
import { DataFormatError } from './jsonl.js';
import type { SourceRecord } from './problem-files.js';

/** The top-level column names of a Parquet file's schema (from its footer alone). */
export async function parquetColumns(path: string): Promise<string[]> {
  const { metadata } = await openParquet(path);
  return topLevelColumns(metadata);
}

/** The rows of a Parquet file as objects, with their 0-based row index, one row group at a time. */
export async function* streamParquet(path: string): AsyncIterable<SourceRecord> {
  const { file, metadata } = await openParquet(path);
  let rowStart = 0;
  for (const [g, group] of metadata.row_groups.entries()) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd });
    } catch (err) {
      throw new DataFormatError(`${path}: cannot read row group ${g} (rows ${rowStart}–${rowEnd - 1}): ${(err as Error).message}`, path, null, null, rowStart);
    }
    for (let i = 0; i < rows.length; i++) yield { value: rows[i]!, line: null, row: rowStart + i };
    rowStart = rowEnd;
  }
}

async function openParquet(path: string) {
  let file;
  try {
    file = await asyncBufferFromFile(path);
  } catch (err) {
    throw new DataFormatError(`cannot read ${path}: ${(err as Error).message}`, path, null);
  }
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw new DataFormatError(`${path}: not a readable Parquet file (${(err as Error).message})`, path, null);
  }
  return { file, metadata };
}

function topLevelColumns(metadata: FileMetaData): string[] {
  const names: string[] = [];
  const schema = metadata.schema;
  // schema[0] is the root; walk its children, skipping each child's own subtree.
  let i = 1;
  const skip = (): void => {
    const n = schema[i]!.num_children ?? 0;
    i++;
    for (let k = 0; k < n; k++) skip();
  };
  while (i < schema.length) {
    names.push(schema[i]!.name);
    skip();
  }
  return names;
}
