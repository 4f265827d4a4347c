// PRM-guided beam search on a briefly SFT-ed tiny policy (helpers.ts): guided by an oracle PRM (each
// step scored by its exact task label, as evaluate.test.ts's LabelPrm) it must be at least as
// accurate as sampling and best-of-1, and a reversed oracle must do worse; a search is a function of
// its seed; the budgets end beams; bad options are named.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { GpuBackend, tensor, type Backend, type DecoderLM, type Tensor } from '@repirl/autograd';
import { arithChain, rollout, type PackedBatch, type Problem } from '@repirl/rl';
import { stepEndTokens, scoreSamples, type ProcessRewardModel } from '../src/models/prm.js';
import { beamSearch, beamSearchAccuracy, bestOfNAccuracy, type BeamSearchOptions } from '../src/search/index.js';
import { codec, difficulty, sftPolicy, verify } from './helpers.js';

/** Scores each step's end token by its exact global label: +sign when right, −sign when wrong. */
class OraclePrm implements ProcessRewardModel {
  readonly kind = 'label-oracle';
  private readonly byPrompt: Map<string, Problem>;
  constructor(readonly backend: Backend, problems: readonly Problem[], private readonly sign: number) {
    this.byPrompt = new Map(problems.map((p) => [codec.encodePrompt(p.prompt).join(','), p]));
  }
  tokenRewards(packed: PackedBatch): Tensor {
    const out = new Float64Array(packed.B * packed.T);
    for (let b = 0; b < packed.B; b++) {
      const row = Array.from(packed.ids.subarray(b * packed.L, b * packed.L + packed.seqLengths[b]!));
      const problem = this.byPrompt.get(row.slice(0, packed.promptLengths[b]!).join(','))!;
      const responseIds = row.slice(packed.promptLengths[b]!);
      const labels = arithChain.stepLabels(problem, codec.decodeResponse(responseIds)).global;
      stepEndTokens(responseIds, codec).forEach((t, k) => (out[b * packed.T + t] = this.sign * (labels[k] ? 1 : -1)));
    }
    return tensor(this.backend, out, [packed.B, packed.T]);
  }
  trainableParameters(): Map<string, Tensor> {
    return new Map();
  }
  dispose(): void {}
}

const problems = arithChain.generate(7, 8, difficulty); // held out from the policy's SFT problems (seed 1)
const maxNewTokens = 12;

describe('beamSearch', () => {
  let gpu: GpuBackend;
  let policy: DecoderLM;
  let options: BeamSearchOptions;
  beforeAll(async () => {
    gpu = new GpuBackend(await getRuntime());
    policy = await sftPolicy(gpu, 150);
    options = { prm: new OraclePrm(gpu, problems, 1), codec, beams: 2, expansions: 4, maxNewTokens, seed: 3 };
  }, 120_000);

  it('guided by an oracle PRM it is at least as accurate as sampling and best-of-1; a reversed oracle does worse', async () => {
    const samples = (await rollout(policy, problems, { k: 8, maxNewTokens, seed: 5, codec, verify })).samples;
    const sampled = samples.filter((s) => s.verdict.correct).length / samples.length;
    const scored = await scoreSamples(options.prm, samples, codec);
    const pools = problems.map((p, i) => ({
      correctAnswer: p.answer,
      candidates: samples.flatMap((s, j) => (s.group === i ? [{ answer: s.verdict.parsedAnswer, stepScores: scored[j]!.steps }] : [])),
    }));
    const bo1 = bestOfNAccuracy(pools, { n: 1, method: 'last', subsets: 64 }).accuracy;
    const oracle = await beamSearchAccuracy(policy, problems, { ...options, verify });
    const reversed = await beamSearchAccuracy(policy, problems, { ...options, prm: new OraclePrm(gpu, problems, -1), verify });
    const tokensPerSample = samples.reduce((a, s) => a + s.responseIds.length, 0) / samples.length;
    console.log(
      `sampled ${sampled.toFixed(3)}, best-of-1 ${bo1.toFixed(3)}, beam ${oracle.accuracy.toFixed(3)} ` +
        `(${oracle.generatedTokens} tokens ≈ best-of-${(oracle.generatedTokens / problems.length / tokensPerSample).toFixed(1)}), reversed ${reversed.accuracy.toFixed(3)}`,
    );
    expect(sampled).toBeGreaterThan(0.1); // the policy is right sometimes …
    expect(sampled).toBeLessThan(0.9); // … and wrong sometimes
    expect(oracle.accuracy).toBeGreaterThanOrEqual(sampled);
    expect(oracle.accuracy).toBeGreaterThanOrEqual(bo1);
    expect(reversed.accuracy).toBeLessThan(oracle.accuracy);
    expect(oracle.correct).toEqual(oracle.results.map((r, i) => verify(problems[i]!, r.response).correct));
    expect(oracle.generatedTokens).toBe(oracle.results.reduce((a, r) => a + r.generatedTokens, 0));
    // A finished best beam holds a complete answer line or used its budget; its score is its last step's.
    for (const r of oracle.results) {
      expect(r.response.endsWith('\n') || r.responseIds.length === maxNewTokens).toBe(true);
      if (r.stepScores.length > 0) expect(r.score).toBe(r.stepScores.at(-1));
    }
  }, 120_000);

  it('is a function of its seed', async () => {
    const a = await beamSearch(policy, problems, { ...options, aggregation: 'min' });
    const b = await beamSearch(policy, problems, { ...options, aggregation: 'min' });
    expect(b).toEqual(a);
    const other = await beamSearch(policy, problems, { ...options, aggregation: 'min', seed: 4 });
    expect(other.results.map((r) => r.response)).not.toEqual(a.results.map((r) => r.response));
  }, 60_000);

  it('maxSteps and maxNewTokens end the beams', async () => {
    const oneStep = await beamSearch(policy, problems, { ...options, maxSteps: 1 });
    for (const r of oneStep.results) {
      expect(r.rounds).toBe(1);
      expect(r.response.trimEnd().split('\n')).toHaveLength(1);
    }
    const short = await beamSearch(policy, problems, { ...options, maxNewTokens: 2 });
    for (const r of short.results) expect(r.responseIds.length).toBeLessThanOrEqual(2);
    // At most 1 + beams rows per round, each ≤ 2 tokens in all: beams × expansions × 2 tokens bound a problem.
    for (const r of short.results) expect(r.generatedTokens).toBeLessThanOrEqual(options.beams * options.expansions * 2 + options.expansions * 2);
  }, 60_000);

  it('names the bad option', async () => {
    const bad: [Partial<BeamSearchOptions>, RegExp][] = [
      [{ beams: 0 }, /beams must be a positive integer, got 0/],
      [{ expansions: 1.5 }, /expansions must be a positive integer/],
      [{ maxSteps: 0 }, /maxSteps must be a positive integer/],
      [{ maxNewTokens: 0 }, /maxNewTokens must be a positive integer/],
      [{ maxNewTokens: 1000 }, /maxNewTokens \(1000\) exceeds the policy's maxSeqLen/],
      [{ temperature: 0 }, /temperature must be a finite number > 0/],
      [{ seed: -1 }, /seed must be a non-negative integer/],
      [{ aggregation: 'best' as never }, /unknown aggregation "best"/],
    ];
    for (const [override, message] of bad) await expect(beamSearch(policy, problems, { ...options, ...override })).rejects.toThrow(message);
    await expect(beamSearch(policy, [], options)).rejects.toThrow(/no problems/);
  });
});
