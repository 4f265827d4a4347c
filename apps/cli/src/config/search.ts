// The config of `repirl search` (issue 16): test-time search with a PRM on held-out test problems,
// every method on @repirl/prm's step-level generation (a prefix tree of KV caches) and one budget
// of generated tokens per problem. The problems are `prm eval`'s (the test split, the same seed
// offset), so a search and an evaluation of the same seed see the same problems.
import { MCTS_FINALS, MCTS_SELECTIONS, SEARCH_METHODS, aggregationModes } from '@repirl/prm';
import { U32_MAX, s, type Infer, type Issue } from '@repirl/rl';
import { hfModelField, taskSchema, templateField } from './common.js';
import { problemDataSchema, verifierSchema } from './data.js';

export const searchSchema = s.object(
  'test-time search with a PRM (majority, best-of-N, weighted vote, beam search, MCTS) on held-out test problems, at a budget of generated tokens',
  {
    method: s.enum(
      'majority: most frequent answer of n responses (no PRM); bon: the response with the best aggregated PRM score; weighted-vote: answers weighted by the PRM; beam: step-level beam search; mcts: Monte-Carlo tree search with PRM values at step nodes',
      SEARCH_METHODS, { default: 'majority' },
    ),
    prm: s.optional(s.string(
      'the PRM: a `repirl prm train` run directory (its final prm) or a checkpoint directory holding prm.safetensors; "oracle": the exact step labels of a generated task (a step scores 1 when right, else 0); unset: none (majority only)',
      { nonEmpty: true },
    )),
    policy: s.optional(s.string('the policy that writes the steps (default: the prm run\'s init or model; required with prm=oracle or no prm, or give model)', { nonEmpty: true })),
    model: s.optional(hfModelField('a Hugging Face model directory that writes the steps, instead of policy (same tokenizer as the PRM)')),
    template: templateField(),
    task: taskSchema(),
    data: problemDataSchema(),
    verifier: verifierSchema(),
    problems: s.integer('held-out test problems (the test split, as `prm eval` draws them with the same seed)', { default: 100, min: 1 }),
    budget: s.integer('generated tokens per problem (0: no limit beyond the method\'s size); a search that reaches it stops and answers with what it has', { default: 0, min: 0 }),
    n: s.integer('responses per problem of majority, bon and weighted-vote', { default: 8, min: 1, max: 4096 }),
    aggregation: s.optional(s.enum("how step scores give a response's score (bon; default min) or a node's value (beam, mcts; default last)", aggregationModes)),
    vote: s.object('weighted-vote: each answer weighs Σ g(w / temperature) over its responses', {
      transform: s.enum('g: raw, exp (softmax-style; rePIRL) or sigmoid', ['raw', 'exp', 'sigmoid'], { default: 'exp' }),
      temperature: s.number('τ dividing every weight', { default: 1, min: 0, minExclusive: true }),
      source: s.enum("w: 'steps' (aggregation of the step scores, vote.aggregation) or 'token-mean' (the mean token reward, rePIRL's released evaluation)", ['steps', 'token-mean'], { default: 'steps' }),
      aggregation: s.enum('the step aggregation giving w with source steps', aggregationModes, { default: 'mean' }),
    }),
    beam: s.object('beam search', {
      width: s.integer('partial responses kept per problem', { default: 4, min: 1, max: 1024 }),
      expansions: s.integer('next steps sampled per kept response and round', { default: 4, min: 1, max: 1024 }),
    }),
    mcts: s.object('Monte-Carlo tree search', {
      simulations: s.integer('simulations per problem', { default: 16, min: 1, max: 100000 }),
      expansions: s.integer('next steps sampled when a node is expanded', { default: 4, min: 1, max: 1024 }),
      exploration: s.number('exploration constant C', { default: 1, min: 0 }),
      selection: s.enum('puct: Q + C·P·√N/(1+n) with P uniform over the sampled steps; uct: Q + C·√(ln N / n)', MCTS_SELECTIONS, { default: 'puct' }),
      final: s.enum('the answer: the finished response along the most visited children (visits) or with the highest PRM value (value)', MCTS_FINALS, { default: 'visits' }),
    }),
    maxNewTokens: s.integer('longest response in tokens (bytes)', { default: 32, min: 1 }),
    maxSteps: s.integer('most steps of one response (0: no limit beyond maxNewTokens)', { default: 0, min: 0 }),
    temperature: s.number('sampling temperature of the steps', { default: 1, min: 0, max: 10, minExclusive: true }),
    reuse: s.boolean('keep and reuse the KV cache of shared prefixes (false: re-prefill every expanded node, for comparison)', { default: true }),
    prmBatchSize: s.integer('sequences per PRM forward pass', { default: 32, min: 1 }),
    bootstrap: s.integer('bootstrap resamples of the problems for the intervals', { default: 1000, min: 10 }),
    seed: s.integer('seed of the problems and samples (use one disjoint from training)', { default: 1_000_003, min: 0, max: U32_MAX }),
  },
  {
    check: (c): Issue[] => [
      ...(c.method !== 'majority' && c.prm === null ? [{ path: 'prm', message: `is required by method ${c.method} (a PRM run directory or "oracle"; only majority runs without one)` }] : []),
      ...(c.policy !== null && c.model !== null ? [{ path: 'model', message: 'and policy both name the policy that writes the steps; give one' }] : []),
      ...((c.prm === null || c.prm === 'oracle') && c.policy === null && c.model === null
        ? [{ path: 'policy', message: `is required with ${c.prm === null ? 'no prm' : 'prm=oracle'}: the policy that writes the steps (or give model)` }] : []),
    ],
  },
);
export type SearchConfig = Infer<typeof searchSchema>;
