// Every kernel op folder has the same files in the same roles (README "Layout of an op"):
// program.ts (WGSL programs as data), launcher.ts (validate and dispatch), reference.ts (float64
// references), index.ts (the spec in its header, then only the exports). This test fails when an op
// folder departs from it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const OPS = join(SRC, 'ops');
/** Folders under ops/ that are helpers shared by the kernels, not ops. */
const NOT_OPS = new Set(['shared']);
const FILES = ['program.ts', 'launcher.ts', 'reference.ts', 'index.ts'];

const ops = readdirSync(OPS).filter((name) => statSync(join(OPS, name)).isDirectory() && !NOT_OPS.has(name));
const read = (op: string, file: string) => readFileSync(join(OPS, op, file), 'utf8');
/** Module specifiers of the import statements of a file, with whether the import is type-only. */
const importsOf = (text: string) =>
  [...text.matchAll(/^import (type )?[^;]*? from '([^']+)';/gms)].map((m) => ({ typeOnly: m[1] !== undefined, from: m[2]! }));

describe('op folder layout', () => {
  it('finds the ops', () => {
    expect(ops.length).toBeGreaterThanOrEqual(13);
    expect(ops).toContain('logprob');
  });

  for (const op of ops) {
    describe(op, () => {
      it('has exactly program.ts, launcher.ts, reference.ts and index.ts', () => {
        expect(readdirSync(join(OPS, op)).sort()).toEqual([...FILES].sort());
      });

      it('index.ts: the spec as its header, then only re-exports in the order program, launcher, reference', () => {
        const text = read(op, 'index.ts');
        const lines = text.split('\n');
        const header = lines.findIndex((l) => !l.startsWith('//'));
        expect(header, 'the spec: a comment of several lines at the top').toBeGreaterThanOrEqual(3);
        const body = lines.slice(header).join('\n');
        const statements = body.split(';').map((s) => s.trim()).filter(Boolean);
        const sources = statements.map((s) => {
          const m = /^export (?:type )?\{[^}]*\} from '\.\/(program|launcher|reference)\.js'$/s.exec(s);
          expect(m, `index.ts may only re-export from the op's files, got: ${s.slice(0, 80)}`).not.toBeNull();
          return m![1]!;
        });
        expect(sources).toEqual(['program', 'launcher', 'reference'].filter((f) => sources.includes(f)));
        expect(sources).toContain('launcher');
      });

      it('each file names its op and role in its first line', () => {
        for (const file of FILES.slice(0, 3)) expect(read(op, file).split('\n')[0]).toMatch(new RegExp(`^// ${op}: `));
      });

      it('programs are data: program.ts imports no launcher or reference, and no runtime', () => {
        for (const { from } of importsOf(read(op, 'program.ts'))) {
          expect(from, `program.ts imports ${from}`).not.toMatch(/launcher\.js$|reference\.js$|runtime\/runtime\.js$/);
        }
      });

      it('reference.ts is host-only: no launcher, and the runtime for types only', () => {
        for (const { from, typeOnly } of importsOf(read(op, 'reference.ts'))) {
          expect(from, `reference.ts imports ${from}`).not.toMatch(/launcher\.js$/);
          if (/runtime\/(runtime|array)\.js$/.test(from)) expect(typeOnly, `reference.ts imports values from ${from}`).toBe(true);
        }
      });

      it('launcher.ts dispatches the programs of program.ts', () => {
        expect(importsOf(read(op, 'launcher.ts')).map((i) => i.from)).toContain('./program.js');
      });
    });
  }

  it('the package entry exports each op through its index.ts only', () => {
    const entry = readFileSync(join(SRC, 'index.ts'), 'utf8');
    for (const op of ops) {
      expect(entry).toContain(`from './ops/${op}/index.js'`);
      expect(entry).not.toMatch(new RegExp(`from '\\./ops/${op}/(?!index\\.js)`));
    }
  });
});
