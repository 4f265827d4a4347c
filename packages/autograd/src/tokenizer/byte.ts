// The default tokenizer: one token per byte of the UTF-8 encoding, so any text works and no
// vocabulary file is needed. Ids:
//
//   0–255   the byte values
//   256     <|bos|>   beginning of sequence
//   257     <|eos|>   end of sequence (generation stops here)
//   258     <|pad|>   padding (masked out of losses)
//   259…    extra special tokens in the order given, e.g. extraSpecialTokens: ['step'] makes
//           <|step|> = 259 (a step separator for process reward models)
import {
  checkTokenIds, splitOnTokens, utf8Decoder, utf8Encoder, type DecodeOptions, type EncodeOptions, type SpecialTokens,
  type Tokenizer,
} from './tokenizer.js';

export interface ByteTokenizerOptions {
  /** Names of extra special tokens (lowercase letters, digits, '_'), given ids 259, 260, … */
  extraSpecialTokens?: readonly string[];
}

export class ByteTokenizer implements Tokenizer {
  static readonly BOS = 256;
  static readonly EOS = 257;
  static readonly PAD = 258;

  readonly vocabSize: number;
  /** bos, eos and pad always exist here. */
  readonly specialTokens: SpecialTokens & { readonly bos: number };
  /** Special token text → id, e.g. "<|eos|>" → 257. */
  private readonly specialIds: Map<string, number>;
  /** Special token id − 256 → text. */
  private readonly specialTexts: string[];

  constructor(options: ByteTokenizerOptions = {}) {
    const names = ['bos', 'eos', 'pad', ...(options.extraSpecialTokens ?? [])];
    names.forEach((name, i) => {
      if (typeof name !== 'string' || !/^[a-z0-9_]+$/.test(name)) {
        throw new Error(`ByteTokenizer: extraSpecialTokens[${i - 3}] = ${JSON.stringify(name)} must be lowercase letters, digits or '_' (it becomes <|name|>)`);
      }
      if (names.indexOf(name) !== i) throw new Error(`ByteTokenizer: special token '${name}' is given twice (bos, eos and pad always exist)`);
    });
    this.specialTexts = names.map((name) => `<|${name}|>`);
    this.specialIds = new Map(this.specialTexts.map((text, i) => [text, 256 + i]));
    this.specialTokens = Object.freeze(Object.fromEntries(names.map((name, i) => [name, 256 + i]))) as SpecialTokens & { readonly bos: number };
    this.vocabSize = 256 + names.length;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new Error(`ByteTokenizer.encode: text must be a string, got ${typeof text}`);
    const ids: number[] = [];
    if (options.addBos) ids.push(ByteTokenizer.BOS);
    const pieces = options.allowSpecial ? splitOnTokens(text, this.specialIds) : [text];
    for (const piece of pieces) {
      if (typeof piece === 'number') ids.push(piece);
      else for (const byte of utf8Encoder.encode(piece)) ids.push(byte);
    }
    if (options.addEos) ids.push(ByteTokenizer.EOS);
    return ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    checkTokenIds(ids, this.vocabSize);
    let text = '';
    let bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id < 256) {
        bytes.push(id);
        continue;
      }
      // A skipped special token is simply removed; a written one ends the byte run, so an
      // incomplete UTF-8 sequence before it becomes U+FFFD (as in the Hugging Face library).
      if (options.skipSpecial) continue;
      text += utf8Decoder.decode(Uint8Array.from(bytes)) + this.specialTexts[id - 256]!;
      bytes = [];
    }
    return text + utf8Decoder.decode(Uint8Array.from(bytes));
  }

  isSpecial(id: number): boolean {
    return Number.isInteger(id) && id >= 256 && id < this.vocabSize;
  }

  /** Printable ASCII as itself, other bytes as <0xNN>, special tokens as <|name|>. */
  tokenToString(id: number): string {
    checkTokenIds([id], this.vocabSize);
    if (id >= 256) return this.specialTexts[id - 256]!;
    if (id >= 0x20 && id <= 0x7e) return String.fromCharCode(id);
    return `<0x${id.toString(16).toUpperCase().padStart(2, '0')}>`;
  }
}
