import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '@repirl/kernels/testing';
import { HfTokenizer, checkVocab, loadHfTokenizer, type HfTokenizerFiles } from '../src/tokenizer/hf.js';
import { eosIdsOf } from '../src/tokenizer/tokenizer.js';

// <fixtures> Tiny tokenizer directories written for these tests (no real tokenizer's text): a
// byte-level BPE whose ids 0–255 are GPT-2's byte characters (printable Latin-1 bytes stand for
// themselves, the other 68 bytes become U+0100, U+0101, … in byte order), then one token per
// merge, then the added tokens. The pre-tokenizer is a Split on a regex in the style of Qwen2 and
// Llama-3 (contractions, letters with one leading non-letter, digits, punctuation runs, newlines,
// spaces) followed by ByteLevel without its own regex.
function byteChars(): string[] {
  const range = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  const printable = new Set([...range(0x21, 0x7e), ...range(0xa1, 0xac), ...range(0xae, 0xff)]);
  let next = 0x100;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable.has(b) ? b : next++));
}
const pattern = (digits: string) =>
  `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}${digits}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const added = (id: number, content: string, special = true) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special });

/** ids 256… in this order */
const QWEN_MERGES = ['Ġ t', 'h e', 'Ġt he', 'i n', 'Ġ in', 'a t', 'Ġ c', 'Ġc at', 'Ċ Ċ', 'Ã ©', 'o k', 'Ġ ok'];
function qwenStyle(): { tokenizerJson: Record<string, any>; tokenizerConfig: Record<string, any>; generationConfig: Record<string, any> } {
  const vocab: Record<string, number> = {};
  byteChars().forEach((c, b) => (vocab[c] = b));
  for (const m of QWEN_MERGES) vocab[m.replace(' ', '')] = Object.keys(vocab).length; // 256…267
  return {
    tokenizerJson: {
      version: '1.0', truncation: null, padding: null,
      added_tokens: [added(268, '<|endoftext|>'), added(269, '<|im_start|>'), added(270, '<|im_end|>'), added(271, '<think>', false)],
      normalizer: { type: 'NFC' },
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: pattern('') }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
        ],
      },
      post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [...QWEN_MERGES] },
    },
    tokenizerConfig: {
      add_bos_token: false, add_prefix_space: false, bos_token: null, eos_token: '<|im_end|>', pad_token: '<|endoftext|>', unk_token: null,
      clean_up_tokenization_spaces: false, model_max_length: 512,
      added_tokens_decoder: Object.fromEntries([[268, '<|endoftext|>'], [269, '<|im_start|>'], [270, '<|im_end|>']].map(([id, content]) => [String(id), { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }])),
      chat_template: CHATML,
    },
    generationConfig: { eos_token_id: [270, 268], pad_token_id: 268 },
  };
}
const CHATML = [
  "{%- if messages[0]['role'] == 'system' %}",
  "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- set rest = messages[1:] %}",
  '{%- else %}',
  "{{- '<|im_start|>system\\nYou solve problems step by step.<|im_end|>\\n' }}{%- set rest = messages %}",
  '{%- endif %}',
  '{%- for m in rest %}',
  "{%- if m.role not in ['user', 'assistant'] %}{{- raise_exception('roles must be user or assistant, got ' ~ m.role) }}{%- endif %}",
  "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}",
  '{%- endfor %}',
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- if tools %}{{- '(tools: ' ~ (tools | length) ~ ')' }}{%- endif %}{%- endif %}",
].join('\n');

/** ids 256… in this order (pairs: the newer merges format) */
const LLAMA_MERGES = [['Ġ', 't'], ['h', 'e'], ['Ġt', 'he'], ['1', '2'], ['12', '3'], ['a', 't'], ['Ġ', 'c'], ['Ġc', 'at']];
const LLAMA_CHAT = [
  '{{- bos_token }}',
  '{%- for m in messages %}',
  "{{- '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}",
  '{%- endfor %}',
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
].join('\n');
function llamaStyle(): { tokenizerJson: Record<string, any>; tokenizerConfig: Record<string, any>; generationConfig: Record<string, any> } {
  const vocab: Record<string, number> = {};
  byteChars().forEach((c, b) => (vocab[c] = b));
  for (const [l, r] of LLAMA_MERGES) vocab[l! + r!] = Object.keys(vocab).length; // 256…263
  const bos = { id: '<|begin_of_text|>', ids: [264], tokens: ['<|begin_of_text|>'] };
  return {
    tokenizerJson: {
      version: '1.0',
      added_tokens: [added(264, '<|begin_of_text|>'), added(265, '<|end_of_text|>'), added(266, '<|start_header_id|>'), added(267, '<|end_header_id|>'), added(268, '<|eot_id|>')],
      normalizer: null,
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: pattern('{1,3}') }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      },
      post_processor: {
        type: 'Sequence',
        processors: [
          { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
          {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
            special_tokens: { '<|begin_of_text|>': bos },
          },
        ],
      },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges: LLAMA_MERGES.map((m) => [...m]) },
    },
    tokenizerConfig: {
      bos_token: '<|begin_of_text|>', eos_token: { __type: 'AddedToken', content: '<|eot_id|>', lstrip: false, normalized: false, rstrip: false, single_word: false },
      clean_up_tokenization_spaces: true, model_input_names: ['input_ids', 'attention_mask'], chat_template: [{ name: 'default', template: LLAMA_CHAT }, { name: 'tool_use', template: `{{- bos_token }}tools={{ tools | tojson }}` }],
    },
    generationConfig: { bos_token_id: 264, eos_token_id: [265, 268], do_sample: true },
  };
}
// </fixtures>

const rng = new SeededRandom(29);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
/** Writes the files (objects as JSON, strings as they are) into a fresh directory. */
function writeDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'repirl-hf-tok-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return dir;
}
const build = (f: ReturnType<typeof qwenStyle>, edit: (f: ReturnType<typeof qwenStyle>) => void = () => {}) => {
  edit(f);
  return new HfTokenizer(f as HfTokenizerFiles);
};

/** Random text mixing ASCII, accented Latin, CJK, emoji (surrogate pairs), whitespace runs, a BOM and special-token look-alikes. */
function randomText(length: number): string {
  const pool = ['a', 'Z', 'the', ' cat', ' ', '  ', '\n', '\n\n', '\r\n', '\t', '7', '123', "'s", 'é', 'ß', '中', '文', '😀', '🧮', '\u0000', '\uFEFF', '<', '|', '>', 'Ġ', '<|im_end|>', '<think>'];
  return Array.from({ length }, () => rng.pick(pool)).join('');
}

describe('HfTokenizer: a Qwen2-style byte-level BPE', async () => {
  const dir = writeDir({ 'tokenizer.json': qwenStyle().tokenizerJson, 'tokenizer_config.json': qwenStyle().tokenizerConfig, 'generation_config.json': qwenStyle().generationConfig });
  const tok = await loadHfTokenizer(dir);

  it('reads the vocabulary size, special tokens and eos ids of the three files', () => {
    expect(tok.vocabSize).toBe(272);
    expect(tok.specialTokens).toEqual({ eos: 270, pad: 268 }); // no bos_token: none is invented
    expect(tok.eosIds).toEqual([270, 268]); // generation_config.json's list
    expect(eosIdsOf(tok)).toEqual([270, 268]);
    expect(tok.specialTokenStrings).toEqual({ eos: '<|im_end|>', pad: '<|endoftext|>' });
    expect(tok.addBosToken).toBe(false);
    expect([268, 269, 270, 271, 100].map((id) => tok.isSpecial(id))).toEqual([true, true, true, false, false]);
    expect(tok.encode('the', { addBos: true, addEos: true })).toEqual([116, 257, 270]); // addBos: no bos to add
  });

  it('applies the merges (ids checked against the Rust tokenizers 0.22.2 library)', () => {
    const cases: [string, number[]][] = [
      ['the cat', [116, 257, 263]], // t he | Ġcat
      [' the in', [258, 260]], // Ġthe Ġin
      ['ok ok', [266, 267]],
      ['café', [99, 97, 102, 265]], // é = C3 A9 → "Ã©"
      ['a\n\n\nb', [97, 264, 10, 98]], // \n\n\n is one pre-token: ĊĊ Ċ
      ['123', [49, 50, 51]], // one digit per pre-token here
      ["it's", [105, 116, 39, 115]],
      ['', []],
    ];
    for (const [text, ids] of cases) {
      expect(tok.encode(text), JSON.stringify(text)).toEqual(ids);
      expect(tok.decode(ids), JSON.stringify(text)).toBe(text);
    }
    expect(tok.tokenToString(263)).toBe('Ġcat');
  });

  it('round-trips ASCII, Unicode and whitespace edge cases exactly', () => {
    const fixed = ['', ' ', '  ', '\n', ' \n ', '\t\t', '\r\n', 'trailing  ', '  leading', 'a  b', 'hello , world .', "don't", '中文 😀', '\u0000', '\uFEFFbom', 'e\u0301', 'Ġ'];
    for (const text of fixed) expect(tok.decode(tok.encode(text)), JSON.stringify(text)).toBe(text.normalize('NFC'));
    for (let i = 0; i < 200; i++) {
      const text = randomText(rng.int(0, 30));
      expect(tok.decode(tok.encode(text)), JSON.stringify(text)).toBe(text);
      expect(tok.decode(tok.encode(text, { allowSpecial: true })), JSON.stringify(text)).toBe(text);
    }
    expect(tok.decode([195, 104, 195])).toBe('\uFFFDh\uFFFD'); // invalid UTF-8 → U+FFFD
  });

  it('keeps each special token one id with allowSpecial, and plain text without', () => {
    const text = '<|im_start|>user\nhi<|im_end|>\n<|endoftext|>';
    expect(tok.encode(text, { allowSpecial: true })).toEqual([269, 117, 115, 101, 114, 10, 104, 105, 270, 10, 268]);
    const plain = tok.encode(text);
    expect(plain.some((id) => id >= 268)).toBe(false); // user text cannot inject control tokens
    expect(tok.decode(plain)).toBe(text);
    expect(tok.encode('a<think>b')).toEqual([97, 271, 98]); // a non-special added token is always split out
    expect(tok.decode([269, 104, 105, 270, 271])).toBe('<|im_start|>hi<|im_end|><think>');
    expect(tok.decode([269, 104, 105, 270, 271], { skipSpecial: true })).toBe('hi<think>');
    expect(tok.decode(new Int32Array([]))).toBe('');
    expect(() => tok.decode([272])).toThrow('decode: token id 272 at position 0 is not in the vocabulary (ids are integers in [0, 272))');
  });

  it('renders the ChatML template exactly, with and without the generation prompt', () => {
    const messages = [{ role: 'user', content: 'What is 2+3?' }, { role: 'assistant', content: '=5\n#### 5' }];
    const conversation = '<|im_start|>system\nYou solve problems step by step.<|im_end|>\n<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n=5\n#### 5<|im_end|>\n';
    expect(tok.applyChatTemplate(messages)).toBe(conversation);
    expect(tok.applyChatTemplate(messages.slice(0, 1), { addGenerationPrompt: true })).toBe('<|im_start|>system\nYou solve problems step by step.<|im_end|>\n<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n');
    expect(tok.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], { addGenerationPrompt: true }))
      .toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    expect(tok.applyChatTemplate(messages.slice(0, 1), { addGenerationPrompt: true, tools: [{ name: 'calc' }] })).toMatch(/<\|im_start\|>assistant\n\(tools: 1\)$/);
    const ids = tok.encodeChat(messages.slice(0, 1), { addGenerationPrompt: true });
    expect(ids[0]).toBe(269);
    expect(ids.filter((id) => id === 270)).toHaveLength(2); // two turns closed, each <|im_end|> one id
    expect(tok.decode(ids)).toBe(tok.applyChatTemplate(messages.slice(0, 1), { addGenerationPrompt: true }));
  });
});

describe('HfTokenizer: a Llama-3-style byte-level BPE with bos', () => {
  const f = llamaStyle();
  const tok = new HfTokenizer(f);

  it('reads bos, eos (an AddedToken object), the eos list, and that the post-processor adds bos', () => {
    expect(tok.vocabSize).toBe(269);
    expect(tok.specialTokens).toEqual({ bos: 264, eos: 268, pad: 268 }); // no pad_token: pad with eos
    expect(tok.eosIds).toEqual([265, 268]);
    expect(tok.addBosToken).toBe(true);
    expect(tok.encode('the cat', { addBos: true })).toEqual([264, 116, 257, 263]); // t he | Ġcat
  });

  it('groups up to three digits and merges them, and ignore_merges keeps whole vocabulary words', () => {
    expect(tok.encode('12345 the 123')).toEqual([260, 52, 53, 258, 32, 260]); // "123" "45" " the" " " "123"
    expect(tok.decode(tok.encode('12345 the 123'))).toBe('12345 the 123');
    // clean_up_tokenization_spaces is true in the config, but decode keeps the text exact.
    expect(tok.decode(tok.encode("a , b . c 's"))).toBe("a , b . c 's");
  });

  it('renders the Llama-3-style template with bos exactly, and picks the tool_use template for tools', () => {
    const messages = [{ role: 'system', content: 'Solve it.' }, { role: 'user', content: '  7+3?\n' }];
    const body = '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSolve it.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n7+3?<|eot_id|>';
    expect(tok.applyChatTemplate(messages)).toBe(body);
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe(`${body}<|start_header_id|>assistant<|end_header_id|>\n\n`);
    expect(tok.applyChatTemplate(messages, { tools: [{ name: 'f' }] })).toBe('<|begin_of_text|>tools=[{"name": "f"}]');
    expect(tok.applyChatTemplate(messages, { tools: [{ name: 'f' }], template: 'default' })).toBe(body);
    const ids = tok.encodeChat(messages, { addGenerationPrompt: true });
    expect(ids.filter((id) => id === 264)).toEqual([264]); // bos once: from the template, nothing added
    expect(ids.slice(0, 2)).toEqual([264, 266]);
  });
});

// The GPT-2-style fixture and the Rust-library ids that tested the hand-written BPE (bpe.ts),
// run through the library: the cases that tokenizer covered give the same ids here.
const GPT2_MERGES = ['Ġ t', 'h e', 'Ġt he', 'l l', 'e ll', 'Ġ c', 'a t', 'Ġc at', '1 2', 'Ã ©'];
function gpt2Style(edit: (json: Record<string, any>) => void = () => {}): HfTokenizer {
  const vocab: Record<string, number> = {};
  byteChars().forEach((c, b) => (vocab[c] = b));
  for (const m of GPT2_MERGES) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  const json = {
    version: '1.0', added_tokens: [added(266, '<|endoftext|>'), added(267, '<|step|>'), added(268, '<calc>', false)], normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }, post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [...GPT2_MERGES] },
  };
  edit(json);
  return new HfTokenizer({ tokenizerJson: json, tokenizerConfig: { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', pad_token: '<|endoftext|>', additional_special_tokens: ['<|step|>'] } });
}
describe('HfTokenizer: the GPT-2-style cases of the former hand-written BPE', () => {
  it('gives the ids of the Rust tokenizers library', () => {
    const tok = gpt2Style();
    const cases: [string, number[]][] = [
      ['the cat', [116, 257, 263]],
      ["hello the cat's 123 café", [257, 259, 111, 258, 263, 39, 115, 32, 264, 51, 261, 97, 102, 265]],
      ['  spaces\n\n new  ', [32, 32, 115, 112, 97, 99, 101, 115, 10, 10, 32, 110, 101, 119, 32, 32]],
      ['emoji 😀!', [101, 109, 111, 106, 105, 32, 240, 159, 152, 128, 33]],
      ['tell thee 1234', [116, 260, 258, 101, 32, 264, 51, 52]],
      ['x <calc> y', [120, 32, 268, 32, 121]],
      ['the<calc>the', [116, 257, 268, 116, 257]],
    ];
    for (const [text, ids] of cases) {
      expect(tok.encode(text), text).toEqual(ids);
      expect(tok.decode(ids), text).toBe(text);
    }
    expect(tok.specialTokens).toEqual({ bos: 266, eos: 266, pad: 266 });
    expect(tok.encode('a<|endoftext|>b<|step|>', { allowSpecial: true })).toEqual([97, 266, 98, 267]);
    expect(tok.decode([97, 266, 98, 267, 268], { skipSpecial: true })).toBe('ab<calc>');
    expect(tok.isSpecial(267)).toBe(true);
  });

  it('adds a prefix space per text piece and honours ignore_merges', () => {
    const prefixed = gpt2Style((j) => (j.pre_tokenizer.add_prefix_space = true));
    expect(prefixed.encode('the cat')).toEqual([258, 263]);
    expect(prefixed.encode('a<|endoftext|>b<|step|>', { allowSpecial: true })).toEqual([32, 97, 266, 32, 98, 267]);
    const whole = gpt2Style((j) => {
      j.model.vocab.cats = 269;
      j.model.ignore_merges = true;
    });
    expect(whole.encode('cats the cats')).toEqual([269, 258, 263, 115]);
  });
});

describe('HfTokenizer errors name the file and the field', () => {
  it('a missing or malformed file', async () => {
    const empty = writeDir({});
    await expect(loadHfTokenizer(empty)).rejects.toThrow(`${join(empty, 'tokenizer.json')}: not found`);
    const broken = writeDir({ 'tokenizer.json': '{"model": ', 'tokenizer_config.json': {} });
    await expect(loadHfTokenizer(broken)).rejects.toThrow(`${join(broken, 'tokenizer.json')}: not valid JSON`);
    const badConfig = writeDir({ 'tokenizer.json': qwenStyle().tokenizerJson, 'tokenizer_config.json': '{eos_token: 1}' });
    await expect(loadHfTokenizer(badConfig)).rejects.toThrow(`${join(badConfig, 'tokenizer_config.json')}: not valid JSON`);
    const q = qwenStyle();
    q.tokenizerConfig.eos_token = '</s>';
    const badEos = writeDir({ 'tokenizer.json': q.tokenizerJson, 'tokenizer_config.json': q.tokenizerConfig });
    await expect(loadHfTokenizer(badEos)).rejects.toThrow(`${join(badEos, 'tokenizer_config.json')}: eos_token "</s>" is not a token of ${join(badEos, 'tokenizer.json')}`);
  });

  it('a malformed tokenizer.json', () => {
    const bad = (edit: (j: Record<string, any>) => void) => () => build(qwenStyle(), (f) => edit(f.tokenizerJson));
    expect(bad((j) => delete j.model)).toThrow('tokenizer.json: model must be a JSON object, got undefined');
    expect(bad((j) => (j.model.type = 'Wordish'))).toThrow('tokenizer.json: model.type is "Wordish"; the tokenizer library supports BPE, WordPiece, Unigram');
    expect(bad((j) => (j.model.vocab = [1, 2]))).toThrow('tokenizer.json: model.vocab must be a JSON object, got a list');
    expect(bad((j) => (j.model.vocab.a = -1))).toThrow('tokenizer.json: model.vocab["a"] must be a token id (a non-negative integer), got -1');
    expect(bad((j) => j.model.merges.push('c ats'))).toThrow('tokenizer.json: model.merges[12] ("c ats") uses "ats", which is not in model.vocab');
    expect(bad((j) => (j.model.merges[0] = 'Ġt'))).toThrow('tokenizer.json: model.merges[0] must be "left right" or ["left", "right"], got "Ġt"');
    expect(bad((j) => (j.model.merges[3] = ['i', 'n']))).toThrow('tokenizer.json: model.merges mixes "left right" strings and ["left", "right"] pairs');
    expect(bad((j) => (j.pre_tokenizer.pretokenizers[0].type = 'Chop'))).toThrow('tokenizer.json: pre_tokenizer.pretokenizers[0].type is "Chop"; the tokenizer library supports');
    expect(bad((j) => (j.decoder = { kind: 'ByteLevel' }))).toThrow('tokenizer.json: decoder.type is undefined');
    expect(bad((j) => (j.added_tokens[1].id = 'x'))).toThrow('tokenizer.json: added_tokens[1].id must be a token id (a non-negative integer), got "x"');
    expect(bad((j) => (j.added_tokens[2].content = '<|im_start|>'))).toThrow('tokenizer.json: added_tokens[2].content "<|im_start|>" appears twice');
    expect(bad((j) => (j.pre_tokenizer.pretokenizers[0].pattern.Regex = '(?<=a'))).toThrow('tokenizer.json: the tokenizer library could not build it:');
  });

  it('a malformed tokenizer_config.json or generation_config.json', () => {
    const bad = (edit: (f: ReturnType<typeof qwenStyle>) => void) => () => build(qwenStyle(), edit);
    expect(bad((f) => (f.tokenizerConfig.pad_token = 7))).toThrow('tokenizer_config.json: pad_token must be a string or an object with a string "content", got number');
    expect(bad((f) => (f.tokenizerConfig.added_tokens_decoder['270'].content = '<|im_stop|>'))).toThrow('tokenizer_config.json: added_tokens_decoder["270"].content is "<|im_stop|>" but tokenizer.json added_tokens gives id 270 to "<|im_end|>"');
    expect(bad((f) => (f.tokenizerConfig.chat_template = { default: 'x' }))).toThrow('tokenizer_config.json: chat_template must be a string or a list of {"name", "template"}, got object');
    expect(bad((f) => (f.tokenizerConfig.chat_template = [{ name: 'default' }]))).toThrow('tokenizer_config.json: chat_template[0].template must be a string');
    expect(bad((f) => (f.tokenizerConfig.add_bos_token = 'yes'))).toThrow('tokenizer_config.json: add_bos_token must be true or false, got "yes"');
    expect(bad((f) => (f.generationConfig.eos_token_id = [270, '268']))).toThrow('generation_config.json: eos_token_id[1] must be a token id (a non-negative integer), got "268"');
    expect(bad((f) => (f.generationConfig.eos_token_id = 999))).toThrow('generation_config.json: eos_token_id = 999 is not in the vocabulary of tokenizer.json (ids < 272)');
    expect(bad((f) => {
      delete f.tokenizerConfig.eos_token;
      f.generationConfig = {};
    })).toThrow('tokenizer_config.json: no eos_token, and no generation_config.json eos_token_id either');
    // eos from generation_config.json alone is enough
    expect(build(qwenStyle(), (f) => delete f.tokenizerConfig.eos_token).specialTokens.eos).toBe(270);
  });

  it('a chat template that is missing, does not parse or fails to render', () => {
    const messages = [{ role: 'user', content: 'hi' }];
    expect(() => build(qwenStyle(), (f) => delete f.tokenizerConfig.chat_template).applyChatTemplate(messages))
      .toThrow('tokenizer_config.json: chat_template is missing (and there is no chat_template.jinja): this tokenizer has no chat template; render the problem as raw text instead');
    expect(() => build(qwenStyle(), (f) => (f.tokenizerConfig.chat_template = '{% for m in messages %}{{ m.content }}')).applyChatTemplate(messages))
      .toThrow('tokenizer_config.json: chat_template does not parse:');
    expect(() => build(qwenStyle()).applyChatTemplate([{ role: 'tool', content: '4' }]))
      .toThrow('tokenizer_config.json: chat_template failed to render: roles must be user or assistant, got tool');
    expect(() => new HfTokenizer(llamaStyle()).applyChatTemplate(messages, { template: 'rag' }))
      .toThrow('tokenizer_config.json: chat_template has no template named "rag" (it has "default", "tool_use")');
    expect(() => new HfTokenizer(llamaStyle()).applyChatTemplate(messages, { template: 'tool_use', variables: { tools: 1n } }))
      .toThrow('tokenizer_config.json: chat_template[1] ("tool_use") failed to render:');
  });

  it('chat_template.jinja overrides the config template, and its errors name it', async () => {
    const q = qwenStyle();
    const dir = writeDir({ 'tokenizer.json': q.tokenizerJson, 'tokenizer_config.json': q.tokenizerConfig, 'chat_template.jinja': '{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if x %}' });
    const tok = await loadHfTokenizer(dir);
    expect(() => tok.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(`${join(dir, 'chat_template.jinja')}: the template does not parse:`);
  });

  it('checkVocab: the embedding must have a row for every token id', () => {
    const tok = build(qwenStyle());
    expect(() => checkVocab(tok, 272, 'model.safetensors')).not.toThrow();
    expect(() => checkVocab(tok, 384, 'model.safetensors')).not.toThrow(); // padded embedding
    expect(() => checkVocab(tok, 259, 'runs/sft/model.safetensors')).toThrow('runs/sft/model.safetensors: the embedding has 259 rows but the tokenizer has 272 token ids; ids 259…271 would index outside it');
    expect(() => checkVocab(tok, 0, 'x.safetensors')).toThrow("x.safetensors: the embedding's row count must be a positive integer, got 0");
  });
});

// Tiny checkpoints with tokenizer files in test/fixtures/hf (made by scripts/hf, see
// docs/hf-goldens.md): each directory loads, and reproduces tokenizer-goldens.json (ids computed
// by an independent Python BPE, chat renders by Jinja2 as transformers does); checkVocab passes
// against config.json's vocab_size (the embedding rows, which may exceed the tokenizer's ids).
const fixtureRoot = join(import.meta.dirname, 'fixtures', 'hf');
const fixtureDirs = existsSync(fixtureRoot)
  ? readdirSync(fixtureRoot, { withFileTypes: true }).filter((e) => e.isDirectory() && existsSync(join(fixtureRoot, e.name, 'tokenizer.json'))).map((e) => e.name).sort()
  : [];
interface TokenizerGoldens {
  texts: { text: string; ids: number[]; ids_allow_special: number[] }[];
  chat: { messages: { role: string; content: string }[]; add_generation_prompt: boolean; rendered: string; ids: number[] }[];
  special_tokens: Record<string, number>;
  tokenizer_vocab_size: number;
}
const goldensFile = join(fixtureRoot, 'tokenizer-goldens.json');
const goldens = existsSync(goldensFile) ? (JSON.parse(readFileSync(goldensFile, 'utf8')) as TokenizerGoldens) : undefined;
describe.runIf(fixtureDirs.length > 0)('tokenizer files of the checkpoints in test/fixtures/hf', () => {
  it.each(fixtureDirs)('%s', async (name) => {
    const dir = join(fixtureRoot, name);
    const tok = await loadHfTokenizer(dir);
    for (const id of [...tok.eosIds, tok.specialTokens.pad]) expect(id).toBeLessThan(tok.vocabSize);
    const configFile = join(dir, 'config.json');
    if (existsSync(configFile)) checkVocab(tok, (JSON.parse(readFileSync(configFile, 'utf8')) as { vocab_size: number }).vocab_size, configFile);
    for (const text of ['What is 7 + 35?', ' leading and  double  spaces\n\nnew lines\t', 'café 中文 😀', '<|im_start|>']) {
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
    for (const content of Object.values(tok.specialTokenStrings)) expect(tok.encode(content!, { allowSpecial: true })).toHaveLength(1);
    if (goldens) {
      expect(tok.vocabSize).toBe(goldens.tokenizer_vocab_size);
      for (const [content, id] of Object.entries(goldens.special_tokens)) {
        expect(tok.encode(content, { allowSpecial: true })).toEqual([id]);
        expect(tok.isSpecial(id)).toBe(true);
      }
      for (const g of goldens.texts) {
        expect(tok.encode(g.text), JSON.stringify(g.text)).toEqual(g.ids);
        expect(tok.encode(g.text, { allowSpecial: true }), JSON.stringify(g.text)).toEqual(g.ids_allow_special);
        expect(tok.decode(g.ids)).toBe(g.text);
      }
      for (const g of goldens.chat) {
        expect(tok.applyChatTemplate(g.messages, { addGenerationPrompt: g.add_generation_prompt })).toBe(g.rendered);
        expect(tok.encodeChat(g.messages, { addGenerationPrompt: g.add_generation_prompt })).toEqual(g.ids);
      }
    }
  });
});
