// Problems from files split leak-free (issue 14): one file by the hash of each prompt, or one file
// per split with overlaps refused; duplicates dropped and counted; every file's SHA-256 recorded.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DataFormatError, fileSha256, readDataSplits } from '../src/data/index.js';
import { TaskCodec } from '../src/rollout/codec.js';
import { SPLITS, checkDisjoint, problemKey, splitOf } from '../src/tasks/splits.js';
import { failure, tempFiles } from './helpers.js';

const tmp = tempFiles('repirl-data-splits-');
const jsonl = (name: string, records: unknown[]) => tmp.write(name, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
const gsm = (i: number) => ({ question: `How many apples are in box ${i}?`, answer: `Box ${i} holds ${i} apples.\n#### ${i}` });

describe('readDataSplits', () => {
  it('splits one file by the hash of each prompt: disjoint, every problem where splitOf puts it, duplicates dropped and counted', async () => {
    const records = Array.from({ length: 200 }, (_, i) => gsm(i));
    // Duplicates: the same prompt again, once with other whitespace (the key normalises it).
    records.push(gsm(3), { ...gsm(7), question: `  How many apples are in\nbox 7?  ` });
    const path = await jsonl('gsm.jsonl', records);
    const data = await readDataSplits({ path });
    const sizes = SPLITS.map((s) => data.splits[s].length);
    expect(sizes.reduce((a, b) => a + b)).toBe(200);
    expect(data.splits.test.length).toBeGreaterThan(5);
    expect(data.splits.validation.length).toBeGreaterThan(5);
    for (const split of SPLITS) for (const p of data.splits[split]) expect(splitOf(p.prompt)).toBe(split);
    expect(() => checkDisjoint(data.splits)).not.toThrow();
    const dropped = Object.values(data.duplicates).reduce((a, b) => a + b);
    expect(dropped).toBe(2);
    expect(data.duplicates[splitOf(gsm(3).question)]).toBeGreaterThanOrEqual(1);
    expect(data.files).toHaveLength(1);
    expect(data.files[0]).toMatchObject({ key: 'path', path, format: 'jsonl', layout: 'gsm8k', problems: 202 });
    expect(data.files[0]!.sha256).toBe(createHash('sha256').update(await readFile(path)).digest('hex'));
    expect(data.files[0]!.bytes).toBe((await readFile(path)).length);
    // Other fractions move the boundary, never a problem into two splits.
    const wide = await readDataSplits({ path, fractions: { validation: 0.3, test: 0.3 } });
    expect(wide.splits.test.length).toBeGreaterThan(data.splits.test.length);
    expect(() => checkDisjoint(wide.splits)).not.toThrow();
  });

  it('reads one file per split and refuses a prompt in two of them, naming both files and problems', async () => {
    const train = await jsonl('train.jsonl', [gsm(1), gsm(2), gsm(2)]);
    const test = await jsonl('test.jsonl', [gsm(3), gsm(4)]);
    const data = await readDataSplits({ train, test });
    expect(data.splits.train.map((p) => p.answer)).toEqual(['1', '2']);
    expect(data.splits.test.map((p) => p.answer)).toEqual(['3', '4']);
    expect(data.splits.validation).toEqual([]);
    expect(data.duplicates).toEqual({ train: 1, validation: 0, test: 0 });
    expect(data.files.map((f) => f.key)).toEqual(['train', 'test']);
    expect(data.files[1]!.sha256).toBe(await fileSha256(test));

    const leaky = await jsonl('leaky-test.jsonl', [gsm(3), { ...gsm(2), question: 'How many apples  are in box 2?' }]);
    const err = await failure(readDataSplits({ train, test: leaky }));
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toMatch(/the train and test files overlap: .*train\.jsonl problem "1-train\.jsonl:2" and .*leaky-test\.jsonl problem "\d+-leaky-test\.jsonl:2" have the same prompt "How many apples are in box 2\?"/);
  });

  it('refuses path with split files, no file at all, and an empty file', async () => {
    const path = await jsonl('a.jsonl', [gsm(1)]);
    await expect(readDataSplits({ path, test: path })).rejects.toThrow(/either one data file \(path\).*or split files \(test\), not both/);
    await expect(readDataSplits({})).rejects.toThrow(/no data file/);
    const empty = await tmp.write('empty.jsonl', '');
    await expect(readDataSplits({ train: empty })).rejects.toThrow(/empty\.jsonl: holds no problems/);
  });
});

describe('the codec\'s step rule', () => {
  it('defaults to lines and carries the rule it was given', () => {
    expect(new TaskCodec().stepRule).toBe('lines');
    expect(new TaskCodec({ stepRule: 'paragraphs' }).stepRule).toBe('paragraphs');
    expect(problemKey('a  b')).toBe(problemKey(' a b '));
  });
});
