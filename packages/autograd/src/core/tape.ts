// The tape: every differentiable op applied while gradients are enabled records a node (its
// primitive, inputs, outputs, saved tensors and attributes). backward() walks the nodes in
// reverse topological order and calls each primitive's gradient rule, accumulating gradients
// of inputs by addition. The graph is single-use: nodes are dropped as backward consumes them.
import type { Backend, Storage } from './backend.js';
import { StorageRef, Tensor } from './tensor.js';
import { keep } from './scope.js';

let gradEnabled = true;

/** Runs fn without recording (evaluation, sampling, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

export interface GradContext<A> {
  backend: Backend;
  inputs: readonly Tensor[];
  outputs: readonly Tensor[];
  saved: readonly Tensor[];
  attrs: A;
}

/**
 * A primitive: a forward on storages and, if differentiable, a rule mapping output gradients to
 * input gradients (null where an input gets none). Rules receive null for an output that got
 * no gradient; `needs[i]` says whether input i wants one.
 */
export interface Primitive<A = undefined> {
  name: string;
  /** `viewOf[i] = k` marks output i as a view of input k's memory (reshape): it shares, not owns, it. */
  forward(backend: Backend, inputs: readonly Tensor[], attrs: A): { outputs: Storage[]; saved?: Storage[]; viewOf?: (number | undefined)[] };
  backward?(ctx: GradContext<A>, grads: readonly (Storage | null)[], needs: readonly boolean[]): (Storage | null)[];
  /**
   * The rule takes ownership of the output gradients (it returns them, or views of them, instead
   * of new storage), so the tape must not free them: reshape's gradient is a view, not a copy.
   */
  ownsGrads?: boolean;
}

export interface TapeNode {
  primitive: Primitive<unknown>;
  ctx: GradContext<unknown>;
}

export function wrap(backend: Backend, storage: Storage, requiresGrad = false, base?: Tensor): Tensor {
  return new Tensor(new StorageRef(backend, storage, base?.ref), backend.shapeOf(storage), backend.dtypeOf(storage), requiresGrad);
}

/** Applies a primitive, recording it on the tape when some input requires a gradient. */
export function apply<A>(primitive: Primitive<A>, inputs: readonly Tensor[], attrs: A): Tensor[] {
  const backend = inputs[0]!.backend;
  for (const t of inputs) {
    if (t.backend !== backend) throw new Error(`${primitive.name}: inputs live on different backends (${backend.name} and ${t.backend.name})`);
  }
  const { outputs, saved = [], viewOf = [] } = primitive.forward(backend, inputs, attrs);
  const record = gradEnabled && primitive.backward !== undefined && inputs.some((t) => t.requiresGrad);
  const outTensors = outputs.map((s, i) => wrap(backend, s, record, viewOf[i] === undefined ? undefined : inputs[viewOf[i]!]));
  if (record) {
    const node: TapeNode = {
      primitive: primitive as Primitive<unknown>,
      ctx: { backend, inputs, outputs: outTensors, saved: saved.map((s) => wrap(backend, s)), attrs },
    };
    for (const t of outTensors) t.node = node;
  } else {
    for (const s of saved) backend.dispose(s);
  }
  return outTensors;
}

/** Output 0 of apply(). */
export function apply1<A>(primitive: Primitive<A>, inputs: readonly Tensor[], attrs: A): Tensor {
  return apply(primitive, inputs, attrs)[0]!;
}

/**
 * Reverse-mode differentiation from `root` (a scalar unless `seed` is given). Leaf tensors that
 * require grad get `.grad` (accumulated across calls: gradient accumulation is calling backward
 * again before the optimizer step). Intermediate gradients are freed as soon as they are used.
 */
export function backward(root: Tensor, seed?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward(): the tensor does not require grad (no parameter contributed to it, or it was computed under noGrad)');
  if (!seed && root.size !== 1) throw new Error(`backward(): root has shape [${root.shape.join(', ')}]; pass a seed gradient of that shape or reduce it to a scalar`);
  const backend = root.backend;
  // Reverse topological order of the nodes reachable from root.
  const order: TapeNode[] = [];
  const seen = new Set<TapeNode>();
  const stack: [TapeNode, boolean][] = root.node ? [[root.node, false]] : [];
  while (stack.length > 0) {
    const [node, expanded] = stack.pop()!;
    if (expanded) {
      order.push(node);
      continue;
    }
    if (seen.has(node)) continue;
    seen.add(node);
    stack.push([node, true]);
    for (const input of node.ctx.inputs) if (input.node && !seen.has(input.node)) stack.push([input.node, false]);
  }
  const grads = new Map<Tensor, Storage>();
  const accumulate = (t: Tensor, g: Storage) => {
    const shape = backend.shapeOf(g);
    if (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i])) {
      throw new Error(`gradient of shape [${shape.join(', ')}] for a tensor of shape [${t.shape.join(', ')}]`);
    }
    const previous = grads.get(t);
    if (previous === undefined) grads.set(t, g);
    else {
      grads.set(t, backend.binary('add', previous, g));
      backend.dispose(previous);
      backend.dispose(g);
    }
  };
  grads.set(root, seed ? backend.copy(seed) : backend.fill(root.shape, 1));
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!;
    const { ctx, primitive } = node;
    const outGrads = ctx.outputs.map((t) => grads.get(t) ?? null);
    if (outGrads.every((g) => g === null)) continue;
    const needs = ctx.inputs.map((t) => t.requiresGrad);
    const inGrads = primitive.backward!(ctx, outGrads, needs);
    for (const t of ctx.outputs) {
      const g = grads.get(t);
      if (g !== undefined && !primitive.ownsGrads) backend.dispose(g);
      grads.delete(t);
      t.node = null;
    }
    ctx.inputs.forEach((t, k) => {
      const g = inGrads[k];
      if (g === null || g === undefined) return;
      if (!t.requiresGrad) backend.dispose(g);
      else accumulate(t, g);
    });
  }
  // What is left belongs to leaves: add it to their .grad.
  for (const [t, g] of grads) {
    if (t.node) {
      backend.dispose(g); // the root of an interrupted graph; nothing to do
      continue;
    }
    if (t.grad) {
      const sum = backend.binary('add', t.grad.storage, g);
      t.grad.dispose();
      backend.dispose(g);
      t.grad = keep(wrap(backend, sum));
    } else {
      t.grad = keep(wrap(backend, g));
    }
  }
}

