// Step-level search (search/step-search.ts) on the briefly SFT-ed tiny byte policy of helpers.ts:
// guided by the oracle PRM (exact step labels), beam search and MCTS beat majority vote by a wide
// margin while generating no more tokens; the votes and best-of-N choose as vote.ts / best-of-n.ts
// say; every method keeps a problem's budget of generated tokens; bad options are named.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { GpuBackend, type DecoderLM } from '@repirl/autograd';
import { arithChain } from '@repirl/rl';
import { OraclePrm, majorityVote, stepSearch, type StepSearchOptions, type StepSearchOutput } from '../src/search/index.js';
import { codec, difficulty, sftPolicy, verify } from './helpers.js';

const problems = arithChain.generate(7, 32, difficulty); // held out from the policy's SFT problems (seed 1)

const accuracy = (out: StepSearchOutput) => out.results.filter((r) => r.correct).length / out.results.length;
const tokens = (out: StepSearchOutput) => out.results.reduce((a, r) => a + r.generatedTokens, 0) / out.results.length;

describe('stepSearch', () => {
  let policy: DecoderLM;
  let base: StepSearchOptions;
  beforeAll(async () => {
    const gpu = new GpuBackend(await getRuntime());
    policy = await sftPolicy(gpu, 150);
    base = { method: 'majority', codec, prm: new OraclePrm(gpu, arithChain, problems, codec), maxNewTokens: 12, seed: 3, verify };
  }, 120_000);

  it('with the oracle PRM, beam search and MCTS beat majority vote at no more generated tokens', async () => {
    const majority = await stepSearch(policy, problems, { ...base, method: 'majority', n: 8 });
    const beam = await stepSearch(policy, problems, { ...base, method: 'beam', beam: { width: 1, expansions: 4 } });
    const tree = await stepSearch(policy, problems, { ...base, method: 'mcts', mcts: { simulations: 4, expansions: 4 } });
    const line = (name: string, out: StepSearchOutput) => `${name} ${accuracy(out).toFixed(3)} at ${tokens(out).toFixed(1)} tokens/problem`;
    console.log([line('majority@8', majority), line('beam 1×4', beam), line('mcts 4×4', tree)].join(', '));
    expect(tokens(beam)).toBeLessThanOrEqual(tokens(majority));
    expect(tokens(tree)).toBeLessThanOrEqual(tokens(majority));
    expect(accuracy(beam)).toBeGreaterThanOrEqual(accuracy(majority) + 0.1);
    expect(accuracy(tree)).toBeGreaterThanOrEqual(accuracy(majority) + 0.2);
    // Majority's choice is vote.ts's: the first member of the most frequent answer.
    for (const r of majority.results) {
      expect(r.candidates).toHaveLength(8);
      expect(r.answer).toBe(majorityVote(r.candidates.map((c) => c.answer)).answer);
      if (r.chosen !== null) expect(r.correct).toBe(r.candidates[r.chosen]!.correct);
    }
    // The tree read each prompt once and each generated token once, far less than re-prefilling every step.
    for (const out of [majority, beam, tree]) expect(out.stats.prefilledTokens).toBeLessThan(out.stats.reprefillTokens / 3);
  }, 60_000);

  it('best-of-N picks a response the oracle scores all-correct whenever one was sampled; the weighted vote follows the weights', async () => {
    const bon = await stepSearch(policy, problems, { ...base, method: 'bon', n: 8 });
    for (const r of bon.results) {
      const perfect = r.candidates.findIndex((c) => c.stepScores!.length > 0 && Math.min(...c.stepScores!) === 1);
      expect(r.chosen).toBe(perfect >= 0 ? perfect : 0);
    }
    // τ → 0: the weighted vote is the argmax of the weights (the mean oracle score).
    const vote = await stepSearch(policy, problems, { ...base, method: 'weighted-vote', n: 8, vote: { temperature: 1e-3 } });
    for (const r of vote.results) {
      if (r.chosen === null) continue;
      const best = Math.max(...r.candidates.filter((c) => c.answer !== null).map((c) => c.score!));
      expect(r.candidates[r.chosen]!.score).toBe(best);
    }
  }, 60_000);

  it('keeps every problem within its budget of generated tokens', async () => {
    for (const o of [
      { method: 'majority', n: 16 }, { method: 'beam', beam: { width: 2, expansions: 4 } }, { method: 'mcts', mcts: { simulations: 20, expansions: 4 } },
    ] as const) {
      const out = await stepSearch(policy, problems.slice(0, 8), { ...base, ...o, budget: 30 });
      for (const r of out.results) expect(r.generatedTokens).toBeLessThanOrEqual(30);
      expect(Math.max(...out.results.map((r) => r.generatedTokens))).toBe(30); // the budget was what stopped it
      expect(out.stats.generatedTokens).toEqual(out.results.map((r) => r.generatedTokens));
    }
  }, 60_000);

  it('names the bad option', async () => {
    const p = problems.slice(0, 2);
    const bad: [Partial<StepSearchOptions>, RegExp][] = [
      [{ method: 'best' as never }, /unknown method "best"/],
      [{ method: 'beam', prm: null }, /method beam needs a PRM/],
      [{ method: 'beam' }, /beam needs beam.width/],
      [{ method: 'mcts', mcts: { simulations: 0, expansions: 2 } }, /mcts: simulations must be a positive integer, got 0/],
      [{ method: 'mcts', mcts: { simulations: 2, expansions: 2, selection: 'ucb' as never } }, /unknown selection "ucb"/],
      [{ method: 'mcts', mcts: { simulations: 2, expansions: 2, final: 'mean' as never } }, /unknown final "mean"/],
      [{ method: 'mcts', mcts: { simulations: 2, expansions: 2, exploration: -1 } }, /exploration must be a finite number ≥ 0/],
      [{ n: 0 }, /n must be a positive integer, got 0/],
      [{ budget: 0 }, /budget must be a positive integer, got 0/],
      [{ aggregation: 'max' as never }, /unknown aggregation "max"/],
    ];
    for (const [override, message] of bad) await expect(stepSearch(policy, p, { ...base, ...override })).rejects.toThrow(message);
  });
});
