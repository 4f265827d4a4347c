// Scopes free intermediates: every tensor created while a scope is open is disposed when it
// closes, except what the function returns and what was kept. A training step run inside one
// scope leaks nothing, which the pool's live-bytes counter can prove (tf.tidy's design).
import type { Tensor } from './tensor.js';

class Scope {
  readonly tensors = new Set<Tensor>();
  track(t: Tensor): void {
    this.tensors.add(t);
  }
}

const stack: Scope[] = [];

export function currentScope(): Scope | undefined {
  return stack[stack.length - 1];
}

type Result = Tensor | readonly Result[] | { readonly [key: string]: Result } | number | string | boolean | void | null | undefined;

function collect(value: unknown, into: Set<Tensor>): void {
  if (value === null || typeof value !== 'object') return;
  if ('ref' in value && 'shape' in value && 'dispose' in value) {
    into.add(value as Tensor);
    return;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) collect(v, into);
}

/**
 * Runs fn and disposes every tensor it created, except those in its result (a tensor, or arrays
 * and objects of tensors) and those passed to keep(). Returned tensors move to the enclosing
 * scope. fn must be synchronous: an async function would let other work join the scope.
 */
export function tidy<T extends Result>(fn: () => T): T {
  const scope = new Scope();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy(fn): fn must be synchronous (read tensor values after tidy returns)');
  } finally {
    stack.pop();
  }
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  const parent = currentScope();
  for (const t of scope.tensors) {
    if (survivors.has(t)) parent?.track(t);
    else t.dispose();
  }
  return result;
}

/** Removes a tensor from every open scope, so it outlives them (the caller disposes it). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of stack) s.tensors.delete(t);
  return t;
}
