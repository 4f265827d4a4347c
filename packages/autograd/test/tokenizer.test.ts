import { describe, expect, it } from 'vitest';
import { SeededRandom } from '@repirl/kernels/testing';
import { BpeTokenizer } from '../src/tokenizer/bpe.js';
import { ByteTokenizer } from '../src/tokenizer/byte.js';
import type { Tokenizer } from '../src/tokenizer/tokenizer.js';

const rng = new SeededRandom(17);
const bytesOf = (s: string) => [...new TextEncoder().encode(s)];

/** Random text mixing ASCII, accented Latin, CJK, emoji (surrogate pairs), whitespace and a BOM. */
function randomText(length: number): string {
  const pool = ['a', 'Z', ' ', '\n', '\t', '7', "'", 'é', 'ß', '中', '文', '😀', '🧮', '\u0000', '\uFEFF', '<', '|', '>', 'Ġ'];
  return Array.from({ length }, () => rng.pick(pool)).join('');
}

describe('ByteTokenizer', () => {
  const tok = new ByteTokenizer();

  it('uses UTF-8 bytes as ids and puts bos, eos and pad after them', () => {
    expect(tok.vocabSize).toBe(259);
    expect(tok.specialTokens).toEqual({ bos: 256, eos: 257, pad: 258 });
    expect(tok.encode('hi')).toEqual([104, 105]);
    expect(tok.encode('é😀')).toEqual([0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80]);
    expect(tok.encode('')).toEqual([]);
    expect(tok.encode('hi', { addBos: true, addEos: true })).toEqual([256, 104, 105, 257]);
    const extra = new ByteTokenizer({ extraSpecialTokens: ['step', 'answer'] });
    expect(extra.vocabSize).toBe(261);
    expect(extra.specialTokens).toEqual({ bos: 256, eos: 257, pad: 258, step: 259, answer: 260 });
  });

  it('reads special-token strings in the text only when allowSpecial is set', () => {
    const text = 'a<|eos|>b<|pad|>';
    expect(tok.encode(text)).toEqual(bytesOf(text)); // user text cannot inject control tokens
    expect(tok.encode(text, { allowSpecial: true })).toEqual([97, 257, 98, 258]);
    expect(tok.encode('<|step|><|eos|', { allowSpecial: true })).toEqual(bytesOf('<|step|><|eos|')); // not specials here
    const steps = new ByteTokenizer({ extraSpecialTokens: ['step'] });
    expect(steps.encode('1+1=2<|step|>2+2=4', { allowSpecial: true, addEos: true })).toEqual([...bytesOf('1+1=2'), 259, ...bytesOf('2+2=4'), 257]);
  });

  it('decodes back to the same text, writing or skipping specials', () => {
    for (let i = 0; i < 50; i++) {
      const text = randomText(rng.int(0, 40));
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
    expect(tok.decode(new Int32Array([256, 104, 105, 257]))).toBe('<|bos|>hi<|eos|>');
    expect(tok.decode([256, 104, 105, 257, 258, 258], { skipSpecial: true })).toBe('hi');
    expect(tok.decode(tok.encode('\uFEFFbom'))).toBe('\uFEFFbom'); // a leading byte-order mark is text, not dropped
  });

  it('decodes invalid UTF-8 to U+FFFD instead of failing', () => {
    expect(tok.decode([0xff, 104])).toBe('\uFFFDh');
    expect(tok.decode([0xe2, 0x82])).toBe('\uFFFD'); // truncated 3-byte sequence: one replacement
    expect(tok.decode([0xc3, 0xa9, 0xa9])).toBe('é\uFFFD'); // stray continuation byte
    expect(tok.decode([0xed, 0xa0, 0x80])).toBe('\uFFFD\uFFFD\uFFFD'); // encoded surrogate is invalid UTF-8
    // A written special token interrupts a sequence; a skipped one is simply removed.
    expect(tok.decode([0xc3, 257, 0xa9])).toBe('\uFFFD<|eos|>\uFFFD');
    expect(tok.decode([0xc3, 257, 0xa9], { skipSpecial: true })).toBe('é');
  });

  it('names the bad id or option', () => {
    expect(() => tok.decode([104, 300])).toThrow('decode: token id 300 at position 1 is not in the vocabulary (ids are integers in [0, 259))');
    expect(() => tok.decode([1.5])).toThrow('token id 1.5 at position 0');
    expect(() => tok.decode([-1])).toThrow('token id -1 at position 0');
    expect(() => new ByteTokenizer({ extraSpecialTokens: ['Step!'] })).toThrow('ByteTokenizer: extraSpecialTokens[0] = "Step!" must be lowercase letters, digits or \'_\'');
    expect(() => new ByteTokenizer({ extraSpecialTokens: ['eos'] })).toThrow("special token 'eos' is given twice");
    expect(() => tok.encode(42 as unknown as string)).toThrow('ByteTokenizer.encode: text must be a string, got number');
  });

  it('shows tokens readably and knows which are special', () => {
    expect([104, 32, 10, 0xc3, 257].map((id) => tok.tokenToString(id))).toEqual(['h', ' ', '<0x0A>', '<0xC3>', '<|eos|>']);
    expect([0, 255, 256, 258, 259].map((id) => tok.isSpecial(id))).toEqual([false, false, true, true, false]);
  });
});

// A tiny byte-level BPE in the Hugging Face tokenizer.json format, built here from the format's
// definition: ids 0–255 are the byte characters (GPT-2's byte-to-unicode table: printable Latin-1
// bytes stand for themselves, the other 68 bytes become U+0100, U+0101, … in byte order), then
// one vocabulary entry per merge, then three added tokens.
function gpt2ByteChars(): string[] {
  const printable = [...range(0x21, 0x7e), ...range(0xa1, 0xac), ...range(0xae, 0xff)];
  const chars: string[] = [];
  let next = 0x100;
  for (let b = 0; b < 256; b++) chars.push(String.fromCodePoint(printable.includes(b) ? b : next++));
  return chars;
}
function range(lo: number, hi: number): number[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}
const MERGES = ['Ġ t', 'h e', 'Ġt he', 'l l', 'e ll', 'Ġ c', 'a t', 'Ġc at', '1 2', 'Ã ©']; // new ids 256…265
function tinyTokenizerJson(edit: (json: Record<string, any>) => void = () => {}): Record<string, any> {
  const vocab: Record<string, number> = {};
  gpt2ByteChars().forEach((c, b) => (vocab[c] = b));
  for (const m of MERGES) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  const added = (id: number, content: string, special: boolean) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special });
  const json = {
    version: '1.0',
    added_tokens: [added(266, '<|endoftext|>', true), added(267, '<|step|>', true), added(268, '<calc>', false)],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [...MERGES] },
  };
  edit(json);
  return json;
}
const specials = { bos: '<|endoftext|>', eos: '<|endoftext|>', pad: '<|endoftext|>', step: '<|step|>' };

