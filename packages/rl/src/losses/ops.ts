// Small compositions of @repirl/autograd primitives that the losses share.
import { binary, full, noGrad, scale, unary, type Tensor } from '@repirl/autograd';

export const clamp = (x: Tensor, bounds: { min?: number; max?: number }): Tensor => unary('clamp', x, bounds);
export const abs = (x: Tensor): Tensor => unary('abs', x);
export const maximum = (a: Tensor, b: Tensor): Tensor => binary('maximum', a, b);
export const minimum = (a: Tensor, b: Tensor): Tensor => binary('minimum', a, b);

/** The same values with no gradient (PyTorch's .detach()): a copy made outside the tape. */
export const detach = (x: Tensor): Tensor => noGrad(() => scale(x, 1));

/** A one-element constant that broadcasts against any tensor on x's backend. */
export const constantLike = (x: Tensor, value: number): Tensor => full(x.backend, [1], value);

/** 1 where a > b, else 0 (no gradient). */
export const greater = (a: Tensor, b: Tensor): Tensor => noGrad(() => binary('greater', a, b));
/** 1 where x > value, else 0 (no gradient). */
export const greaterThan = (x: Tensor, value: number): Tensor => noGrad(() => binary('greater', x, constantLike(x, value)));
/** 1 where x < value, else 0 (no gradient). */
export const lessThan = (x: Tensor, value: number): Tensor => noGrad(() => binary('less', x, constantLike(x, value)));

/** Checks that every named tensor is [B, T] with the shape of the first. */
export function checkTokenShapes(context: string, tensors: Readonly<Record<string, Tensor>>): [number, number] {
  const entries = Object.entries(tensors);
  const [firstName, first] = entries[0]!;
  if (first.rank !== 2) throw new Error(`${context}: ${firstName} must be [B, T], got [${first.shape.join(', ')}]`);
  for (const [name, t] of entries.slice(1)) {
    if (t.rank !== 2 || t.shape[0] !== first.shape[0] || t.shape[1] !== first.shape[1]) {
      throw new Error(`${context}: ${name} [${t.shape.join(', ')}] must have the shape of ${firstName} [${first.shape.join(', ')}]`);
    }
  }
  return [first.shape[0]!, first.shape[1]!];
}
