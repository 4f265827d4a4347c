// The runner of `repirl search` (issue 16): test-time search with a PRM on held-out test problems,
// on @repirl/prm's stepSearch (majority, bon, weighted-vote, beam, mcts over one prefix tree of KV
// caches, one budget of generated tokens per problem).
//
// The problems are the test split drawn as `prm eval` draws them (the same seed offset), the PRM
// is loaded as `prm eval` loads it (its codec must be the policy's), or is the oracle of the
// task's exact step labels, or none. Writes
//   search.jsonl   one line per problem: its id, prompt and reference answer, every candidate
//                  (response, answer, PRM step scores, score, finish, tokens, correct), the chosen
//                  one, its answer, whether it is right and the tokens the problem spent;
//   search.json    the summary: accuracy with a bootstrap interval over problems, generated tokens
//                  per problem (with its interval), and the prefix tree's accounting (tokens
//                  prefilled, generated, KV positions copied, what a re-prefill would have read).
import { writeFileAtomic } from '@repirl/autograd';
import { OraclePrm, bootstrapInterval, problemMean, stepSearch, type ProcessRewardModel, type StepSearchOptions } from '@repirl/prm';
import type { TaskCodec } from '@repirl/rl';
import type { SearchConfig } from '../config/search.js';
import type { RunContext, RunOutcome } from './context.js';
import { heldOutProblems, loadPrmAndPolicy } from './prm.js';
import { loadStart, responseBudget, type StartingPolicy } from './shared.js';

/** The policy, the codec cutting steps by the data's rule, and the learned PRM of a search config (loaded as `prm eval` loads them). */
async function loadSearch(c: SearchConfig, ctx: RunContext<SearchConfig>): Promise<{ start: StartingPolicy; codec: TaskCodec; learned: ProcessRewardModel | null }> {
  if (c.prm !== null && c.prm !== 'oracle') {
    const { start, prm, codec } = await loadPrmAndPolicy(c.prm, { policy: c.policy, model: c.model, template: c.template, steps: c.data.steps, stepsKey: 'data.steps', stepRule: ctx.data.stepRule });
    return { start, codec, learned: prm };
  }
  if (c.prm === 'oracle' && ctx.data.task === null) throw new Error(`prm=oracle reads a generated task's exact step labels; the problems of ${ctx.data.name} (data.source=file) have none`);
  const start = await loadStart({ ...(c.model !== null ? { model: c.model } : { init: c.policy }), template: c.template });
  return { start, codec: start.codec.withStepRule(ctx.data.stepRule), learned: null };
}

export async function runSearch(ctx: RunContext<SearchConfig>): Promise<RunOutcome> {
  const c = ctx.config;
  const { start, codec, learned } = await loadSearch(c, ctx);
  const { policy } = start;
  try {
    const problems = heldOutProblems(ctx.data, 'test', c.seed, c.problems);
    const maxNewTokens = responseBudget(policy, problems, codec, c.maxNewTokens);
    const prm = c.prm === 'oracle' ? new OraclePrm(policy.backend, ctx.data.task!, problems, codec) : learned;
    await ctx.report(1, {});
    const options: StepSearchOptions = {
      method: c.method, codec, prm, maxNewTokens, temperature: c.temperature, seed: c.seed, reuse: c.reuse, prmBatchSize: c.prmBatchSize, verify: ctx.data.verify,
      n: c.n, vote: c.vote, beam: c.beam, mcts: c.mcts,
      ...(c.budget > 0 ? { budget: c.budget } : {}), ...(c.maxSteps > 0 ? { maxSteps: c.maxSteps } : {}), ...(c.aggregation !== null ? { aggregation: c.aggregation } : {}),
    };
    const started = performance.now();
    const out = await stepSearch(policy, problems, options);
    const seconds = (performance.now() - started) / 1000;
    const lines = out.results.map((r, p) => JSON.stringify({
      problem: problems[p]!.id, prompt: problems[p]!.prompt, reference: problems[p]!.answer, method: c.method,
      chosen: r.chosen, answer: r.answer, correct: r.correct ?? false, generated_tokens: r.generatedTokens,
      candidates: r.candidates.map((x) => ({
        response: x.response, answer: x.answer, correct: x.correct ?? null, finish: x.finish, tokens: x.tokens, step_scores: x.stepScores, score: finite(x.score),
        ...(x.visits !== undefined ? { visits: x.visits } : {}),
      })),
    }));
    await writeFileAtomic(ctx.run.file('search.jsonl'), `${lines.join('\n')}\n`);
    const correct = out.results.map((r) => (r.correct ? 1 : 0));
    const tokens = out.results.map((r) => r.generatedTokens);
    const opts = { resamples: c.bootstrap, seed: c.seed };
    const acc = bootstrapInterval(problems.length, problemMean(correct), opts);
    const tok = bootstrapInterval(problems.length, problemMean(tokens), opts);
    const generated = tokens.reduce((a, b) => a + b, 0);
    const results = {
      'search/acc': acc.value, 'search/acc/lo': acc.lo, 'search/acc/hi': acc.hi,
      'search/tokens_per_problem': tok.value, 'search/tokens_per_problem/lo': tok.lo, 'search/tokens_per_problem/hi': tok.hi,
      'search/generated_tokens': generated, 'search/prefilled_tokens': out.stats.prefilledTokens, 'search/copied_tokens': out.stats.copiedTokens,
      'search/reprefill_tokens': out.stats.reprefillTokens, 'search/rounds': out.stats.rounds, 'search/problems': problems.length, 'timing/search_s': seconds,
    };
    const summary = {
      method: c.method, prm: c.prm ?? 'none', budget: c.budget > 0 ? c.budget : null, n: c.n, beam: c.beam, mcts: c.mcts, problems: problems.length,
      accuracy: { value: acc.value, lo: acc.lo, hi: acc.hi, level: acc.level, resamples: acc.resamples },
      tokens_per_problem: { value: tok.value, lo: tok.lo, hi: tok.hi },
      tokens: { generated, prefilled: out.stats.prefilledTokens, copied_kv: out.stats.copiedTokens, reprefill_equivalent: out.stats.reprefillTokens, rows: out.stats.rows, rounds: out.stats.rounds },
      seconds,
    };
    await writeFileAtomic(ctx.run.file('search.json'), `${JSON.stringify(summary, null, 1)}\n`);
    await ctx.report(2, results);
    ctx.log(
      `${ctx.data.name}: ${c.method} accuracy ${acc.value.toFixed(3)} [${acc.lo.toFixed(3)}, ${acc.hi.toFixed(3)}] at ${tok.value.toFixed(1)} generated tokens per problem ` +
        `(${problems.length} problems; prefilled ${out.stats.prefilledTokens} tokens, a re-prefill per step would have read ${out.stats.reprefillTokens})`,
    );
    return { status: 'finished', step: 2, results };
  } finally {
    policy.dispose();
    learned?.dispose();
  }
}

/** JSON has no ±Infinity: an unscorable candidate's score is null. */
const finite = (x: number | null): number | null => (x === null || !Number.isFinite(x) ? null : x);
