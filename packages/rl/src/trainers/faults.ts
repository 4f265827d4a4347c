// When training cannot go on, the trainers stop with an error that says why, instead of running
// to "finished" and saving weights nothing was learned into:
//  - weights that are not finite before the first step (a fresh model; loaded ones are checked
//    by loadCheckpoint);
//  - steps that keep being skipped because the loss or the gradient norm is not finite (AdamW
//    skips such a step and reports it): after `maxSkippedSteps` of them in a row, or when every
//    step of a run shorter than that was skipped;
//  - a batch whose tensors exceed a device limit: the kernels' DeviceLimitError, with the batch
//    setting to lower.
import { checkFinite, type DecoderLM, type Module } from '@repirl/autograd';
import { DeviceLimitError } from '@repirl/kernels';

/** A step's metrics record (metrics.jsonl's lines have this shape). */
interface StepRecord {
  step: number;
  [name: string]: number;
}

/** Training stopped because its steps could not update the weights (non-finite loss or gradient). */
export class NonFiniteTrainingError extends Error {
  constructor(
    message: string,
    /** The last step done. */
    readonly step: number,
    /** How many steps in a row were skipped. */
    readonly skipped: number,
  ) {
    super(message);
    this.name = 'NonFiniteTrainingError';
  }
}

/** A batch too large for the device: the message names the tensor, the limit and the setting to lower. */
export class BatchTooLargeError extends Error {
  override name = 'BatchTooLargeError';
}

/** Whether a step's record says its update was skipped ('train/skipped' = 1, written by every trainer). */
export const stepSkipped = (record: StepRecord): boolean => record.step > 0 && record['train/skipped'] === 1;

/** How many of the last records are skipped steps, in a row. */
export function trailingSkips(records: readonly StepRecord[]): number {
  let n = 0;
  for (let i = records.length - 1; i >= 0 && stepSkipped(records[i]!); i--) n++;
  return n;
}

/**
 * Throws a NonFiniteTrainingError when the records end with `limit` skipped steps, or when every
 * step of a finished run was skipped (a run shorter than the limit). `step` is the step just done.
 */
export function checkSkips(trainer: string, records: readonly StepRecord[], step: number, totalSteps: number, limit: number): void {
  const skipped = trailingSkips(records);
  const wholeRun = skipped === step && step === totalSteps;
  if (skipped === 0 || (skipped < limit && !wholeRun)) return;
  const last = records.at(-1)!;
  const values = Object.entries(last)
    .filter(([key]) => key.endsWith('loss') || key.endsWith('grad_norm') || key.endsWith('skipped_steps'))
    .map(([key, value]) => `${key} ${value}`);
  throw new NonFiniteTrainingError(
    `${trainer} training stopped at step ${step}: ${wholeRun ? `all ${skipped} steps` : `the last ${skipped} steps in a row`} were skipped ` +
      `because the loss or the gradient norm was not finite${values.length > 0 ? ` (step ${step}: ${values.join(', ')})` : ''}. ` +
      'The weights cannot learn from here: look for weights so large that the forward pass overflows, a learning rate that ' +
      'blew them up, or a sampling temperature near 0; no policy was saved' +
      (wholeRun && skipped < limit ? '' : ` (maxSkippedSteps is ${limit})`),
    step,
    skipped,
  );
}

/**
 * Refuses models whose weights hold NaN or ±Infinity before the first step (one download of every
 * weight): every step of such a model is skipped, so training it would only waste the run.
 */
export async function checkFiniteWeights(models: Record<string, Module<unknown>>): Promise<void> {
  for (const [name, model] of Object.entries(models)) {
    checkFinite(await model.stateDict(), {
      source: `the ${name}'s weights before training`,
      advice: 'every step would be skipped; start from a checkpoint with finite weights (or fix what produced these)',
    });
  }
}

/**
 * Runs `fn` (a forward/backward or generation over a batch); a tensor over a device limit is
 * rethrown as a BatchTooLargeError whose one line names the tensor and the limit, then
 * `hint(err)`: which setting to lower, and to what.
 */
export async function withBatchHint<T>(fn: () => Promise<T>, hint: (err: DeviceLimitError) => string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof DeviceLimitError)) throw err;
    throw new BatchTooLargeError(`${err.message}: ${hint(err)}`, { cause: err });
  }
}

/**
 * The largest number of rows that should fit under the limit `err` hit, when `rows` rows did not:
 * scaled down by the tensor that failed, and — since a larger one may come later in the pass — by
 * `bytesPerRow`, the largest tensor one row needs, when given; then rounded down to a divisor of
 * `divides`, when given (gradient accumulation in equal parts).
 */
export function fittingRows(rows: number, err: DeviceLimitError, options: { bytesPerRow?: number; divides?: number } = {}): number {
  let n = Math.floor((rows * err.max) / err.bytes);
  if (options.bytesPerRow !== undefined) n = Math.min(n, Math.floor(err.max / options.bytesPerRow));
  n = Math.max(1, n);
  if (options.divides !== undefined) while (n > 1 && options.divides % n !== 0) n--;
  return n;
}

/**
 * Bytes of the largest float32 activation one sequence of `length` tokens with `responseLength`
 * response tokens needs in a training forward/backward: a [L, max(3·dModel, dFF)] projection or the
 * [T, vocab] logits of its response.
 */
export function bytesPerSequence(policy: DecoderLM, length: number, responseLength: number): number {
  const { dModel, dFF, vocabSize } = policy.config;
  return 4 * Math.max(length * Math.max(3 * dModel, dFF), responseLength * vocabSize);
}
