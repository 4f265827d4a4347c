// TaskCodec over a Hugging Face tokenizer (the tiny Qwen2 checkpoint of packages/autograd/test/fixtures/hf):
// prompts through the chat template are exactly the tokenizer's ids of the rendered text (and the
// ids the independent PyTorch goldens were computed on), raw prompts are the text's ids, every eos
// id of tokenizer_config.json and generation_config.json stops a response, ids past the
// tokenizer's vocabulary decode to U+FFFD, and a rollout of the checkpoint runs through it.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { GpuBackend, loadHfModel, loadHfTokenizer } from '@repirl/autograd';
import { ANSWER_LINE_STOP, TaskCodec, decodeKnown, rollout } from '../src/rollout/index.js';
import { arithChain } from '../src/tasks/index.js';

const fixture = new URL('../../autograd/test/fixtures/hf/qwen2/', import.meta.url).pathname;

describe('TaskCodec over a Hugging Face tokenizer', () => {
  it('chat: the prompt ids are the tokenizer ids of the template-rendered text, and the PyTorch goldens\' prompt ids', async () => {
    const tokenizer = await loadHfTokenizer(fixture);
    const codec = new TaskCodec({ tokenizer, template: 'chat' });
    const goldens = JSON.parse(await readFile(`${fixture}goldens.json`, 'utf8'));
    // The goldens' greedy prompt is this user message in the ChatML template (default system turn, generation prompt).
    const prompt = 'What is 3 + 4? Show each step.';
    const text = tokenizer.applyChatTemplate([{ role: 'user', content: prompt }], { addGenerationPrompt: true });
    expect(text.startsWith('<|im_start|>system\n')).toBe(true);
    expect(text.endsWith('<|im_start|>user\nWhat is 3 + 4? Show each step.<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
    expect(codec.promptText(`${prompt}\n`)).toBe(text);
    expect(codec.encodePrompt(`${prompt}\n`)).toEqual(tokenizer.encode(text, { allowSpecial: true }));
    expect(codec.encodePrompt(prompt)).toEqual(goldens.greedy.prompt_ids);
    // The template's markers are single special ids, not their characters.
    expect(codec.encodePrompt(prompt).filter((id) => id === 318)).toHaveLength(3);
    // Task prompts too.
    for (const p of arithChain.generate(3, 4, { steps: 2, range: 10 })) {
      expect(codec.encodePrompt(p.prompt)).toEqual(tokenizer.encode(tokenizer.applyChatTemplate([{ role: 'user', content: p.prompt.trimEnd() }], { addGenerationPrompt: true }), { allowSpecial: true }));
    }
  });

  it('raw: the prompt text as it is (no bos for a tokenizer without add_bos_token); responses as SFT targets', async () => {
    const tokenizer = await loadHfTokenizer(fixture);
    const codec = new TaskCodec({ tokenizer, template: 'raw', bos: tokenizer.addBosToken });
    expect(codec.encodePrompt('Compute 3 + 4')).toEqual(tokenizer.encode('Compute 3 + 4\n'));
    // A special-token string in a problem stays text in raw mode.
    expect(codec.encodePrompt('<|im_end|>')).not.toContain(319);
    expect(codec.decodeResponse(codec.encodeResponse('=7\n#### 7'))).toBe('=7\n#### 7\n');
  });

  it('stops at every eos id and at a complete answer line; ids past the vocabulary decode to U+FFFD', async () => {
    const tokenizer = await loadHfTokenizer(fixture);
    const codec = new TaskCodec({ tokenizer, template: 'chat' });
    // tokenizer_config.json eos_token <|im_end|> (319), generation_config.json eos_token_id [319, 317].
    expect([...codec.eosIds].sort()).toEqual([317, 319]);
    expect(codec.isEos(317) && codec.isEos(319) && !codec.isEos(318)).toBe(true);
    const { stop, tokenizer: stopTokenizer } = codec.generateStops();
    expect(stop).toEqual(expect.arrayContaining([317, 319, ANSWER_LINE_STOP]));
    const answered = tokenizer.encode('=3\n#### 3\n');
    expect(stopTokenizer.decode(answered).endsWith(ANSWER_LINE_STOP)).toBe(true);
    expect(stopTokenizer.decode(answered.slice(0, -1)).endsWith(ANSWER_LINE_STOP)).toBe(false);
    // The checkpoint's embedding has 384 rows for 320 tokens: a sampled 366 has no text.
    expect(codec.decodeResponse([...tokenizer.encode('=3'), 366, 319, ...tokenizer.encode('x')])).toBe('=3\uFFFDx');
    expect(decodeKnown(tokenizer, [366, 366])).toBe('\uFFFD\uFFFD');
    expect(stopTokenizer.decode([...answered, 366]).endsWith(ANSWER_LINE_STOP)).toBe(true);
  });

  it("refuses 'chat' for a tokenizer without a chat template", () => {
    expect(() => new TaskCodec({ template: 'chat' })).toThrow(/template 'chat' needs a tokenizer with a default chat template/);
  });

  it('a rollout of the checkpoint: prompts through the template, responses end at an eos id, an answer line or the budget', async () => {
    const gpu = new GpuBackend(await getRuntime());
    const tokenizer = await loadHfTokenizer(fixture);
    const codec = new TaskCodec({ tokenizer, template: 'chat' });
    const { model } = await loadHfModel(gpu, fixture);
    try {
      const problems = arithChain.generate(5, 3, { steps: 1, range: 10 });
      const batch = await rollout(model, problems, { k: 2, maxNewTokens: 12, seed: 3, temperature: 1, codec });
      expect(batch.samples).toHaveLength(6);
      for (const s of batch.samples) {
        expect(s.promptIds).toEqual(codec.encodePrompt(s.problem.prompt));
        expect(s.responseIds.length).toBeGreaterThan(0);
        expect(s.logprobs).toHaveLength(s.responseIds.length);
        expect(s.response).toBe(codec.decodeResponse(s.responseIds));
        // An eos id can only be the last token; a stop is an eos id or an answer line, else the budget ran out.
        const eosAt = s.responseIds.findIndex((id) => codec.isEos(id));
        expect(eosAt === -1 || eosAt === s.responseIds.length - 1).toBe(true);
        if (s.finishReason === 'length') expect(s.responseIds).toHaveLength(12);
      }
    } finally {
      model.dispose();
    }
  });
});
