// A byte-level BPE tokenizer built from a Hugging Face `tokenizer.json` object, GPT-2 style:
//
//   1. added tokens are split out of the text first: special ones (`"special": true`) only with
//      allowSpecial, the others always (as the Hugging Face library does);
//   2. each remaining piece is pre-tokenized by the GPT-2 regex (words with their leading space,
//      numbers, punctuation, whitespace runs), and its UTF-8 bytes are written as printable
//      characters with GPT-2's byte-to-unicode table (space → 'Ġ', newline → 'Ċ', …);
//   3. each word is merged pair by pair, always the pair whose merge comes first in `merges`,
//      and the resulting strings are looked up in `vocab`.
//
// Decoding maps the token strings back through the table to bytes and decodes UTF-8 (invalid
// sequences → U+FFFD). Supported: "model": {"type": "BPE", vocab, merges (strings "a b" or
// pairs), ignore_merges}, "pre_tokenizer": {"type": "ByteLevel", add_prefix_space, use_regex},
// no normalizer. Anything else (other models, normalizers, Split/Sequence pre-tokenizers as used
// by Llama 3 or Qwen, dropout, byte_fallback) is refused with an error naming the field, rather
// than tokenized differently from the library. The post-processor is ignored: BOS/EOS come from
// encode's addBos/addEos.
import {
  checkTokenIds, splitOnTokens, utf8Decoder, utf8Encoder, type DecodeOptions, type EncodeOptions, type SpecialTokens,
  type Tokenizer,
} from './tokenizer.js';

/** Which added tokens (by their text) play bos, eos, pad, and any other named role. */
export interface BpeSpecialTokenNames {
  bos: string;
  eos: string;
  pad: string;
  [name: string]: string;
}

// GPT-2's table: printable Latin-1 bytes stand for themselves, the other 68 bytes get the code
// points 256, 257, … in byte order. Every character is one UTF-16 unit.
const BYTE_TO_CHAR: string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : next++));
})();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

// The GPT-2 pre-tokenizer pattern, as in the ByteLevel pre-tokenizer with use_regex: true.
const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const CACHE_LIMIT = 50_000;

interface Parsed {
  vocab: Map<string, number>;
  mergeRanks: Map<string, number>;
  ignoreMerges: boolean;
  addPrefixSpace: boolean;
  useRegex: boolean;
  added: { id: number; content: string; special: boolean }[];
}

