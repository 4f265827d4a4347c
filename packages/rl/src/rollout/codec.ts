// How task text becomes token ids and back: the one convention shared by SFT targets, rollouts,
// validation and (later) PRMs, so that what SFT teaches is exactly what rollouts sample.
//
//   prompt ids    <bos> + bytes of the prompt text, which always ends with '\n' (added if missing,
//                 e.g. GSM8K questions) so that the response starts on a fresh line
//   response      the solution's steps, one per line, then the "#### <answer>" line, then '\n':
//                 "=10\n=20\n=16\n#### 16\n". The newline after the answer line is the end of the
//                 response; nothing follows it (no <eos> is trained or needed).
//   stopping      a sampled response ends at the first of: the '\n' that completes a "####" line
//                 (the task's answer line), an <eos> token (a policy trained on other data may emit
//                 one), or maxNewTokens. The token that completes the stop is part of the response
//                 (it was sampled and has a log-prob), as with stop strings in vLLM / verl.
//
// generate() matches stop *strings* as substrings of the decoded response, while "a complete
// answer line" is a pattern. AnswerLineStopTokenizer bridges the two: it decodes like the real
// tokenizer and appends a marker once the text holds a complete "####" line, and the marker is the
// stop string. This keeps the early exit inside generate (a batch stops as soon as every
// sequence has answered) instead of truncating afterwards.
import { ByteTokenizer, type DecodeOptions, type EncodeOptions, type Tokenizer } from '@repirl/autograd';
import { answerPrefix, type StepRule } from '../tasks/format.js';

/** The stop string AnswerLineStopTokenizer appends once a response holds a complete answer line. */
export const ANSWER_LINE_STOP = '\u0000<answer-line-complete>';

/** True when `text` has a line starting with "####" that is terminated by '\n'. */
export function hasCompleteAnswerLine(text: string): boolean {
  let start = 0;
  for (;;) {
    const newline = text.indexOf('\n', start);
    if (newline === -1) return false;
    if (text.slice(start, newline).trimStart().startsWith(answerPrefix)) return true;
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
    const text = this.base.decode(ids, { skipSpecial: true, ...options });
    return hasCompleteAnswerLine(text) ? text + ANSWER_LINE_STOP : text;
  }
  isSpecial(id: number): boolean {
    return this.base.isSpecial(id);
  }
}

export interface TaskCodecOptions {
  /** Default: the byte tokenizer (ids 0–255 bytes, 256 bos, 257 eos, 258 pad). */
  tokenizer?: Tokenizer;
  /** Start prompts with <bos> (default true): the first response token is then predicted from a state that exists even for an empty prompt. */
  bos?: boolean;
  /** How responses are cut into steps (tasks/format.ts StepRule; default 'lines'): what every PRM model, learner and metric given this codec reads. */
  stepRule?: StepRule;
}

/** Encoding and decoding of prompts and responses for tasks in the docs/DESIGN.md §4 text format. */
export class TaskCodec {
  readonly tokenizer: Tokenizer;
  readonly bos: boolean;
  /** How responses are cut into steps (default 'lines', the §4 format): PRMs read their step scores at these steps' ends. */
  readonly stepRule: StepRule;
  private readonly stopTokenizer: AnswerLineStopTokenizer;

  constructor(options: TaskCodecOptions = {}) {
    this.tokenizer = options.tokenizer ?? new ByteTokenizer();
    this.bos = options.bos ?? true;
    this.stepRule = options.stepRule ?? 'lines';
    this.stopTokenizer = new AnswerLineStopTokenizer(this.tokenizer);
  }

  get padId(): number {
    return this.tokenizer.specialTokens.pad;
  }

  /** The prompt as the policy reads it: as given when it ends with '\n', else with '\n' appended. */
  promptText(prompt: string): string {
    return prompt.endsWith('\n') ? prompt : `${prompt}\n`;
  }

  /** The response text SFT trains on: the solution's trailing whitespace replaced by one '\n'. */
  responseText(solution: string): string {
    return `${solution.trimEnd()}\n`;
  }

  encodePrompt(prompt: string): number[] {
    return this.tokenizer.encode(this.promptText(prompt), { addBos: this.bos });
  }

  /** Token ids of a solution as an SFT target (see responseText). */
  encodeResponse(solution: string): number[] {
    return this.tokenizer.encode(this.responseText(solution));
  }

  /** A sampled response as text (special tokens such as <eos> left out). */
  decodeResponse(ids: ArrayLike<number>): string {
    return this.tokenizer.decode(ids, { skipSpecial: true });
  }

  /** The stop options for generate(): <eos>, and a complete answer line (see the file header). */
  generateStops(): { stop: (number | string)[]; tokenizer: Tokenizer } {
    return { stop: [this.tokenizer.specialTokens.eos, ANSWER_LINE_STOP], tokenizer: this.stopTokenizer };
  }
}
