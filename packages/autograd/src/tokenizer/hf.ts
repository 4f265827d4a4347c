// A Hugging Face tokenizer directory as a project Tokenizer: tokenizer.json is run by the
// maintained @huggingface/tokenizers library (pure JS; BPE, WordPiece, Unigram, every normalizer,
// pre-tokenizer and decoder it supports), chat templates are rendered by @huggingface/jinja.
//
//   tokenizer.json          required: the model, added tokens, pre-tokenizer, decoder
//   tokenizer_config.json   special tokens (bos_token, eos_token, pad_token, unk_token; strings or
//                           {"content": …} objects), added_tokens_decoder, add_bos_token,
//                           chat_template (a string, or a list of {"name", "template"})
//   chat_template.jinja     a chat template stored on its own (newer transformers); overrides the
//                           default template of tokenizer_config.json, as in transformers
//   generation_config.json  eos_token_id (an int or a list): every id that ends a generation
//
// Differences from transformers, on purpose:
//   - encode() never lets the post-processor add tokens; bos/eos are added only on request
//     (EncodeOptions.addBos/addEos), and addBos adds nothing when the tokenizer has no bos token
//     (e.g. Qwen2), as add_special_tokens=True does there.
//   - Special-token strings in the text are ordinary text unless allowSpecial is set (transformers'
//     split_special_tokens=True); non-special added tokens are always split out, as in the library.
//   - decode() never applies clean_up_tokenization_spaces, so decode(encode(text)) === text for
//     byte-level tokenizers (as vLLM detokenizes), whatever tokenizer_config.json says.
//   - A tokenizer without pad_token pads with its eos token (padding is masked out of every loss).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer as LibraryTokenizer } from '@huggingface/tokenizers';
import { checkTokenIds, type DecodeOptions, type EncodeOptions, type SpecialTokens, type Tokenizer } from './tokenizer.js';

/** One chat message as chat templates read it (`content` is usually a string; tool calls and the like pass through). */
export interface ChatMessage {
  role: string;
  content?: unknown;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End with the header of an assistant turn (HF `add_generation_prompt`), for prompting. */
  addGenerationPrompt?: boolean;
  /** Tool (function) schemas, passed to the template as `tools`. */
  tools?: readonly unknown[];
  /** Which named template of a list (default: "tool_use" when tools are given and it exists, else "default"). */
  template?: string;
  /** More template variables, e.g. { enable_thinking: false }; they override the standard ones. */
  variables?: Record<string, unknown>;
}

/** The parsed contents of a tokenizer directory, and the names to report them under. */
export interface HfTokenizerFiles {
  tokenizerJson: unknown;
  tokenizerConfig?: unknown;
  generationConfig?: unknown;
  /** A chat template stored as its own file (chat_template.jinja). */
  chatTemplateFile?: string;
  /** Names used in error messages (default: the bare file names). */
  names?: Partial<Record<'tokenizerJson' | 'tokenizerConfig' | 'generationConfig' | 'chatTemplateFile', string>>;
}

const SPECIAL_NAMES = ['bos', 'eos', 'pad', 'unk'] as const;
type SpecialName = (typeof SPECIAL_NAMES)[number];

const SUPPORTED = {
  model: ['BPE', 'WordPiece', 'Unigram'],
  normalizer: ['BertNormalizer', 'Precompiled', 'Sequence', 'Replace', 'NFC', 'NFD', 'NFKC', 'NFKD', 'Strip', 'StripAccents', 'Lowercase', 'Prepend'],
  pre_tokenizer: ['BertPreTokenizer', 'Sequence', 'Whitespace', 'WhitespaceSplit', 'Metaspace', 'ByteLevel', 'Split', 'Punctuation', 'Digits', 'Replace', 'FixedLength'],
  post_processor: ['TemplateProcessing', 'ByteLevel', 'BertProcessing', 'RobertaProcessing', 'Sequence'],
  decoder: ['ByteLevel', 'WordPiece', 'Metaspace', 'BPEDecoder', 'CTC', 'Sequence', 'Replace', 'Fuse', 'Strip', 'ByteFallback'],
} as const;

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
  [key: string]: unknown;
}