export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly specialTokens: SpecialTokens;
  private readonly idToToken: (string | undefined)[] = [];
  private readonly specialIds = new Set<number>();
  /** Added tokens that are not special: always split out of the text. */
  private readonly plainAdded = new Map<string, number>();
  /** All added tokens: split out with allowSpecial. */
  private readonly allAdded = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();

  private constructor(private readonly p: Parsed, names: BpeSpecialTokenNames) {
    for (const [token, id] of p.vocab) this.idToToken[id] = token;
    for (const a of p.added) {
      this.idToToken[a.id] = a.content;
      this.allAdded.set(a.content, a.id);
      if (a.special) this.specialIds.add(a.id);
      else this.plainAdded.set(a.content, a.id);
    }
    this.vocabSize = this.idToToken.length;

    if (typeof names !== 'object' || names === null) throw new Error('tokenizer.json: options.specialTokens must name the bos, eos and pad tokens, e.g. { bos: "<|endoftext|>", eos: "<|endoftext|>", pad: "<|endoftext|>" }');
    const roles: [string, number][] = [];
    for (const role of ['bos', 'eos', 'pad', ...Object.keys(names).filter((k) => !['bos', 'eos', 'pad'].includes(k))]) {
      const content = names[role];
      const id = typeof content === 'string' ? this.allAdded.get(content) ?? p.vocab.get(content) : undefined;
      if (id === undefined) {
        const known = p.added.map((a) => JSON.stringify(a.content)).join(', ') || 'none';
        throw new Error(`tokenizer.json: special token ${role} = ${JSON.stringify(content)} is not in the vocabulary; added tokens are ${known}`);
      }
      roles.push([role, id]);
    }
    this.specialTokens = Object.freeze(Object.fromEntries(roles)) as SpecialTokens;
  }

  /** Builds the tokenizer from a parsed tokenizer.json (e.g. JSON.parse of the file's text). */
  static fromTokenizerJson(json: unknown, options: { specialTokens: BpeSpecialTokenNames }): BpeTokenizer {
    return new BpeTokenizer(parseTokenizerJson(json), options?.specialTokens);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new Error(`BpeTokenizer.encode: text must be a string, got ${typeof text}`);
    const ids: number[] = [];
    if (options.addBos && this.specialTokens.bos !== undefined) ids.push(this.specialTokens.bos);
    for (const piece of splitOnTokens(text, options.allowSpecial ? this.allAdded : this.plainAdded)) {
      if (typeof piece === 'number') ids.push(piece);
      else for (const word of this.preTokenize(piece)) ids.push(...this.bpe(word));
    }
    if (options.addEos) ids.push(this.specialTokens.eos);
    return ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    checkTokenIds(ids, this.vocabSize);
    let text = '';
    let bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const token = this.idToToken[id];
      if (token === undefined) throw new Error(`decode: token id ${id} at position ${i} has no token in this vocabulary (a gap in its ids)`);
      if (this.allAdded.get(token) === id) {
        // Added tokens are raw text, not byte-level strings; skipped ones are simply removed.
        if (options.skipSpecial && this.specialIds.has(id)) continue;
        text += utf8Decoder.decode(Uint8Array.from(bytes)) + token;
        bytes = [];
        continue;
      }
      for (const c of token) {
        const b = CHAR_TO_BYTE.get(c);
        // A vocab entry outside the byte alphabet cannot come from the merges; write it as text.
        if (b === undefined) bytes.push(...utf8Encoder.encode(c));
        else bytes.push(b);
      }
    }
    return text + utf8Decoder.decode(Uint8Array.from(bytes));
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** The vocabulary string (byte-level form, e.g. "Ġthe") or the added token's text. */
  tokenToString(id: number): string {
    checkTokenIds([id], this.vocabSize);
    const token = this.idToToken[id];
    if (token === undefined) throw new Error(`tokenToString: id ${id} has no token in this vocabulary`);
    return token;
  }

  /** Words in byte-level form. */
  private preTokenize(text: string): string[] {
    if (this.p.addPrefixSpace && !text.startsWith(' ')) text = ' ' + text;
    const words = this.p.useRegex ? text.match(GPT2_PATTERN) ?? [] : [text];
    return words.map((w) => Array.from(utf8Encoder.encode(w), (b) => BYTE_TO_CHAR[b]!).join(''));
  }

  private bpe(word: string): number[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const whole = this.p.vocab.get(word);
    let ids: number[];
    if (this.p.ignoreMerges && whole !== undefined) ids = [whole];
    else {
      let parts = [...word]; // one byte-character each
      for (;;) {
        // The adjacent pair whose merge is listed first…
        let bestRank = Infinity;
        let best = -1;
        for (let i = 0; i + 1 < parts.length; i++) {
          const rank = this.p.mergeRanks.get(pairKey(parts[i]!, parts[i + 1]!));
          if (rank !== undefined && rank < bestRank) {
            bestRank = rank;
            best = i;
          }
        }
        if (best < 0) break;
        // …merged everywhere it occurs, left to right.
        const [a, b] = [parts[best]!, parts[best + 1]!];
        const merged: string[] = [];
        for (let i = 0; i < parts.length; i++) {
          if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) {
            merged.push(a + b);
            i++;
          } else merged.push(parts[i]!);
        }
        parts = merged;
      }
      ids = parts.map((part) => this.p.vocab.get(part)!); // present: checked when the merges were loaded
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }
}

function pairKey(a: string, b: string): string {
  return `${a}\u0000${b}`; // NUL never occurs in byte-level tokens (byte 0 is written 'Ā')
}

