// How task text becomes token ids and back: the one convention shared by SFT targets, rollouts,
// validation and (later) PRMs, so that what SFT teaches is exactly what rollouts sample.
//
//   prompt ids    <bos> + bytes of the prompt text, which always ends with '\n' (added if missing,
//                 e.g. GSM8K questions) so that the response starts on a fresh line
//   response      the solution's steps, one per line, then the "#### <answer>" line, then '\n':
//                 "=10\n=20\n=16\n#### 16\n". The newline after the answer line is the end of the
//                 response; nothing follows it (no <eos> is trained or needed).
//   stopping      a sampled response ends at the first of: the '\n' that completes a "####" line
//                 (the task's answer line), an end-of-sequence id (every id of the tokenizer's
//                 eosIds: a Hugging Face model's tokenizer_config.json eos_token and
//                 generation_config.json eos_token_id list; a policy trained on other data may emit
//                 one), or maxNewTokens. The token that completes the stop is part of the response
//                 (it was sampled and has a log-prob), as with stop strings in vLLM / verl.
//
// A chat model's codec (template 'chat', over a Hugging Face tokenizer with a chat_template) renders
// each prompt as one user message through the model's chat template with the generation prompt
// (the prompt's trailing whitespace dropped; the template ends with the assistant header, so the
// response starts on a fresh line anyway); the response format, the stops and SFT's targets are
// the same as above. encodePrompt is then exactly the tokenizer's encode of the rendered text with
// special-token strings read as their ids (transformers' apply_chat_template(tokenize=True)).
// Sampled ids the tokenizer has no text for (a model's embedding may be padded past the
// vocabulary, as Qwen2's is) decode to U+FFFD instead of failing (decodeKnown).
//
// generate() matches stop *strings* as substrings of the decoded response, while "a complete
// answer line" is a pattern. AnswerLineStopTokenizer bridges the two: it decodes like the real
// tokenizer and appends a marker once the text holds a complete "####" line, and the marker is the
// stop string. This keeps the early exit inside generate (a batch stops as soon as every
// sequence has answered) instead of truncating afterwards.
import { ByteTokenizer, eosIdsOf, type ChatMessage, type ChatTemplateOptions, type DecodeOptions, type EncodeOptions, type Tokenizer } from '@repirl/autograd';
import { answerPrefix, type StepRule } from '../tasks/format.js';
import { lastBoxed } from '../verify/extract.js';

/** The stop string AnswerLineStopTokenizer appends once a response holds a complete answer line. */
export const ANSWER_LINE_STOP = '\u0000<answer-line-complete>';

/**
 * True when `text` has a complete answer line, terminated by '\n': one starting with "####"
 * (GSM8K style, the generated tasks), or one holding a complete \boxed{…} (MATH style: the final
 * answer is boxed; SFT targets end in '\n', so a model that learned the solutions stops there).
 */
export function hasCompleteAnswerLine(text: string): boolean {
  let start = 0;
  for (;;) {
    const newline = text.indexOf('\n', start);
    if (newline === -1) return false;
    const line = text.slice(start, newline);
    if (line.trimStart().startsWith(answerPrefix) || (line.includes('box') && lastBoxed(line) !== null)) return true;
    start = newline + 1;
  }
}

/**
 * A Tokenizer view for generate() only: decode() appends ANSWER_LINE_STOP when the response holds
 * a complete answer line; everything else is the wrapped tokenizer's.
 */
export class AnswerLineStopTokenizer implements Tokenizer {
  constructor(readonly base: Tokenizer) {}
  get vocabSize(): number {
    return this.base.vocabSize;
  }
  get specialTokens() {
    return this.base.specialTokens;
  }
  encode(text: string, options?: EncodeOptions): number[] {
    return this.base.encode(text, options);
  }
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string {
    const text = decodeKnown(this.base, ids, { skipSpecial: true, ...options });
    return hasCompleteAnswerLine(text) ? text + ANSWER_LINE_STOP : text;
  }
  isSpecial(id: number): boolean {
    return this.base.isSpecial(id);
  }
}

/**
 * The text of `ids`, where ids at or past the tokenizer's vocabSize (rows a model's embedding has
 * beyond its tokenizer, e.g. Qwen2's 151936 for 151665 tokens) have no text and become U+FFFD.
 */
export function decodeKnown(tokenizer: Tokenizer, ids: ArrayLike<number>, options?: DecodeOptions): string {
  let text = '';
  let run: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!(id >= tokenizer.vocabSize && Number.isInteger(id))) {
      run.push(id);
      continue;
    }
    text += `${run.length > 0 ? tokenizer.decode(run, options) : ''}\uFFFD`;
    run = [];
  }
  return text + (run.length > 0 ? tokenizer.decode(run, options) : '');
}

/** A tokenizer with a chat template (@repirl/autograd's HfTokenizer). */
export interface ChatTokenizer extends Tokenizer {
  readonly chatTemplates: ReadonlyMap<string, string>;
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
}

