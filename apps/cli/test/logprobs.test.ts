// `repirl logprobs` on the tiny Hugging Face checkpoints against the float64 goldens of an
// independent PyTorch implementation (packages/autograd/test/fixtures/hf, docs/hf-goldens.md).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HF_FIXTURES as fixtures, makeCli, readJson, useTempDir } from './helpers.js';

const tmp = useTempDir('repirl-logprobs-');

describe('repirl logprobs', () => {
  it.each(['qwen3', 'qwen2', 'llama'])('%s: the response tokens of a chat get the golden log-probs (1e-4)', async (name) => {
    // The golden "chat" sequence is the rendered ChatML prompt; split it before the assistant turn
    // (a special token, so the two halves tokenise to the whole).
    const tokenizerGoldens = await readJson(join(fixtures, 'tokenizer-goldens.json'));
    const goldens = await readJson(join(fixtures, name, 'goldens.json'));
    const chat = goldens.sequences.find((s: { name: string }) => s.name === 'chat');
    const rendered: string = tokenizerGoldens.chat.find((c: { ids: number[] }) => JSON.stringify(c.ids) === JSON.stringify(chat.input_ids)).rendered;
    const cut = rendered.lastIndexOf('<|im_start|>');
    const data = join(tmp.path(), `${name}.jsonl`);
    await writeFile(data, [
      JSON.stringify({ id: 'chat', prompt: rendered.slice(0, cut), response: rendered.slice(cut) }),
      JSON.stringify({ id: 7, prompt: rendered.slice(0, cut), response: '' }),
    ].join('\n'));
    const out = join(tmp.path(), `${name}.out.jsonl`);
    const r = await makeCli().run('logprobs', '--set', `model=${join(fixtures, name)}`, '--set', `data.path=${data}`, '--set', 'batchSize=2', '--out', out);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
    const [first, empty] = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const P = chat.input_ids.length - first.tokens.length;
    expect(first.id).toBe('chat');
    expect(first.tokens).toEqual(chat.input_ids.slice(P));
    const expected: number[] = chat.next_token_logprobs.slice(P - 1);
    expect(first.logprobs).toHaveLength(expected.length);
    for (const [j, lp] of first.logprobs.entries()) expect(Math.abs(lp - expected[j]!), `token ${j}`).toBeLessThan(1e-4);
    expect(empty).toEqual({ id: 7, tokens: [], logprobs: [] });
  });

  it('names the file, line and field of a bad record, and a missing model directory', async () => {
    const data = join(tmp.path(), 'bad.jsonl');
    await writeFile(data, '{"id": 1, "prompt": "a", "response": "b"}\n{"id": 2, "prompt": 3, "response": "b"}\n');
    const bad = await makeCli().run('logprobs', '--set', `model=${join(fixtures, 'qwen3')}`, '--set', `data.path=${data}`);
    expect(bad.code).toBe(1);
    expect(bad.out).toBe(`repirl logprobs failed: ${data}:2: field "prompt" must be a string, got 3`);
    const missing = await makeCli().run('logprobs', '--set', `model=${join(tmp.path(), 'nowhere')}`, '--set', `data.path=${data}`);
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/^repirl logprobs failed: .*nowhere.*tokenizer\.json/);
    const usage = await makeCli().run('logprobs', '--set', 'modle=x');
    expect(usage.code).toBe(2);
    expect(usage.out).toMatch(/modle: unknown key "modle" \(did you mean "model"\?\)/);
  });
});

describe('repirl info --set model=DIR', () => {
  it('prints the architecture, parameters, device bytes, KV-cache bytes and whether it fits', async () => {
    const r = await makeCli().run('info', '--set', `model=${join(fixtures, 'qwen3')}`);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/model\s+.*qwen3: Qwen3ForCausalLM, 2 layers, hidden 48, 4 heads \(2 kv\) × 16, vocab 384/);
    expect(r.out).toMatch(/parameters\s+83,248 \(files: F32 /);
    expect(r.out).toMatch(/fits\s+yes for inference and LoRA \(largest tensor: embedding.*\); full fine-tuning: yes/);
    const { modelReport } = await import('../src/info.js');
    const small = await modelReport(join(fixtures, 'qwen3'), { maxStorageBufferBindingSize: 4096, maxBufferSize: 2 ** 30 } as never);
    // Over one binding: inference and LoRA read it in chunks; full fine-tuning's elementwise kernels cannot.
    expect(small).toMatchObject({ fits: true, fitsFullTraining: false });
    expect((await modelReport(join(fixtures, 'qwen3'), { maxStorageBufferBindingSize: 4096, maxBufferSize: 4096 } as never)).limit)
      .toMatch(/its embedding \(vocab × hidden\) \(0 MiB\) is over the device's 0 MiB per buffer$/);
    // The projection matrices of qwen3 (2 layers of q 48→64, k/v 48→32, o 64→48, gate/up/down 48↔96; the untied head 48→384) in f16 save 2 bytes each.
    expect(small.deviceBytes - small.deviceBytesF16Weights).toBe(2 * (2 * (48 * 128 + 64 * 48 + 3 * 48 * 96) + 48 * 384));
    expect(r.out).toMatch(/on device\s+[\d.]+ MiB of float32 weights \([\d.]+ MiB with the projection matrices in f16: dtype 'f16'\)/);
    expect(small.limit).toMatch(/its embedding \(vocab × hidden\) \(0 MiB\) is over the device's 0 MiB per binding, which full fine-tuning/);
    const missing = await makeCli().run('info', '--set', `model=${join(fixtures, 'nowhere')}`);
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/^repirl info: .*nowhere/);
  });
});