function parseTokenizerJson(json: unknown): Parsed {
  const fail = (message: string): never => {
    throw new Error(`tokenizer.json: ${message}`);
  };
  const obj = (value: unknown, field: string): Record<string, unknown> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${field} must be an object`);
    return value as Record<string, unknown>;
  };
  const root = obj(json, 'the top level');
  const model = obj(root.model, '"model"');
  if (model.type !== 'BPE') fail(`model.type is ${JSON.stringify(model.type)}; only byte-level "BPE" is supported`);
  if (model.dropout !== undefined && model.dropout !== null) fail('model.dropout is set; BPE dropout is not supported (use null)');
  if (model.byte_fallback === true) fail('model.byte_fallback is true; that is a SentencePiece-style BPE, not byte-level, and is not supported');
  for (const field of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (model[field] !== undefined && model[field] !== null && model[field] !== '') fail(`model.${field} is ${JSON.stringify(model[field])}; only byte-level BPE without it is supported`);
  }
  if (root.normalizer !== undefined && root.normalizer !== null) fail(`normalizer ${JSON.stringify((root.normalizer as { type?: unknown }).type)} is not supported (only none)`);
  const pre = obj(root.pre_tokenizer, '"pre_tokenizer"');
  if (pre.type !== 'ByteLevel') fail(`pre_tokenizer.type is ${JSON.stringify(pre.type)}; only "ByteLevel" is supported`);

  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(obj(model.vocab, 'model.vocab'))) {
    if (!Number.isInteger(id) || (id as number) < 0) fail(`model.vocab[${JSON.stringify(token)}] must be a non-negative integer id, got ${JSON.stringify(id)}`);
    vocab.set(token, id as number);
  }
  BYTE_TO_CHAR.forEach((c, b) => {
    if (!vocab.has(c)) fail(`model.vocab has no token for byte 0x${b.toString(16).padStart(2, '0')} (${JSON.stringify(c)}), so a byte-level BPE could not encode every text`);
  });

  if (!Array.isArray(model.merges)) fail('model.merges must be an array');
  const mergeRanks = new Map<string, number>();
  (model.merges as unknown[]).forEach((merge, rank) => {
    const pair = typeof merge === 'string' ? merge.split(' ') : merge;
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      fail(`model.merges[${rank}] must be "left right" or ["left", "right"], got ${JSON.stringify(merge)}`);
    }
    const [a, b] = pair as [string, string];
    for (const part of [a, b, a + b]) if (!vocab.has(part)) fail(`model.merges[${rank}] (${JSON.stringify(merge)}) uses ${JSON.stringify(part)}, which is not in model.vocab`);
    const key = pairKey(a, b);
    if (!mergeRanks.has(key)) mergeRanks.set(key, rank); // the first listing wins, as in the library
  });

  const added: Parsed['added'] = [];
  const addedList = root.added_tokens ?? [];
  if (!Array.isArray(addedList)) fail('added_tokens must be an array');
  (addedList as unknown[]).forEach((raw, i) => {
    const t = obj(raw, `added_tokens[${i}]`);
    if (!Number.isInteger(t.id) || (t.id as number) < 0) fail(`added_tokens[${i}].id must be a non-negative integer`);
    if (typeof t.content !== 'string' || t.content === '') fail(`added_tokens[${i}].content must be a non-empty string`);
    for (const flag of ['single_word', 'lstrip', 'rstrip'] as const) {
      if (t[flag] === true) fail(`added_tokens[${i}] (${JSON.stringify(t.content)}) sets ${flag}, which is not supported`);
    }
    const inVocab = vocab.get(t.content as string);
    if (inVocab !== undefined && inVocab !== t.id) fail(`added_tokens[${i}] (${JSON.stringify(t.content)}) has id ${t.id} but model.vocab gives it ${inVocab}`);
    added.push({ id: t.id as number, content: t.content as string, special: t.special === true });
  });
  const owner = new Map<number, string>();
  for (const [token, id] of [...vocab, ...added.map((a) => [a.content, a.id] as const)]) {
    const other = owner.get(id);
    if (other !== undefined && other !== token) fail(`id ${id} is used by both ${JSON.stringify(other)} and ${JSON.stringify(token)}`);
    owner.set(id, token);
  }

  return {
    vocab,
    mergeRanks,
    ignoreMerges: model.ignore_merges === true,
    addPrefixSpace: pre.add_prefix_space === true,
    useRegex: pre.use_regex !== false,
    added,
  };
}
