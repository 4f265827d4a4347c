// Faults of issue 12 that the data loaders, the batch packing and the trainers must refuse with a
// clear message instead of training on garbage or crashing somewhere deep:
//  - data files with bytes that are not UTF-8 (refused with file:line), with a byte-order mark
//    (read as if it were not there, also when sniffing which kind of file it is);
//  - data-sized spreads into Math.max (a batch of 2,000,000 sequences overflowed the stack).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataFormatError, jsonlKind, loadProblems, loadTrajectories, readJsonl } from '../src/data/index.js';
import { packSequences, responseLayout } from '../src/rollout/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'repirl-faults-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;
async function file(name: string, content: string | Uint8Array): Promise<string> {
  const path = join(dir, `${files++}-${name}`);
  await writeFile(path, content);
  return path;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

const problem = JSON.stringify({ id: 'a', prompt: '1 +1\n', answer: '2' });
const trajectory = JSON.stringify({ id: 'a', prompt: '1 +1\n', response: '=2\n#### 2', correct: true });
const bytes = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...new TextEncoder().encode(p)] : p)));

describe('data files that are not UTF-8', () => {
  // Line 3 holds "café" in Latin-1: the é is the single byte 0xE9.
  const badLine = bytes(`${problem}\n\n`, '{"id": "b", "prompt": "caf', [0xe9], '", "answer": "1"}\n', `${problem.replace('"a"', '"c"')}\n`);

  it('are refused with the file, the line and the byte, for problems and trajectories', async () => {
    const path = await file('latin1.jsonl', badLine);
    const err = await failure(loadProblems(path));
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toBe(`${path}:3: invalid UTF-8 (byte 0xe9 at byte 27 of the line); ` +
      'data files must be UTF-8 text: convert the file (e.g. iconv -f latin1 -t utf-8) or fix that line');
    expect((err as DataFormatError).line).toBe(3);

    const trajectories = await file('latin1-trajectories.jsonl', bytes(`${trajectory}\n`, '{"id": "b", "prompt": "x", "response": "', [0xc3], '"}\n'));
    expect((await failure(loadTrajectories(trajectories))).message).toMatch(new RegExp(`^${trajectories}:2: invalid UTF-8 \\(byte 0xc3 at byte 41 of the line\\)`));
  });

  it('finds overlong forms, surrogates and truncated sequences too, and accepts every valid one', async () => {
    for (const [bad, at] of [[[0xc0, 0xaf], 1], [[0xed, 0xa0, 0x80], 1], [[0xf4, 0x90, 0x80, 0x80], 1], [[0xe2, 0x82], 1], [[0xff], 1]] as const) {
      const path = await file('bad.jsonl', bytes('"', [...bad], '"'));
      expect((await failure(readJsonl(path))).message).toContain(`${path}:1: invalid UTF-8 (byte 0x${bad[0].toString(16)} at byte ${at + 1} of the line)`);
    }
    // Two-, three- and four-byte characters (é, €, 😀) and a literal U+FFFD are valid.
    const fine = { id: 'é€😀\uFFFD', prompt: 'x', answer: '1' };
    const path = await file('fine.jsonl', `${JSON.stringify(fine)}\n`);
    expect(await loadProblems(path)).toEqual([fine]);
  });
});

describe('data files with a UTF-8 byte-order mark', () => {
  it('load as without it', async () => {
    const path = await file('bom-trajectories.jsonl', `\uFEFF${trajectory}\n`);
    expect((await loadTrajectories(path))[0]!.id).toBe('a');
  });

  it('are sniffed by their first record: jsonlKind', async () => {
    expect(await jsonlKind(await file('bom-trajectories.jsonl', `\uFEFF${trajectory}\n${trajectory}\n`))).toBe('trajectories');
    expect(await jsonlKind(await file('blank-first.jsonl', `\uFEFF\n  \n${trajectory}\n`))).toBe('trajectories');
    expect(await jsonlKind(await file('bom-problems.jsonl', `\uFEFF${problem}\n`))).toBe('problems');
    expect(await jsonlKind(await file('empty.jsonl', '\uFEFF\n'))).toBe(null);
    const bad = await file('bad-first.jsonl', '\n{"id": 1,\n');
    expect((await failure(jsonlKind(bad))).message).toMatch(new RegExp(`^${bad}:2: invalid JSON`));
  });
});

describe('batches larger than a spread can hold', () => {
  it('pack 300,000 sequences (Math.max(...lengths) overflowed the stack past ~120,000)', () => {
    const B = 300_000;
    const parts = Array.from({ length: B }, (_, b) => ({ promptIds: [1, 2 + (b % 3)], responseIds: b === B - 1 ? [5, 6, 7] : [5] }));
    const packed = packSequences(parts, 0);
    expect([packed.B, packed.L, packed.T]).toEqual([B, 5, 3]);
    expect(Array.from(packed.ids.subarray((B - 1) * 5, B * 5))).toEqual([1, 2 + ((B - 1) % 3), 5, 6, 7]);
    expect(responseLayout(parts.map((p) => p.responseIds.length)).T).toBe(3);
  });
});
