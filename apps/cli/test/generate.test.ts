// `repirl generate` on the tiny Hugging Face checkpoints: greedy decoding through the chat template
// reproduces the greedy ids of the independent PyTorch goldens (packages/autograd/test/fixtures/hf).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HF_FIXTURES as fixtures, makeCli, readJson, useTempDir } from './helpers.js';

const tmp = useTempDir('repirl-generate-');

describe('repirl generate', () => {
  it.each(['qwen2', 'qwen3', 'llama'])('%s: greedy through the chat template gives the golden greedy ids', async (name) => {
    const goldens = await readJson(join(fixtures, name, 'goldens.json'));
    // The golden prompt is the ChatML rendering (default system turn) of this user message.
    const r = await makeCli().run('generate', '--set', `model=${join(fixtures, name)}`, '--set', 'temperature=0', '--set', 'maxNewTokens=8', 'What is 3 + 4? Show each step.');
    expect(r.code).toBe(0);
    const line = JSON.parse(r.out);
    expect(line.prompt_tokens).toBe(goldens.greedy.prompt_ids.length);
    expect(line.tokens.slice(0, goldens.greedy.new_token_ids.length)).toEqual(goldens.greedy.new_token_ids.slice(0, line.tokens.length));
    expect(line.logprobs).toHaveLength(line.tokens.length);
    expect(typeof line.text).toBe('string');
  });

  it('reads {"id", "messages"} and {"id", "prompt"} lines, draws several samples, and writes JSONL atomically', async () => {
    const data = join(tmp.path(), 'prompts.jsonl');
    await writeFile(data, [
      JSON.stringify({ id: 'a', messages: [{ role: 'user', content: 'Add 12 and 30.' }] }),
      JSON.stringify({ id: 'b', prompt: 'Add 1 and 2.' }),
    ].join('\n'));
    const out = join(tmp.path(), 'samples.jsonl');
    const r = await makeCli().run('generate', '--set', `model=${join(fixtures, 'qwen3')}`, '--set', `data.path=${data}`, '--set', 'samples=3',
      '--set', 'maxNewTokens=4', '--set', 'seed=5', '--out', out);
    expect(r.code).toBe(0);
    const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.id, l.sample])).toEqual([['a', 0], ['a', 1], ['a', 2], ['b', 0], ['b', 1], ['b', 2]]);
    for (const l of lines) expect(['length', 'stop']).toContain(l.finish_reason);
    // Same seed, same samples.
    await makeCli().run('generate', '--set', `model=${join(fixtures, 'qwen3')}`, '--set', `data.path=${data}`, '--set', 'samples=3', '--set', 'maxNewTokens=4', '--set', 'seed=5', '--out', `${out}.2`);
    expect(await readFile(`${out}.2`, 'utf8')).toBe(await readFile(out, 'utf8'));
  });

  it('refuses prompts given twice or not at all, and names a bad line', async () => {
    const model = `model=${join(fixtures, 'qwen3')}`;
    expect((await makeCli().run('generate', '--set', model)).out).toMatch(/^repirl generate: no prompts/);
    const data = join(tmp.path(), 'bad.jsonl');
    await writeFile(data, '{"id": 1, "text": "x"}\n');
    const bad = await makeCli().run('generate', '--set', model, '--set', `data.path=${data}`);
    expect(bad.code).toBe(1);
    expect(bad.out).toBe(`repirl generate failed: ${data}:1: needs a string field "prompt" or an array field "messages"`);
  });
});