export class HfTokenizer implements Tokenizer {
  /** Every id is in [0, vocabSize): the model's vocabulary and the added tokens (the embedding may have more rows). */
  readonly vocabSize: number;
  /** bos is absent when the tokenizer has none (e.g. Qwen2); pad falls back to eos. */
  readonly specialTokens: SpecialTokens;
  /** Ids that end a generation: generation_config.json's eos_token_id, plus specialTokens.eos. */
  readonly eosIds: readonly number[];
  /** The special-token strings, as chat templates see them (bos_token, eos_token, …). */
  readonly specialTokenStrings: Readonly<Partial<Record<SpecialName, string>>>;
  /** tokenizer_config.json's add_bos_token (else: whether the post-processor would add bos). */
  readonly addBosToken: boolean;
  /** Chat templates by name ("default" for a single string); empty when the tokenizer has none. */
  readonly chatTemplates: ReadonlyMap<string, string>;

  private readonly lib: LibraryTokenizer;
  private readonly files: Required<NonNullable<HfTokenizerFiles['names']>>;
  private readonly templateSources: ReadonlyMap<string, string>;
  private readonly compiled = new Map<string, Template>();
  private readonly specialIds: ReadonlySet<number>;
  /** Contents of special added tokens (split out of the text only with allowSpecial). */
  private readonly specialContents: readonly string[];
  private readonly tokenJson: Record<string, unknown>;
  private readonly config: Record<string, unknown>;
  private plainLib: LibraryTokenizer | undefined;

