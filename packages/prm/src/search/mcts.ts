// Monte-Carlo tree search over steps with PRM values (AIRL-S's test-time search; docs/DESIGN.md §5).
//
// One tree per problem, its nodes the StepTree's: the root is the prompt, each child one sampled
// step. A simulation descends from the root by the selection rule to a node without children,
// then either expands it — `expansions` next steps sampled at once (StepTree.expand), each child
// valued by the PRM (aggregateSteps of its step scores, 'last' by default: the newest step's score)
// and backed up along the path (every child is one visit: N += 1, W += v at the child and each
// ancestor) — or, when the node ended its response, backs its value up again. Selection maximises
//
//   'puct'   Q(c) + C · P(c) · √N(parent) / (1 + N(c))        P(c) = 1 / (siblings): the children are
//            policy samples, so the policy prior is already in which steps exist
//   'uct'    Q(c) + C · √(ln N(parent) / N(c))
//
// with Q = W / N min–max normalised over the problem's tree (MuZero's normalisation, so C means the
// same for an oracle's 0/1 values and a learned PRM's unbounded ones); ties → the earliest child.
// The answer is the finished response reached by descending along the most visited children
// ('visits'; ties → higher Q), or the finished response with the highest PRM value ('value'; ties →
// more visits). When the visit path ends in an unfinished node (the budget ran out) the highest
// valued finished response is taken; a tree with no finished response has no answer.
//
// Simulations of all problems run in lockstep: one batched expand per simulation round, one PRM
// call for all new children. A problem stops at `simulations` simulations or when its budget of
// generated tokens is spent.
import { aggregateSteps, type Aggregation } from '../eval/aggregate.js';
import { scoreSamples, type ProcessRewardModel } from '../models/prm.js';
import { isTerminal, type StepNode, type StepTree } from './step-tree.js';

export type MctsSelection = 'puct' | 'uct';
export type MctsFinal = 'visits' | 'value';
export const MCTS_SELECTIONS: readonly MctsSelection[] = ['puct', 'uct'];
export const MCTS_FINALS: readonly MctsFinal[] = ['visits', 'value'];

export interface MctsOptions {
  prm: ProcessRewardModel;
  /** Simulations per problem (≥ 1). */
  simulations: number;
  /** Next steps sampled when a node is expanded (≥ 1). */
  expansions: number;
  /** Exploration constant C (≥ 0, default 1). */
  exploration?: number;
  selection?: MctsSelection;
  final?: MctsFinal;
  /** How a node's step scores give its value (default 'last'). */
  aggregation?: Aggregation;
  prmBatchSize?: number;
}

export interface MctsStats {
  visits: number;
  /** Σ of backed-up values. */
  total: number;
  /** The node's own PRM value. */
  value: number;
  stepScores: number[];
}

export interface MctsResult {
  /** The chosen finished node (null when none finished). */
  chosen: StepNode | null;
  /** Every finished response of the tree with its statistics, in creation order. */
  finished: { node: StepNode; stats: MctsStats }[];
  simulations: number;
}

function check(options: MctsOptions): Required<Omit<MctsOptions, 'prm' | 'prmBatchSize'>> {
  const positive = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 1) throw new Error(`mcts: ${name} must be a positive integer, got ${value}`);
  };
  positive('simulations', options.simulations);
  positive('expansions', options.expansions);
  const exploration = options.exploration ?? 1;
  if (!(exploration >= 0) || !Number.isFinite(exploration)) throw new Error(`mcts: exploration must be a finite number ≥ 0, got ${exploration}`);
  const selection = options.selection ?? 'puct';
  if (!MCTS_SELECTIONS.includes(selection)) throw new Error(`mcts: unknown selection "${String(selection)}"; use ${MCTS_SELECTIONS.join(' or ')}`);
  const final = options.final ?? 'visits';
  if (!MCTS_FINALS.includes(final)) throw new Error(`mcts: unknown final "${String(final)}"; use ${MCTS_FINALS.join(' or ')}`);
  return { simulations: options.simulations, expansions: options.expansions, exploration, selection, final, aggregation: options.aggregation ?? 'last' };
}

