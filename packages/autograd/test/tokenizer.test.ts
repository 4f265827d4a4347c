import { describe, expect, it } from 'vitest';
import { SeededRandom } from '@repirl/kernels/testing';
import { ByteTokenizer } from '../src/tokenizer/byte.js';

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