  constructor(files: HfTokenizerFiles) {
    const names = {
      tokenizerJson: 'tokenizer.json', tokenizerConfig: 'tokenizer_config.json', generationConfig: 'generation_config.json',
      chatTemplateFile: 'chat_template.jinja', ...files.names,
    };
    this.files = names;
    const tj = checkTokenizerJson(files.tokenizerJson, names.tokenizerJson);
    const config = files.tokenizerConfig === undefined ? {} : asObject(files.tokenizerConfig, names.tokenizerConfig, '(top level)');
    this.config = config;

    // Added tokens: tokenizer.json's, plus any of tokenizer_config.json's added_tokens_decoder it lacks.
    const added = tj.added_tokens as AddedTokenJson[];
    const byId = new Map(added.map((t) => [t.id, t]));
    if (config.added_tokens_decoder !== undefined && config.added_tokens_decoder !== null) {
      const decoder = asObject(config.added_tokens_decoder, names.tokenizerConfig, 'added_tokens_decoder');
      for (const [key, value] of Object.entries(decoder)) {
        const field = `added_tokens_decoder["${key}"]`;
        const entry = asObject(value, names.tokenizerConfig, field);
        const id = Number(key);
        if (!Number.isInteger(id) || id < 0) throw new Error(`${names.tokenizerConfig}: ${field}: the key must be a token id (a non-negative integer)`);
        if (typeof entry.content !== 'string') throw new Error(`${names.tokenizerConfig}: ${field}.content must be a string`);
        const known = byId.get(id);
        if (known) {
          if (known.content !== entry.content) {
            throw new Error(`${names.tokenizerConfig}: ${field}.content is ${JSON.stringify(entry.content)} but ${names.tokenizerJson} added_tokens gives id ${id} to ${JSON.stringify(known.content)}`);
          }
          continue;
        }
        const token: AddedTokenJson = { ...entry, id, content: entry.content };
        added.push(token);
        byId.set(id, token);
      }
    }
    this.tokenJson = tj;

    try {
      this.lib = new LibraryTokenizer(tj, config);
    } catch (error) {
      throw new Error(`${names.tokenizerJson}: the tokenizer library could not build it: ${(error as Error).message}`);
    }

    // vocabSize: one past the largest id of the model's vocabulary or an added token.
    let maxId = -1;
    for (const id of this.lib.get_vocab(true).values()) if (id > maxId) maxId = id;
    for (const t of added) if (t.id > maxId) maxId = t.id;
    this.vocabSize = maxId + 1;

    const specialAdded = added.filter((t) => t.special === true);
    this.specialContents = specialAdded.map((t) => t.content);
    const specialIds = new Set(specialAdded.map((t) => t.id));
    const additional = config.additional_special_tokens;
    if (Array.isArray(additional)) {
      additional.forEach((token, i) => {
        const content = tokenContent(token, names.tokenizerConfig, `additional_special_tokens[${i}]`);
        const id = this.lib.token_to_id(content);
        if (id !== undefined) specialIds.add(id);
      });
    }

    // Special tokens from tokenizer_config.json; eos may also come from generation_config.json.
    const strings: Partial<Record<SpecialName, string>> = {};
    const ids: Partial<Record<SpecialName, number>> = {};
    for (const name of SPECIAL_NAMES) {
      const field = `${name}_token`;
      const value = config[field];
      if (value === undefined || value === null) continue;
      const content = tokenContent(value, names.tokenizerConfig, field);
      const id = this.lib.token_to_id(content);
      if (id === undefined) throw new Error(`${names.tokenizerConfig}: ${field} ${JSON.stringify(content)} is not a token of ${names.tokenizerJson}`);
      strings[name] = content;
      ids[name] = id;
      specialIds.add(id);
    }
    const generationEos = files.generationConfig === undefined ? [] : readEosIds(files.generationConfig, names.generationConfig);
    for (const [i, id] of generationEos.entries()) {
      if (id >= this.vocabSize) {
        const field = Array.isArray(asObject(files.generationConfig, names.generationConfig, '(top level)').eos_token_id) ? `eos_token_id[${i}]` : 'eos_token_id';
        throw new Error(`${names.generationConfig}: ${field} = ${id} is not in the vocabulary of ${names.tokenizerJson} (ids < ${this.vocabSize})`);
      }
    }
    if (ids.eos === undefined) {
      if (generationEos.length === 0) {
        throw new Error(`${names.tokenizerConfig}: no eos_token, and no ${names.generationConfig} eos_token_id either: the tokenizer needs an end-of-sequence token`);
      }
      ids.eos = generationEos[0]!;
      strings.eos = this.lib.id_to_token(ids.eos);
    }
    const eos = ids.eos;
    this.eosIds = Object.freeze([...new Set([...generationEos, eos])]);
    for (const id of this.eosIds) specialIds.add(id);
    this.specialIds = specialIds;
    this.specialTokenStrings = Object.freeze(strings);
    const special: Record<string, number> = { eos, pad: ids.pad ?? eos };
    if (ids.bos !== undefined) special.bos = ids.bos;
    if (ids.unk !== undefined) special.unk = ids.unk;
    this.specialTokens = Object.freeze(special) as unknown as SpecialTokens;

    if (config.add_bos_token !== undefined && typeof config.add_bos_token !== 'boolean') {
      throw new Error(`${names.tokenizerConfig}: add_bos_token must be true or false, got ${JSON.stringify(config.add_bos_token)}`);
    }
    this.addBosToken = (config.add_bos_token as boolean | undefined)
      ?? (ids.bos !== undefined && this.lib.encode('', { add_special_tokens: true }).ids[0] === ids.bos);

    // Chat templates: tokenizer_config.json's chat_template, with chat_template.jinja as the default.
    const sources = new Map<string, string>();
    const templates = new Map<string, string>();
    const raw = config.chat_template;
    if (typeof raw === 'string') {
      templates.set('default', raw);
      sources.set('default', `${names.tokenizerConfig}: chat_template`);
    } else if (Array.isArray(raw)) {
      raw.forEach((entry, i) => {
        const field = `chat_template[${i}]`;
        const item = asObject(entry, names.tokenizerConfig, field);
        if (typeof item.name !== 'string') throw new Error(`${names.tokenizerConfig}: ${field}.name must be a string`);
        if (typeof item.template !== 'string') throw new Error(`${names.tokenizerConfig}: ${field}.template must be a string`);
        templates.set(item.name, item.template);
        sources.set(item.name, `${names.tokenizerConfig}: chat_template[${i}] ("${item.name}")`);
      });
    } else if (raw !== undefined && raw !== null) {
      throw new Error(`${names.tokenizerConfig}: chat_template must be a string or a list of {"name", "template"}, got ${describe(raw)}`);
    }
    if (files.chatTemplateFile !== undefined) {
      templates.set('default', files.chatTemplateFile);
      sources.set('default', `${names.chatTemplateFile}: the template`);
    }
    this.chatTemplates = templates;
    this.templateSources = sources;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new Error(`HfTokenizer.encode: text must be a string, got ${typeof text}`);
    const lib = options.allowSpecial || !this.specialContents.some((s) => text.includes(s)) ? this.lib : this.plainTokenizer();
    const ids: number[] = text === '' ? [] : lib.encode(text, { add_special_tokens: false }).ids;
    const bad = ids.findIndex((id) => !Number.isInteger(id));
    if (bad >= 0) {
      const token = lib.encode(text, { add_special_tokens: false }).tokens[bad];
      throw new Error(`${this.files.tokenizerJson}: the piece ${JSON.stringify(token)} has no id (it is not in model.vocab and model.unk_token is not set)`);
    }
    if (options.addBos && this.specialTokens.bos !== undefined) ids.unshift(this.specialTokens.bos);
    if (options.addEos) ids.push(this.specialTokens.eos);
    return ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    checkTokenIds(ids, this.vocabSize);
    const list = Array.from(ids);
    for (let i = 0; i < list.length; i++) {
      if (this.lib.id_to_token(list[i]!) === undefined) {
        throw new Error(`decode: token id ${list[i]} at position ${i} is not in the vocabulary (${this.files.tokenizerJson} has no token with this id)`);
      }
    }
    if (list.length === 0) return '';
    return this.lib.decode(list, { skip_special_tokens: options.skipSpecial ?? false, clean_up_tokenization_spaces: false });
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** The token's string in the vocabulary (byte-level tokens show their byte characters, e.g. "Ġcat"). */
  tokenToString(id: number): string {
    checkTokenIds([id], this.vocabSize);
    const token = this.lib.id_to_token(id);
    if (token === undefined) throw new Error(`tokenToString: ${this.files.tokenizerJson} has no token with id ${id}`);
    return token;
  }

  /**
   * Renders messages with the chat template, with the variables transformers passes: messages,
   * add_generation_prompt, tools, bos_token, eos_token, pad_token, unk_token (raise_exception and
   * strftime_now are built into the renderer).
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    const name = options.template ?? (options.tools !== undefined && this.chatTemplates.has('tool_use') ? 'tool_use' : 'default');
    const source = this.chatTemplates.get(name);
    if (source === undefined) {
      const where = `${this.files.tokenizerConfig}: chat_template`;
      throw new Error(this.chatTemplates.size === 0
        ? `${where} is missing (and there is no ${this.files.chatTemplateFile}): this tokenizer has no chat template; render the problem as raw text instead`
        : `${where} has no template named "${name}" (it has ${[...this.chatTemplates.keys()].map((k) => `"${k}"`).join(', ')})`);
    }
    const origin = this.templateSources.get(name)!;
    if (!Array.isArray(messages)) throw new Error(`applyChatTemplate: messages must be an array of {role, content}, got ${describe(messages)}`);
    messages.forEach((m, i) => {
      if (m === null || typeof m !== 'object' || typeof m.role !== 'string') throw new Error(`applyChatTemplate: messages[${i}] must be an object with a string role`);
    });
    let template = this.compiled.get(name);
    if (!template) {
      try {
        template = new Template(source);
      } catch (error) {
        throw new Error(`${origin} does not parse: ${(error as Error).message}`);
      }
      this.compiled.set(name, template);
    }
    const s = this.specialTokenStrings;
    const variables: Record<string, unknown> = {
      messages: structuredClone(messages),
      add_generation_prompt: options.addGenerationPrompt ?? false,
      bos_token: s.bos ?? '', eos_token: s.eos ?? '', pad_token: s.pad ?? s.eos ?? '', unk_token: s.unk ?? '',
      ...(options.tools !== undefined ? { tools: structuredClone(options.tools) } : {}),
      ...options.variables,
    };
    try {
      return template.render(variables);
    } catch (error) {
      throw new Error(`${origin} failed to render: ${(error as Error).message}`);
    }
  }

  /**
   * The token ids of a rendered chat, as transformers' apply_chat_template(tokenize=True): the
   * template's special tokens become their ids and nothing else is added (the template writes bos
   * when the model wants one).
   */
  encodeChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, options), { allowSpecial: true });
  }

  /** A library tokenizer that splits out only the non-special added tokens (special-token strings stay text). */
  private plainTokenizer(): LibraryTokenizer {
    if (!this.plainLib) {
      const added = (this.tokenJson.added_tokens as AddedTokenJson[]).filter((t) => t.special !== true);
      const { additional_special_tokens: _ignored, ...config } = this.config;
      this.plainLib = new LibraryTokenizer({ ...this.tokenJson, added_tokens: added }, config);
    }
    return this.plainLib;
  }
}

