// The design notes live in docs/ (docs/DESIGN.md, docs/research/*.md). Sources and READMEs cite
// them by that path; a citation of a folder outside the repository (../shared/ next to a checkout)
// or of a docs/ file that does not exist is a dead end for anyone reading a clone.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CHECKED = /\.(ts|mts|cts|js|mjs|cjs|sh|md|json)$/;
const NOTES = ['DESIGN.md', 'research/papers.md', 'research/toolchain.md', 'research/anchors.md'];
/** This file, whose examples cite the wrong way on purpose. */
const SELF = relative(ROOT, fileURLToPath(import.meta.url)).split(sep).join('/');

/** The files of the repository (tracked or new, not ignored), relative to ROOT. */
function repositoryFiles(): string[] {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
    return out.split('\0').filter((f) => f !== '');
  } catch {
    // Not a git checkout (an unpacked archive): walk it, skipping what git would ignore anyway.
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
        if (entry.name.startsWith('.') || entry.name === 'node_modules' || entry.name === 'dist') continue;
        const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
        if (entry.isDirectory()) walk(path);
        else files.push(path);
      }
    };
    walk('');
    return files;
  }
}

/**
 * What is wrong with the citations in one file (`file` relative to the repository root; `exists`
 * answers for paths relative to the root, or null for a path that leaves the repository).
 */
function citationProblems(file: string, text: string, exists: (path: string) => boolean): string[] {
  const problems: string[] = [];
  const here = dirname(file);
  const inRepo = (fromDir: string, target: string): string | null => {
    const path = relative(ROOT, resolve(ROOT, fromDir, target)).split(sep).join('/');
    return path === '..' || path.startsWith('../') ? null : path;
  };
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const at = `${file}:${i + 1}`;
    // ../shared/… must be a file of this repository (an import such as '../shared/workgroup-reduce.js' is).
    for (const m of line.matchAll(/(?:\.\.\/)+shared\/[\w./-]*/g)) {
      const path = inRepo(here, m[0]);
      const found = path !== null && (exists(path) || (path.endsWith('.js') && exists(path.replace(/\.js$/, '.ts'))));
      if (!found) problems.push(`${at}: "${m[0]}" is outside the repository or missing; cite the copy in docs/`);
    }
    // A note named without its path: DESIGN.md §4 → docs/DESIGN.md §4.
    for (const m of line.matchAll(/(?<![\w/.-])(DESIGN|papers|toolchain|anchors)\.md/g)) {
      const note = NOTES.find((n) => n.endsWith(`${m[1]}.md`))!;
      problems.push(`${at}: "${m[0]}" without its path; cite docs/${note}`);
    }
    // docs/….md from the root, and relative Markdown links into docs/.
    for (const m of line.matchAll(/(?<![\w/.-])docs\/[\w./-]*\.md\b/g)) {
      if (!exists(m[0])) problems.push(`${at}: "${m[0]}" does not exist`);
    }
    if (file.endsWith('.md')) {
      for (const m of line.matchAll(/\]\(([^)\s#]*docs\/[^)\s#]*)/g)) {
        const path = inRepo(here, m[1]!);
        if (path === null || !exists(path.replace(/\/$/, ''))) problems.push(`${at}: link "${m[1]}" does not resolve to a file of the repository`);
      }
    }
  });
  return problems;
}

describe('citations of the design notes', () => {
  const exists = (path: string): boolean => existsSync(join(ROOT, path));

  it('flags a citation of ../shared/, a bare note name, a missing docs/ file and a broken link', () => {
    const ts = [
      '// the design is in ../shared/DESIGN.md',
      "import { x } from '../shared/workgroup-reduce.js';",
      '// rePIRL (papers.md §1(b)), DESIGN.md §4',
      '// see docs/research/papers.md and docs/research/nope.md',
    ].join('\n');
    expect(citationProblems('packages/kernels/src/ops/norm/norm.ts', ts, exists)).toEqual([
      'packages/kernels/src/ops/norm/norm.ts:1: "../shared/DESIGN.md" is outside the repository or missing; cite the copy in docs/',
      'packages/kernels/src/ops/norm/norm.ts:3: "papers.md" without its path; cite docs/research/papers.md',
      'packages/kernels/src/ops/norm/norm.ts:3: "DESIGN.md" without its path; cite docs/DESIGN.md',
      'packages/kernels/src/ops/norm/norm.ts:4: "docs/research/nope.md" does not exist',
    ]);
    const md = '[design](../shared/DESIGN.md) · [design](../../../docs/DESIGN.md) · [bad](../docs/DESIGN.md)';
    expect(citationProblems('packages/rl/data/README.md', md, exists)).toEqual([
      'packages/rl/data/README.md:1: "../shared/DESIGN.md" is outside the repository or missing; cite the copy in docs/',
      'packages/rl/data/README.md:1: link "../docs/DESIGN.md" does not resolve to a file of the repository',
    ]);
  });

  it('has the notes in docs/, and every source file and README cites them there', () => {
    for (const note of NOTES) expect(exists(`docs/${note}`), `docs/${note}`).toBe(true);
    const problems = repositoryFiles()
      .filter((f) => CHECKED.test(f) && f !== SELF && !f.endsWith('package-lock.json') && exists(f))
      .flatMap((f) => citationProblems(f, readFileSync(join(ROOT, f), 'utf8'), exists));
    expect(problems).toEqual([]);
  });
});
