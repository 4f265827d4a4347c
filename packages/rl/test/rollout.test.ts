// Rollouts: derived seeds and the shuffled prompt stream, the prompt/response token convention and
// the answer-line stop, packing into the response layout, K samples per prompt on a tiny policy
// (shapes, masks, stops, verifier rewards, determinism, log-probs equal to a trainer forward),
// the dense-reward hook, and accuracy-band filtering with oversampling and a carry-over buffer.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { ByteTokenizer, DecoderLM, GpuBackend, noGrad, tidy } from '@repirl/autograd';
import { arithChain, type Problem } from '../src/tasks/index.js';
import {
  ANSWER_LINE_STOP, AnswerLineStopTokenizer, ShuffledStream, TaskCodec, attachDenseRewards, deriveSeed, filteredRollout, groupAccuracy,
  hasCompleteAnswerLine, inBand, packSequences, padRows, permutation, responseLogProbs, rollout, splitGroups, unpadRows, type RolloutBatch,
  type RolloutSample,
} from '../src/rollout/index.js';
import { SftTrainer, sftExamplesFromProblems } from '../src/trainers/index.js';

let gpu: GpuBackend;
/** A policy SFT'd briefly on arith-chain (1 op, values < 10): it writes answer lines, right about a third of the time. */
let policy: DecoderLM;
const codec = new TaskCodec();
const difficulty = { steps: 1, range: 10 };
const problems = arithChain.generate(11, 8, difficulty);

beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  policy = new DecoderLM(gpu, { vocabSize: 259, dModel: 64, nLayers: 2, nHeads: 4, dFF: 128, maxSeqLen: 48 }, { seed: 1 });
  const sft = new SftTrainer({ policy, examples: sftExamplesFromProblems(arithChain.generate(1, 1000, difficulty)), config: { steps: 100, batchSize: 32, optim: { lr: 3e-3, warmupSteps: 10, minLrRatio: 0.1 } } });
  await sft.run();
  sft.dispose();
});