/**
 * Loads a Hugging Face tokenizer directory (tokenizer.json, and tokenizer_config.json,
 * generation_config.json and chat_template.jinja when present). Errors name the file and the field.
 */
export async function loadHfTokenizer(dir: string): Promise<HfTokenizer> {
  const path = (name: string) => join(dir, name);
  const tokenizerJson = await readJson(path('tokenizer.json'), true);
  const tokenizerConfig = await readJson(path('tokenizer_config.json'), false);
  const generationConfig = await readJson(path('generation_config.json'), false);
  const chatTemplateFile = await readText(path('chat_template.jinja'), false);
  return new HfTokenizer({
    tokenizerJson, tokenizerConfig, generationConfig, chatTemplateFile,
    names: {
      tokenizerJson: path('tokenizer.json'), tokenizerConfig: path('tokenizer_config.json'),
      generationConfig: path('generation_config.json'), chatTemplateFile: path('chat_template.jinja'),
    },
  });
}

/**
 * Throws unless every token id of `tokenizer` indexes a row of an embedding with `embeddingRows`
 * rows (`file` names where the embedding came from). More rows than ids is fine: models pad the
 * embedding (e.g. 151936 rows for 151665 Qwen2.5 tokens).
 */
export function checkVocab(tokenizer: Pick<Tokenizer, 'vocabSize'>, embeddingRows: number, file: string): void {
  if (!Number.isInteger(embeddingRows) || embeddingRows <= 0) {
    throw new Error(`${file}: the embedding's row count must be a positive integer, got ${embeddingRows}`);
  }
  if (tokenizer.vocabSize > embeddingRows) {
    throw new Error(`${file}: the embedding has ${embeddingRows} rows but the tokenizer has ${tokenizer.vocabSize} token ids; ids ${embeddingRows}…${tokenizer.vocabSize - 1} would index outside it (wrong tokenizer for this checkpoint?)`);
  }
}

