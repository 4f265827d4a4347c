// Steps given as a list (step-labelled files, ProcessBench) as the response text a PRM reads: the
// PRMs score a response at the ends of its steps under the codec's step rule (models/prm.ts
// stepEndTokens), so the list is written in that rule's layout and checked to cut back into the
// same steps.
//
//   'lines'       one step per line: the line breaks inside a step become spaces (the PRM cannot
//                 read a step spread over several lines as one), steps joined by '\n'
//   'paragraphs'  blank-line separated (PRM800K, rePIRL, ProcessBench's own "\n\n"): blank lines
//                 inside a step become single line breaks, steps joined by "\n\n"
// Other rules (step markers, a custom separator) have no canonical way to write a list: refused.
import { segmentSteps, type SequencePart, type StepRule, type TaskCodec } from '@repirl/rl';
import { stepEndTokens } from '../models/prm.js';

/** The response text of `steps` under `rule` (see the file comment). */
export function renderSteps(steps: readonly string[], rule: StepRule = 'lines'): string {
  let text: string;
  if (rule === 'lines') text = steps.map((s) => s.replace(/\s*\n\s*/g, ' ').trim()).join('\n');
  else if (rule === 'paragraphs') text = steps.map((s) => s.replace(/\n[^\S\n]*(?:\n\s*)+/g, '\n').trim()).join('\n\n');
  else throw new Error(`renderSteps: steps given as a list are written one per line ('lines') or as paragraphs ('paragraphs'), not under the step rule ${typeof rule === 'string' ? rule : String(rule.separator)}`);
  const back = segmentSteps(text, rule).length;
  if (back !== steps.length) {
    const empty = steps.findIndex((s) => s.trim() === '');
    throw new Error(`renderSteps: ${steps.length} steps were written as ${back} under '${rule}'${empty >= 0 ? ` (step ${empty} is empty)` : ''}`);
  }
  return text;
}

/** A prompt and its steps as a sequence of the codec's tokens, with its step-end tokens. */
export interface StepSequence extends SequencePart {
  /** Token index (into the response) of each step's end, one per step. */
  stepEnds: number[];
}

/**
 * `prompt` + the steps as token ids (the codec's prompt rendering; the response as an SFT target,
 * ending in '\n'), or null when the sequence is longer than `maxLen` tokens. Throws when the
 * PRM would read a different number of steps than given.
 */
export function encodeSteps(prompt: string, steps: readonly string[], codec: TaskCodec, maxLen: number): StepSequence | null {
  const promptIds = codec.encodePrompt(prompt);
  const responseIds = codec.encodeResponse(renderSteps(steps, codec.stepRule));
  if (promptIds.length + responseIds.length > maxLen) return null;
  const stepEnds = stepEndTokens(responseIds, codec);
  if (stepEnds.length !== steps.length) throw new Error(`encodeSteps: ${steps.length} steps were read back as ${stepEnds.length} from the tokens`);
  return { promptIds, responseIds, stepEnds };
}
