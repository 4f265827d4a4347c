// Small numerically stable building blocks shared by the PRM losses.
import { Tensor, concat, full, logSoftmax, mean, mul, neg, noGrad, reshape, scale, slice, sum, tensor } from '@repirl/autograd';

/** Per-sample or per-step values that carry no gradient: plain numbers or a tensor (used detached). */
export type ConstantInput = Tensor | ArrayLike<number>;

/** The same values with no gradient (PyTorch's .detach()): a copy made outside the tape. */
export const detach = (x: Tensor): Tensor => noGrad(() => scale(x, 1));

/** A no-grad tensor on `like`'s backend from plain numbers, or a detached copy of a tensor. */
export function constant(like: Tensor, values: ConstantInput, shape: readonly number[] = like.shape): Tensor {
  if (isTensor(values)) {
    checkShape('constant', values, shape);
    return detach(values);
  }
  return tensor(like.backend, values, shape);
}

export const isTensor = (x: unknown): x is Tensor => x instanceof Tensor;

export function checkShape(context: string, t: Tensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${context}: expected shape [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
  }
}

export function checkVector(context: string, x: Tensor): number {
  if (x.rank !== 1) throw new Error(`${context}: expected a vector [N], got [${x.shape.join(', ')}]`);
  return x.shape[0]!;
}

/**
 * [N] logits x → [N, 2] with columns (log σ(x), log σ(−x)) = (log σ(x), log(1 − σ(x))), as the
 * log-softmax of the pair (x, 0). Exact and finite for any finite x (|x| = 1e4 gives (0, −1e4)),
 * with the exact gradient everywhere (no kink at 0, unlike relu/abs compositions).
 */
export function logSigmoidPair(x: Tensor): Tensor {
  const n = checkVector('logSigmoidPair', x);
  const column = reshape(x, [n, 1]);
  return logSoftmax(concat([column, full(x.backend, [n, 1], 0)], 1));
}

/** log σ(x) elementwise for [N] x, stable (see logSigmoidPair). */
export function logSigmoid(x: Tensor): Tensor {
  return reshape(slice(logSigmoidPair(x), 1, 0, 1), [x.shape[0]!]);
}

/**
 * Binary cross-entropy on logits, per element: −[y·log σ(x) + (1 − y)·log(1 − σ(x))], [N].
 * y may be hard (0/1) or soft (in [0, 1]). Computed from logSigmoidPair, so never NaN or inf for finite x.
 */
export function bceWithLogits(logits: Tensor, labels: ArrayLike<number>): Tensor {
  const n = checkVector('bceWithLogits', logits);
  const y = labelValues(labels, n);
  const target = tensor(logits.backend, y.flatMap((v) => [v, 1 - v]), [n, 2]);
  return neg(sum(mul(target, logSigmoidPair(logits)), 1));
}

/** Mean BCE over N elements (the loss most methods below minimise). */
export const meanBceWithLogits = (logits: Tensor, labels: ArrayLike<number>): Tensor => mean(bceWithLogits(logits, labels));

function labelValues(labels: ArrayLike<number>, n: number): number[] {
  if (labels.length !== n) throw new Error(`bceWithLogits: ${labels.length} labels for ${n} logits`);
  const y = Array.from(labels);
  for (const v of y) if (!(v >= 0 && v <= 1)) throw new Error(`bceWithLogits: label ${v} is not in [0, 1]`);
  return y;
}
