// The tokenizer interface used by models, tasks, rollouts and generation. Two implementations:
//
//   ByteTokenizer (byte.ts): the default for the toy tasks. Ids 0–255 are the bytes of the UTF-8
//     encoding, special tokens follow, so any text encodes and nothing needs a vocabulary file.
//   HfTokenizer (hf.ts): a Hugging Face tokenizer directory (tokenizer.json run by the
//     @huggingface/tokenizers library, tokenizer_config.json's special tokens and chat template
//     rendered by @huggingface/jinja, generation_config.json's eos ids).
//
// `encode` splits out special tokens only when asked; `decode` writes or skips them;
// `specialTokens` names the ids of the tokenizer's own special tokens (bos may be absent: Qwen2
// has none); `eosIds`, when given, lists every id that ends a generation. Callers never assume
// that an id is a byte.

/** Ids of the special tokens every model needs, plus any extra ones (e.g. `step`). */
export interface SpecialTokens {
  /** Absent when the tokenizer has no beginning-of-sequence token (then addBos adds nothing). */
  readonly bos?: number;
  readonly eos: number;
  readonly pad: number;
  readonly [name: string]: number | undefined;
}

export interface EncodeOptions {
  /** Prepend specialTokens.bos (nothing when the tokenizer has none). */
  addBos?: boolean;
  /** Append specialTokens.eos. */
  addEos?: boolean;
  /**
   * Turn special-token strings in the text (e.g. "<|eos|>") into their ids. Off by default, so
   * that user or model text can never inject a control token: it is encoded as ordinary text.
   */
  allowSpecial?: boolean;
}

export interface DecodeOptions {
  /** Leave special tokens out of the text instead of writing their strings (e.g. "<|eos|>"). */
  skipSpecial?: boolean;
}

export interface Tokenizer {
  /** Every id is in [0, vocabSize). */
  readonly vocabSize: number;
  readonly specialTokens: SpecialTokens;
  /** Every id that ends a generation (e.g. generation_config.json's eos_token_id list); default [specialTokens.eos]. */
  readonly eosIds?: readonly number[];
  encode(text: string, options?: EncodeOptions): number[];
  /** Invalid UTF-8 byte sequences decode to U+FFFD; ids outside the vocabulary throw. */
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  isSpecial(id: number): boolean;
  /** One token as readable text, for debugging and visualisation. */
  tokenToString?(id: number): string;
}

/** The ids that end a generation: tokenizer.eosIds, else [specialTokens.eos]. */
export function eosIdsOf(tokenizer: Pick<Tokenizer, 'eosIds' | 'specialTokens'>): readonly number[] {
  return tokenizer.eosIds ?? [tokenizer.specialTokens.eos];
}

/**
 * Splits `text` around occurrences of the given token strings (longest match first, left to
 * right): plain-text pieces stay strings, matched tokens become their ids. Empty pieces are dropped.
 */
export function splitOnTokens(text: string, tokens: ReadonlyMap<string, number>): (string | number)[] {
  if (tokens.size === 0 || text === '') return text === '' ? [] : [text];
  const alternatives = [...tokens.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
  const pattern = new RegExp(alternatives.join('|'), 'g');
  const out: (string | number)[] = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) out.push(text.slice(last, match.index));
    out.push(tokens.get(match[0])!);
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Throws unless every id is an integer in [0, vocabSize), naming the first bad one and its position. */
export function checkTokenIds(ids: ArrayLike<number>, vocabSize: number): void {
  if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number') {
    throw new Error(`decode: ids must be an array of token ids, got ${ids === null ? 'null' : typeof ids}`);
  }
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`decode: token id ${id} at position ${i} is not in the vocabulary (ids are integers in [0, ${vocabSize}))`);
    }
  }
}

/** Strict UTF-8 encoder shared by the tokenizers (lone surrogates in text become U+FFFD, EF BF BD). */
export const utf8Encoder = new TextEncoder();

/**
 * UTF-8 decoder that replaces invalid sequences with U+FFFD. `ignoreBOM: true` keeps a leading
 * byte-order mark as text, so decode(encode(text)) gives back text that starts with U+FEFF.
 */
export const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