/** MCTS on every root of `tree`; one result per problem, in order. */
export async function mcts(tree: StepTree, options: MctsOptions): Promise<MctsResult[]> {
  const o = check(options);
  const stats = new Map<StepNode, MctsStats>();
  const of = (n: StepNode) => stats.get(n)!;
  const bounds = tree.roots.map(() => ({ lo: Infinity, hi: -Infinity }));
  for (const root of tree.roots) stats.set(root, { visits: 0, total: 0, value: 0, stepScores: [] });
  const q = (n: StepNode): number => {
    const s = of(n);
    const mean = s.total / s.visits;
    const { lo, hi } = bounds[n.problem]!;
    return hi > lo ? (mean - lo) / (hi - lo) : 0.5;
  };
  const backup = (node: StepNode, value: number) => {
    for (let n: StepNode | null = node; n !== null; n = n.parent) {
      const s = of(n);
      s.visits++;
      s.total += value;
      if (n.parent !== null) {
        const b = bounds[n.problem]!;
        b.lo = Math.min(b.lo, s.total / s.visits);
        b.hi = Math.max(b.hi, s.total / s.visits);
      }
    }
  };
  const select = (root: StepNode): StepNode => {
    let node = root;
    while (node.children.length > 0) {
      const parent = of(node);
      let best: StepNode | null = null;
      let bestScore = -Infinity;
      for (const c of node.children) {
        const s = of(c);
        const score = o.selection === 'puct'
          ? q(c) + o.exploration * (1 / node.children.length) * Math.sqrt(parent.visits) / (1 + s.visits)
          : q(c) + o.exploration * Math.sqrt(Math.log(Math.max(parent.visits, 1)) / s.visits);
        if (best === null || score > bestScore) {
          best = c;
          bestScore = score;
        }
      }
      node = best!;
    }
    return node;
  };
  const done = tree.roots.map(() => 0);
  const live = (p: number) => done[p]! < o.simulations && tree.left(p) > 0;
  while (tree.roots.some((_, p) => live(p))) {
    const leavesToExpand: StepNode[] = [];
    for (const root of tree.roots) {
      if (!live(root.problem)) continue;
      done[root.problem]!++;
      const leaf = select(root);
      if (isTerminal(leaf)) backup(leaf, of(leaf).value);
      else leavesToExpand.push(leaf);
    }
    if (leavesToExpand.length === 0) continue;
    const grown = (await tree.expand(leavesToExpand.map((node) => ({ node, k: o.expansions })))).flat();
    const scored = await scoreSamples(options.prm, grown.map((n) => ({ promptIds: tree.roots[n.problem]!.ids, responseIds: n.responseIds })), tree.codec, options.prmBatchSize ?? 32);
    grown.forEach((node, i) => {
      const steps = scored[i]!.steps;
      // A piece with no step to score (whitespace cut off by the budget) inherits its parent's value.
      const value = steps.length === 0 ? of(node.parent!).value : aggregateSteps(steps, o.aggregation);
      stats.set(node, { visits: 0, total: 0, value, stepScores: steps });
      backup(node, value);
    });
  }
  return tree.roots.map((root, p): MctsResult => {
    const finished: { node: StepNode; stats: MctsStats }[] = [];
    const walk = (n: StepNode) => {
      if (isTerminal(n) && n.finish !== 'budget') finished.push({ node: n, stats: of(n) });
      n.children.forEach(walk);
    };
    walk(root);
    const byValue = finished.reduce<{ node: StepNode; stats: MctsStats } | null>(
      (best, f) => (best === null || f.stats.value > best.stats.value || (f.stats.value === best.stats.value && f.stats.visits > best.stats.visits) ? f : best), null);
    let chosen: StepNode | null = byValue?.node ?? null;
    if (o.final === 'visits') {
      let node = root;
      while (node.children.length > 0) {
        node = node.children.reduce((best, c) => {
          const a = of(c);
          const b = of(best);
          return a.visits > b.visits || (a.visits === b.visits && a.total / a.visits > b.total / b.visits) ? c : best;
        });
      }
      if (isTerminal(node) && node.finish !== 'budget') chosen = node;
    }
    return { chosen, finished, simulations: done[p]! };
  });
}