describe('BpeTokenizer (byte-level BPE from tokenizer.json)', () => {
  const tok: Tokenizer = BpeTokenizer.fromTokenizerJson(tinyTokenizerJson(), { specialTokens: specials });

  it('gives the ids the Hugging Face library gives', () => {
    // Expected ids from `tokenizers` 0.22.2 (Tokenizer.from_str of this JSON, encode without
    // special tokens) when this test was written. By hand, e.g. " cat" → Ġ c a t → "Ġ c" (rank 5)
    // → Ġc a t → "a t" (rank 6) → Ġc at → "Ġc at" (rank 7) → Ġcat = 263; "the" → t h e → t he = [116, 257].
    const cases: [string, number[]][] = [
      ['the cat', [116, 257, 263]],
      ["hello the cat's 123 café", [257, 259, 111, 258, 263, 39, 115, 32, 264, 51, 261, 97, 102, 265]],
      ['  spaces\n\n new  ', [32, 32, 115, 112, 97, 99, 101, 115, 10, 10, 32, 110, 101, 119, 32, 32]],
      ['emoji 😀!', [101, 109, 111, 106, 105, 32, 240, 159, 152, 128, 33]],
      ['tell thee 1234', [116, 260, 258, 101, 32, 264, 51, 52]],
      ['x <calc> y', [120, 32, 268, 32, 121]], // a non-special added token is always split out
      ['the<calc>the', [116, 257, 268, 116, 257]],
      ['', []],
    ];
    for (const [text, ids] of cases) {
      expect(tok.encode(text), text).toEqual(ids);
      expect(tok.decode(ids), text).toBe(text);
    }
    expect(tok.vocabSize).toBe(269);
    expect(tok.specialTokens).toEqual({ bos: 266, eos: 266, pad: 266, step: 267 });
  });

  it('splits out special tokens only with allowSpecial, and adds bos/eos on request', () => {
    const text = 'a<|endoftext|>b<|step|>';
    expect(tok.encode(text, { allowSpecial: true })).toEqual([97, 266, 98, 267]);
    const plain = tok.encode(text);
    expect(plain).not.toContain(266);
    expect(tok.decode(plain)).toBe(text);
    expect(tok.encode('the', { addBos: true, addEos: true })).toEqual([266, 116, 257, 266]);
    expect(tok.decode([97, 266, 98, 267])).toBe(text);
    expect(tok.decode([97, 266, 98, 267], { skipSpecial: true })).toBe('ab');
    expect(tok.decode([97, 268, 98], { skipSpecial: true })).toBe('a<calc>b'); // not special: kept
    expect(tok.isSpecial(266)).toBe(true);
    expect(tok.isSpecial(268)).toBe(false);
    expect(tok.tokenToString!(263)).toBe('Ġcat');
  });

  it('adds a prefix space per text piece and honours ignore_merges, like the library', () => {
    const prefixed = BpeTokenizer.fromTokenizerJson(tinyTokenizerJson((j) => (j.pre_tokenizer.add_prefix_space = true)), { specialTokens: specials });
    expect(prefixed.encode('the cat')).toEqual([258, 263]);
    expect(prefixed.encode('a<|endoftext|>b<|step|>', { allowSpecial: true })).toEqual([32, 97, 266, 32, 98, 267]);
    const whole = BpeTokenizer.fromTokenizerJson(tinyTokenizerJson((j) => {
      j.model.vocab.cats = 269; // reachable only as a whole word
      j.model.ignore_merges = true;
    }), { specialTokens: specials });
    expect(whole.encode('cats the cats')).toEqual([269, 258, 263, 115]);
  });

  it('round-trips arbitrary text and decodes invalid UTF-8 to U+FFFD', () => {
    for (let i = 0; i < 50; i++) {
      const text = randomText(rng.int(0, 40));
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
    expect(tok.decode([195, 104, 195])).toBe('\uFFFDh\uFFFD');
    expect(() => tok.decode([269])).toThrow('token id 269 at position 0 is not in the vocabulary');
  });

  it('refuses tokenizer.json files it would tokenize differently, naming the field', () => {
    const load = (edit: (j: Record<string, any>) => void, names: Record<string, string> = specials) => () =>
      BpeTokenizer.fromTokenizerJson(tinyTokenizerJson(edit), { specialTokens: names as typeof specials });
    expect(load((j) => (j.model.type = 'WordPiece'))).toThrow('tokenizer.json: model.type is "WordPiece"; only byte-level "BPE" is supported');
    expect(load((j) => (j.normalizer = { type: 'NFC' }))).toThrow('tokenizer.json: normalizer "NFC" is not supported');
    expect(load((j) => (j.pre_tokenizer = { type: 'Metaspace' }))).toThrow('pre_tokenizer.type is "Metaspace"');
    expect(load((j) => delete j.model.vocab['Ċ'])).toThrow('model.vocab has no token for byte 0x0a ("Ċ")');
    expect(load((j) => j.model.merges.push('c ats'))).toThrow('model.merges[10] ("c ats") uses "ats", which is not in model.vocab');
    expect(load((j) => (j.model.merges[0] = 'Ġt'))).toThrow('model.merges[0] must be "left right" or ["left", "right"], got "Ġt"');
    expect(load((j) => (j.added_tokens[0].lstrip = true))).toThrow('added_tokens[0] ("<|endoftext|>") sets lstrip, which is not supported');
    expect(load((j) => (j.added_tokens[2].id = 5))).toThrow(`id 5 is used by both ${JSON.stringify(gpt2ByteChars()[5])} and "<calc>"`);
    expect(load(() => {}, { bos: '<s>', eos: '</s>', pad: '<pad>' })).toThrow('tokenizer.json: special token bos = "<s>" is not in the vocabulary; added tokens are "<|endoftext|>", "<|step|>", "<calc>"');
    // Merges may also be given as pairs (the newer format).
    const pairs = BpeTokenizer.fromTokenizerJson(tinyTokenizerJson((j) => (j.model.merges = MERGES.map((m) => m.split(' ')))), { specialTokens: specials });
    expect(pairs.encode('the cat')).toEqual([116, 257, 263]);
  });
});