describe('derived seeds and the prompt stream', () => {
  it('deriveSeed is a pure function of its path', () => {
    expect(deriveSeed(7, 'rollout', 3)).toBe(deriveSeed(7, 'rollout', 3));
    const seeds = new Set([deriveSeed(7, 'rollout', 3), deriveSeed(7, 'rollout', 4), deriveSeed(8, 'rollout', 3), deriveSeed(7, 'val', 3)]);
    expect(seeds.size).toBe(4);
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
    expect(() => deriveSeed(-1)).toThrow(/base seed/);
  });

  it('ShuffledStream: each epoch is a permutation, and any stretch depends only on its position', () => {
    const stream = new ShuffledStream(5, 42, 'prompts');
    const first = stream.slice(0, 5);
    expect([...first].sort()).toEqual([0, 1, 2, 3, 4]);
    expect([...stream.slice(5, 5)].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(stream.slice(0, 10)).not.toEqual([...first, ...first]); // epochs are shuffled anew
    // A fresh stream read from the middle agrees with one read from the start.
    expect(new ShuffledStream(5, 42, 'prompts').slice(7, 6)).toEqual(stream.slice(0, 13).slice(7));
    expect(permutation(6, 1)).toEqual(permutation(6, 1));
  });
});

describe('prompt and response tokens', () => {
  it('prompts start with <bos> and end with one newline; SFT responses end with the answer line and a newline', () => {
    expect(codec.encodePrompt('7 +3\n')).toEqual([ByteTokenizer.BOS, ...new TextEncoder().encode('7 +3\n')]);
    expect(codec.encodePrompt('What is 2+2?')).toEqual(codec.encodePrompt('What is 2+2?\n'));
    expect(codec.responseText('=10\n#### 10')).toBe('=10\n#### 10\n');
    expect(codec.responseText('=10\n#### 10\n\n  ')).toBe('=10\n#### 10\n');
    expect(codec.decodeResponse([...new TextEncoder().encode('=1\n'), ByteTokenizer.EOS])).toBe('=1\n');
  });

  it('a complete answer line is a "####" line or a line with a complete \\boxed{…}, ended by a newline', () => {
    expect(hasCompleteAnswerLine('So $x = 2$.\nThe answer is $\\boxed{\\frac{1}{2}}$.\n')).toBe(true);
    expect(hasCompleteAnswerLine('The answer is $\\boxed{\\frac{1}{2}}$.')).toBe(false); // not finished yet
    expect(hasCompleteAnswerLine('$\\boxed{\\frac{1}{2}$\n')).toBe(false); // the box never closes
    expect(hasCompleteAnswerLine('We box things.\n')).toBe(false);
    expect(hasCompleteAnswerLine('=10\n#### 10\n')).toBe(true);
    expect(hasCompleteAnswerLine('#### 3\n')).toBe(true);
    expect(hasCompleteAnswerLine('=10\n  #### \n')).toBe(true); // no answer, still the end of the response (the verifier says wrong)
    expect(hasCompleteAnswerLine('=10\n#### 10')).toBe(false); // not finished yet
    expect(hasCompleteAnswerLine('=10\n=#### 1\n')).toBe(false);
    const stopView = new AnswerLineStopTokenizer(codec.tokenizer);
    const enc = (s: string) => codec.tokenizer.encode(s);
    expect(stopView.decode(enc('=10\n#### 1'))).toBe('=10\n#### 1');
    expect(stopView.decode(enc('=10\n#### 10\n'))).toBe(`=10\n#### 10\n${ANSWER_LINE_STOP}`);
    expect(codec.generateStops().stop).toEqual([ByteTokenizer.EOS, ANSWER_LINE_STOP]);
  });

  it('packs prompt + response rows and maps each response token to the position that predicts it', () => {
    const packed = packSequences([{ promptIds: [1, 2, 3], responseIds: [4, 5] }, { promptIds: [6], responseIds: [7, 8, 9] }], 0);
    expect([packed.B, packed.L, packed.T]).toEqual([2, 5, 3]);
    expect(Array.from(packed.ids)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
    expect(packed.seqLengths).toEqual([5, 4]);
    // Row 0: token 4 at position 3 is predicted at 2, token 5 at 3; its padding points inside row 0.
    // Row 1 (offset 5): token 7 at position 1 is predicted at 0, then 1, 2.
    expect(packed.positions).toEqual([2, 3, 2, 5, 6, 7]);
    expect(Array.from(packed.targets)).toEqual([4, 5, 0, 7, 8, 9]);
    expect(Array.from(packed.mask)).toEqual([1, 1, 0, 1, 1, 1]);
    const rows = [[0.5, -1], [1, 2, 3]];
    expect(Array.from(padRows(rows, packed))).toEqual([0.5, -1, 0, 1, 2, 3]);
    expect(unpadRows(padRows(rows, packed), packed)).toEqual(rows);
    expect(() => packSequences([], 0)).toThrow(/no sequences/);
  });
});

describe('rollout on a tiny policy', () => {
  const k = 4;
  const maxNewTokens = 12;
  let batch: RolloutBatch;
  beforeAll(async () => {
    batch = await rollout(policy, problems, { k, maxNewTokens, seed: 5, codec, verify: (p, r) => arithChain.verify(p, r) });
  });

  it('returns K samples per prompt, group-major, with one log-prob per response token', () => {
    expect(batch.samples).toHaveLength(problems.length * k);
    batch.samples.forEach((s, i) => {
      const p = Math.floor(i / k);
      expect(s.group).toBe(p);
      expect(s.problem).toBe(problems[p]);
      expect(s.promptIds).toEqual(codec.encodePrompt(problems[p]!.prompt));
      expect(s.logprobs).toHaveLength(s.responseIds.length);
      for (const lp of s.logprobs) expect(lp).toBeLessThanOrEqual(0);
      expect(s.response).toBe(codec.decodeResponse(s.responseIds));
    });
  });

  it('stops right after the first complete answer line, or truncates at maxNewTokens', () => {
    const stopped = batch.samples.filter((s) => s.finishReason === 'stop');
    expect(stopped.length).toBeGreaterThan(batch.samples.length / 2); // the SFT'd policy writes answer lines
    for (const s of batch.samples) {
      if (s.finishReason === 'length') {
        expect(s.responseIds).toHaveLength(maxNewTokens);
      } else if (s.responseIds.at(-1) !== ByteTokenizer.EOS) {
        expect(hasCompleteAnswerLine(s.response)).toBe(true);
        expect(s.response.endsWith('\n')).toBe(true);
        expect(hasCompleteAnswerLine(codec.decodeResponse(s.responseIds.slice(0, -1)))).toBe(false); // not one token later
      }
    }
  });

  it('scores are the verifier\'s verdicts (1 correct, 0 not), and group accuracy averages them', () => {
    for (const s of batch.samples) {
      expect(s.verdict).toEqual(arithChain.verify(s.problem, s.response));
      expect(s.score).toBe(s.verdict.correct ? 1 : 0);
    }
    const accuracy = groupAccuracy(batch.samples);
    const groups = splitGroups(batch.samples);
    expect(groups).toHaveLength(problems.length);
    groups.forEach((g, i) => expect(accuracy.get(i)).toBe(g.filter((s) => s.score === 1).length / k));
    const mean = batch.samples.reduce((a, s) => a + s.score, 0) / batch.samples.length;
    expect(mean).toBeGreaterThan(0); // neither all wrong …
    expect(mean).toBeLessThan(1); // … nor all right: a useful starting point for RL
  });

  it('the same seed gives the same samples; another seed other samples', async () => {
    const again = await rollout(policy, problems, { k, maxNewTokens, seed: 5, codec });
    expect(again.samples.map((s) => s.responseIds)).toEqual(batch.samples.map((s) => s.responseIds));
    expect(again.samples.map((s) => s.logprobs)).toEqual(batch.samples.map((s) => s.logprobs));
    const other = await rollout(policy, problems, { k, maxNewTokens, seed: 6, codec });
    expect(other.samples.map((s) => s.responseIds)).not.toEqual(batch.samples.map((s) => s.responseIds));
    // Chunked generation is still a function of the seed.
    const chunked = await rollout(policy, problems, { k, maxNewTokens, seed: 5, codec, batchSize: 8 });
    expect((await rollout(policy, problems, { k, maxNewTokens, seed: 5, codec, batchSize: 8 })).samples.map((s) => s.responseIds)).toEqual(chunked.samples.map((s) => s.responseIds));
  });

  it('rollout log-probs equal a trainer forward over prompt + response (temperatures 1 and 0.7)', async () => {
    for (const temperature of [1, 0.7]) {
      const b = temperature === 1 ? batch : await rollout(policy, problems, { k, maxNewTokens, seed: 9, temperature, codec });
      const packed = packSequences(b.samples, codec.padId);
      const logp = noGrad(() => tidy(() => responseLogProbs(policy, packed, { temperature }).logp));
      const trainer = unpadRows(await logp.data(), packed);
      logp.dispose();
      let worst = 0;
      b.samples.forEach((s, i) => s.logprobs.forEach((lp, t) => (worst = Math.max(worst, Math.abs(lp - trainer[i]![t]!)))));
      expect(worst, `temperature ${temperature}`).toBeLessThan(1e-4);
    }
  });

  it('an untrained policy that never answers is truncated at maxNewTokens (or stops on <eos>)', async () => {
    const untrained = new DecoderLM(gpu, { vocabSize: 259, dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, maxSeqLen: 48 }, { seed: 3 });
    const b = await rollout(untrained, problems.slice(0, 2), { k: 2, maxNewTokens: 6, seed: 1, codec });
    for (const s of b.samples) {
      if (s.finishReason === 'length') expect(s.responseIds).toHaveLength(6);
      else expect(s.responseIds.at(-1)).toBe(ByteTokenizer.EOS);
      expect(s.score).toBe(0);
    }
    untrained.dispose();
  });

  it('rejects bad options with the option named', async () => {
    await expect(rollout(policy, problems, { k: 0, maxNewTokens, seed: 1 })).rejects.toThrow(/k \(samples per prompt\)/);
    await expect(rollout(policy, problems, { k: 1, maxNewTokens: 0, seed: 1 })).rejects.toThrow(/maxNewTokens/);
    await expect(rollout(policy, problems, { k: 1, maxNewTokens, seed: 1, temperature: 0 })).rejects.toThrow(/temperature/);
  });
});

describe('dense rewards', () => {
  const sample = (n: number): RolloutSample => ({
    problem: problems[0]!, group: 0, promptIds: [256], responseIds: new Array<number>(n).fill(48), logprobs: new Array<number>(n).fill(-1),
    response: '0'.repeat(n), finishReason: 'length', verdict: { correct: false, parsedAnswer: null, reason: '' }, score: 0,
  });

  it('stores one reward per response token, accepting rows padded to the longest response', async () => {
    const batch: RolloutBatch = { samples: [sample(2), sample(3)], temperature: 1, maxNewTokens: 3 };
    await attachDenseRewards(batch, (b) => b.samples.map((s) => s.responseIds.map((_, t) => t / 10)));
    expect(batch.samples.map((s) => s.dense)).toEqual([[0, 0.1], [0, 0.1, 0.2]]);
    await attachDenseRewards(batch, async () => [[1, 2, 99], [3, 4, 5]]); // padded rows: the tail is ignored
    expect(batch.samples.map((s) => s.dense)).toEqual([[1, 2], [3, 4, 5]]);
  });

  it('rejects rows of the wrong count, length or value', async () => {
    const batch: RolloutBatch = { samples: [sample(2), sample(3)], temperature: 1, maxNewTokens: 3 };
    await expect(attachDenseRewards(batch, () => [[1, 2]])).rejects.toThrow(/1 rows for 2 samples/);
    await expect(attachDenseRewards(batch, () => [[1], [1, 2, 3]])).rejects.toThrow(/row 0 has 1 rewards; sample 0 has 2/);
    await expect(attachDenseRewards(batch, () => [[1, NaN], [1, 2, 3]])).rejects.toThrow(/row 0, token 1 is NaN/);
  });
});

describe('accuracy-band filtering', () => {
  const pool = arithChain.generate(12, 64, difficulty);
  const k = 4;
  /** A prompt source that records how many prompts each round asked for. */
  const source = () => {
    let cursor = 0;
    const asked: number[] = [];
    return {
      asked,
      next: (count: number): Problem[] => {
        asked.push(count);
        const out = Array.from({ length: count }, (_, i) => pool[(cursor + i) % pool.length]!);
        cursor += count;
        return out;
      },
    };
  };
  const common = { k, maxNewTokens: 12, codec, verify: (p: Problem, r: string) => arithChain.verify(p, r) };

  it('inBand includes both ends', () => {
    const group = (correct: number, n: number) => Array.from({ length: n }, (_, i) => ({ score: i < correct ? 1 : 0 }) as RolloutSample);
    expect(inBand(group(1, 5), { low: 0.2, high: 0.8 })).toBe(true);
    expect(inBand(group(4, 5), { low: 0.2, high: 0.8 })).toBe(true);
    expect(inBand(group(0, 5), { low: 0.2, high: 0.8 })).toBe(false);
    expect(inBand(group(5, 5), { low: 0.2, high: 0.8 })).toBe(false);
  });

  it('keeps only in-band groups, oversamples what is missing, and carries the extra groups to the next call', async () => {
    const band = { low: 0.25, high: 0.75 };
    const src = source();
    const first = await filteredRollout(policy, { ...common, groups: 4, nextPrompts: src.next, seed: 1, band, oversample: 2, maxRounds: 3, maxBuffer: 8 });
    // Round 1 asks for 2 × 4 prompts; each further round for 2 × what is still missing.
    expect(src.asked[0]).toBe(8);
    expect(src.asked.reduce((a, b) => a + b, 0)).toBe(first.stats.sampledGroups);
    expect(first.stats.rounds).toBe(src.asked.length);
    expect(first.stats.sampled).toHaveLength(first.stats.sampledGroups * k);
    const sampledGroups = splitGroups(first.stats.sampled);
    const inBandCount = sampledGroups.filter((g) => inBand(g, band)).length;
    expect(first.stats.keptGroups).toBe(inBandCount);
    expect(inBandCount).toBeGreaterThan(0);
    expect(inBandCount).toBeLessThan(sampledGroups.length); // some groups really were dropped
    expect(first.groups.length).toBe(Math.min(4, inBandCount));
    expect(first.stats.shortGroups).toBe(4 - first.groups.length);
    for (const g of [...first.groups, ...first.buffer]) {
      expect(inBand(g, band)).toBe(true);
      expect(g).toHaveLength(k);
      expect(new Set(g.map((s) => s.group)).size).toBe(1);
    }
    expect(first.buffer.length).toBe(inBandCount - first.groups.length);
    // Group ids are unique across rounds.
    expect(new Set(first.stats.sampled.map((s) => s.group)).size).toBe(sampledGroups.length);

    // The next call uses the carried groups first.
    const carried = first.buffer.length > 0 ? first.buffer : first.groups.slice(0, 2);
    const second = await filteredRollout(policy, { ...common, groups: 4, nextPrompts: source().next, seed: 2, band, oversample: 2, maxRounds: 3, buffer: carried, maxBuffer: 8 });
    expect(second.stats.carriedGroups).toBe(Math.min(4, carried.length));
    carried.slice(0, 4).forEach((g, i) => expect(second.groups[i]).toBe(g));
    const carriedIds = new Set(carried.flat().map((s) => s.group));
    for (const s of second.stats.sampled) expect(carriedIds.has(s.group)).toBe(false);
  });

  it('without a band: one round of exactly the groups needed, all kept, nothing buffered', async () => {
    const src = source();
    const r = await filteredRollout(policy, { ...common, groups: 3, nextPrompts: src.next, seed: 3, oversample: 4, maxRounds: 5, maxBuffer: 8 });
    expect(src.asked).toEqual([3]);
    expect(r.groups).toHaveLength(3);
    expect(r.buffer).toHaveLength(0);
    expect(r.stats).toMatchObject({ rounds: 1, sampledGroups: 3, keptGroups: 3, carriedGroups: 0, shortGroups: 0 });
  });
});