// ---------------------------------------------------------------------------------------------

async function readText(path: string, required: boolean): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return undefined;
    if (code === 'ENOENT') throw new Error(`${path}: not found (a Hugging Face tokenizer directory needs it)`);
    throw new Error(`${path}: cannot be read: ${(error as Error).message}`);
  }
}

async function readJson(path: string, required: boolean): Promise<unknown> {
  const text = await readText(path, required);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${(error as Error).message})`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value) : typeof value;
}

function asObject(value: unknown, file: string, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${file}: ${field} must be a JSON object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** A special token in tokenizer_config.json: a string, or an AddedToken object with "content". */
function tokenContent(value: unknown, file: string, field: string): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  throw new Error(`${file}: ${field} must be a string or an object with a string "content", got ${describe(value)}`);
}

function readEosIds(generationConfig: unknown, file: string): number[] {
  const config = asObject(generationConfig, file, '(top level)');
  const value = config.eos_token_id;
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  list.forEach((id, i) => {
    if (!Number.isInteger(id) || (id as number) < 0) {
      throw new Error(`${file}: ${Array.isArray(value) ? `eos_token_id[${i}]` : 'eos_token_id'} must be a token id (a non-negative integer), got ${JSON.stringify(id)}`);
    }
  });
  return list as number[];
}

/** Structural checks of tokenizer.json that name the field, before the library reads it. Returns a shallow copy. */
function checkTokenizerJson(value: unknown, file: string): Record<string, unknown> {
  const json = { ...asObject(value, file, '(top level)') };
  const model = asObject(json.model, file, 'model');
  const type = model.type ?? (model.merges !== undefined ? 'BPE' : undefined);
  if (typeof type !== 'string' || !(SUPPORTED.model as readonly string[]).includes(type)) {
    throw new Error(`${file}: model.type is ${describe(type)}; the tokenizer library supports ${SUPPORTED.model.join(', ')}`);
  }
  if (type === 'Unigram') {
    if (!Array.isArray(model.vocab)) throw new Error(`${file}: model.vocab must be a list of [piece, score] for a Unigram model, got ${describe(model.vocab)}`);
  } else {
    const vocab = asObject(model.vocab, file, 'model.vocab');
    for (const [token, id] of Object.entries(vocab)) {
      if (!Number.isInteger(id) || (id as number) < 0) throw new Error(`${file}: model.vocab[${JSON.stringify(token)}] must be a token id (a non-negative integer), got ${JSON.stringify(id)}`);
    }
    if (type === 'BPE') {
      const merges = model.merges;
      if (!Array.isArray(merges)) throw new Error(`${file}: model.merges must be a list, got ${describe(merges)}`);
      merges.forEach((merge: unknown, i: number) => {
        const pair = typeof merge === 'string' ? merge.split(' ') : merge;
        if (!Array.isArray(pair) || pair.length !== 2 || pair.some((p) => typeof p !== 'string' || p === '')) {
          throw new Error(`${file}: model.merges[${i}] must be "left right" or ["left", "right"], got ${JSON.stringify(merge)}`);
        }
        const merged = `${pair[0]}${pair[1]}`;
        for (const part of [pair[0], pair[1], merged]) {
          if (!(part in vocab)) throw new Error(`${file}: model.merges[${i}] (${JSON.stringify(merge)}) uses ${JSON.stringify(part)}, which is not in model.vocab`);
        }
      });
      // The library tells old "a b" merges from pairs by the first entry only.
      if (merges.some((m: unknown) => typeof m !== typeof merges[0])) {
        throw new Error(`${file}: model.merges mixes "left right" strings and ["left", "right"] pairs`);
      }
    }
  }
  for (const field of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'] as const) {
    const component = json[field];
    if (component === undefined) json[field] = null; // the library requires the key
    else if (component !== null) checkComponent(component, file, field, SUPPORTED[field]);
  }
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) throw new Error(`${file}: added_tokens must be a list, got ${describe(added)}`);
  const contents = new Set<string>();
  json.added_tokens = added.map((entry: unknown, i: number) => {
    const token = asObject(entry, file, `added_tokens[${i}]`);
    if (!Number.isInteger(token.id) || (token.id as number) < 0) throw new Error(`${file}: added_tokens[${i}].id must be a token id (a non-negative integer), got ${JSON.stringify(token.id)}`);
    if (typeof token.content !== 'string' || token.content === '') throw new Error(`${file}: added_tokens[${i}].content must be a non-empty string, got ${describe(token.content)}`);
    if (contents.has(token.content)) throw new Error(`${file}: added_tokens[${i}].content ${JSON.stringify(token.content)} appears twice`);
    contents.add(token.content);
    return { ...token };
  });
  return json;
}

function checkComponent(value: unknown, file: string, field: string, supported: readonly string[]): void {
  const component = asObject(value, file, field);
  if (typeof component.type !== 'string' || !supported.includes(component.type)) {
    throw new Error(`${file}: ${field}.type is ${describe(component.type)}; the tokenizer library supports ${supported.join(', ')}`);
  }
  const children = component.type !== 'Sequence' ? undefined
    : field === 'normalizer' ? 'normalizers' : field === 'pre_tokenizer' ? 'pretokenizers' : field === 'post_processor' ? 'processors' : 'decoders';
  if (children === undefined) return;
  const list = component[children];
  if (!Array.isArray(list)) throw new Error(`${file}: ${field}.${children} must be a list, got ${describe(list)}`);
  list.forEach((child, i) => checkComponent(child, file, `${field}.${children}[${i}]`, supported));
}