export interface TaskCodecOptions {
  /** Default: the byte tokenizer (ids 0–255 bytes, 256 bos, 257 eos, 258 pad). */
  tokenizer?: Tokenizer;
  /** Start prompts with <bos> (default true): the first response token is then predicted from a state that exists even for an empty prompt. */
  bos?: boolean;
  /** How responses are cut into steps (tasks/format.ts StepRule; default 'lines'): what every PRM model, learner and metric given this codec reads. */
  stepRule?: StepRule;
  /**
   * 'raw' (default): the prompt text as it is (bos first when `bos`); 'chat': one user message
   * rendered through the tokenizer's chat template with the generation prompt (`bos` is then the
   * template's business). 'chat' needs a ChatTokenizer with a default template.
   */
  template?: 'raw' | 'chat';
}

/** Encoding and decoding of prompts and responses for tasks in the docs/DESIGN.md §4 text format. */
export class TaskCodec {
  readonly tokenizer: Tokenizer;
  readonly bos: boolean;
  /** How responses are cut into steps (default 'lines', the §4 format): PRMs read their step scores at these steps' ends. */
  readonly stepRule: StepRule;
  /** How prompts are rendered (see TaskCodecOptions.template). */
  readonly template: 'raw' | 'chat';
  /** Every id that ends a response (the tokenizer's eosIds, else its eos). */
  readonly eosIds: readonly number[];
  private readonly stopTokenizer: AnswerLineStopTokenizer;

  constructor(options: TaskCodecOptions = {}) {
    this.tokenizer = options.tokenizer ?? new ByteTokenizer();
    this.template = options.template ?? 'raw';
    if (this.template === 'chat') {
      const chat = this.tokenizer as Partial<ChatTokenizer>;
      if (typeof chat.applyChatTemplate !== 'function' || !chat.chatTemplates?.has('default')) {
        throw new Error("TaskCodec: template 'chat' needs a tokenizer with a default chat template (a Hugging Face tokenizer whose tokenizer_config.json has chat_template); use template 'raw'");
      }
    } else if (this.template !== 'raw') throw new Error(`TaskCodec: template must be 'raw' or 'chat', got ${JSON.stringify(this.template)}`);
    this.eosIds = eosIdsOf(this.tokenizer);
    this.bos = options.bos ?? true;
    this.stepRule = options.stepRule ?? 'lines';
    this.stopTokenizer = new AnswerLineStopTokenizer(this.tokenizer);
  }

  /** This codec with another step rule, everything else the same (a run's data decides how its responses are cut into steps). */
  withStepRule(stepRule: StepRule): TaskCodec {
    return Object.assign(Object.create(TaskCodec.prototype) as TaskCodec, this, { stepRule });
  }

  get padId(): number {
    return this.tokenizer.specialTokens.pad;
  }

  /**
   * The prompt as the policy reads it. raw: as given when it ends with '\n', else with '\n'
   * appended; chat: the chat template's rendering of one user message (the prompt without its
   * trailing whitespace) with the generation prompt.
   */
  promptText(prompt: string): string {
    if (this.template === 'chat') {
      return (this.tokenizer as ChatTokenizer).applyChatTemplate([{ role: 'user', content: prompt.trimEnd() }], { addGenerationPrompt: true });
    }
    return prompt.endsWith('\n') ? prompt : `${prompt}\n`;
  }

  /** The response text SFT trains on: the solution's trailing whitespace replaced by one '\n'. */
  responseText(solution: string): string {
    return `${solution.trimEnd()}\n`;
  }

  /** raw: the prompt text's ids (bos first when `bos`); chat: the rendered chat's ids, its special-token strings read as their ids. */
  encodePrompt(prompt: string): number[] {
    if (this.template === 'chat') return this.tokenizer.encode(this.promptText(prompt), { allowSpecial: true });
    return this.tokenizer.encode(this.promptText(prompt), { addBos: this.bos });
  }

  /** Token ids of a solution as an SFT target (see responseText). */
  encodeResponse(solution: string): number[] {
    return this.tokenizer.encode(this.responseText(solution));
  }

  /** A sampled response as text (special tokens such as <eos> left out; ids past the tokenizer's vocabulary as U+FFFD). */
  decodeResponse(ids: ArrayLike<number>): string {
    return decodeKnown(this.tokenizer, ids, { skipSpecial: true });
  }

  /** True when `id` ends a response (one of eosIds). */
  isEos(id: number): boolean {
    return this.eosIds.includes(id);
  }

  /** The stop options for generate(): every eos id, and a complete answer line (see the file header). */
  generateStops(): { stop: (number | string)[]; tokenizer: Tokenizer } {
    return { stop: [...this.eosIds, ANSWER_LINE_STOP], tokenizer: this.stopTokenizer };
  }
}
