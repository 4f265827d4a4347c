// `repirl config <command>`: every key of a config with its default, what it accepts and its doc.
import { defaultsOf, describe, join, type Fields, type Schema } from './schema.js';

interface Row {
  key: string;
  value: string;
  allowed: string;
  doc: string;
}

/** The documented defaults of a config schema, grouped by its top-level sections. */
export function formatSchemaDocs(title: string, schema: Schema): string {
  const lines = [`${title}: ${schema.doc}`, ''];
  const top: Row[] = [];
  const sections: { key: string; doc: string; rows: Row[] }[] = [];
  if (schema.kind !== 'object') throw new Error('formatSchemaDocs: the schema must be an object');
  for (const [key, field] of Object.entries(schema.fields as Fields)) {
    if (field.kind === 'object') sections.push({ key, doc: field.doc, rows: rowsOf(field, key) });
    else top.push(...rowsOf(field, key));
  }
  const all = [...top, ...sections.flatMap((s) => s.rows)];
  const keyWidth = Math.max(...all.map((r) => r.key.length));
  const valueWidth = Math.min(24, Math.max(...all.map((r) => r.value.length)));
  const render = (r: Row) => `  ${r.key.padEnd(keyWidth)}  ${r.value.padEnd(valueWidth)}  ${r.doc} [${r.allowed}]`;
  if (top.length > 0) lines.push(...top.map(render), '');
  for (const section of sections) {
    lines.push(`${section.key}: ${section.doc}`, ...section.rows.map(render), '');
  }
  lines.push('Set any key with --set key.path=value, or in a JSON file given with --config FILE.');
  return lines.join('\n');
}

function rowsOf(schema: Schema, path: string): Row[] {
  if (schema.kind === 'object') return Object.entries(schema.fields as Fields).flatMap(([key, field]) => rowsOf(field, join(path, key)));
  const value = defaultsOf(schema);
  return [{ key: path, value: value === undefined ? '(required)' : JSON.stringify(value), allowed: describe(schema), doc: schema.doc }];
}
