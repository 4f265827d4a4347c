// The offline implicit PRM (learners/implicit-offline.ts) on fixed rollouts of a tiny SFT policy
// (the easiest arith-chain):
//  - CE and DPO each lower their training loss (first epoch → last) and give a PRM whose step
//    AUROC on held-out samples, against the exact global step labels, is above 0.5 (the untrained
//    PRM scores every step 0: exactly 0.5);
//  - the run is seeded: the same config gives the same losses;
//  - DPO pairs are (correct, wrong) pairs of one prompt, capped per prompt;
//  - config errors name the key.
import { beforeAll, describe, expect, it } from 'vitest';
import type { DecoderLM } from '@repirl/autograd';
import { arithChain, rollout } from '@repirl/rl';
import {
  ImplicitPrm, dpoPairs, epochLosses, evaluatePrm, outcomeSamples, resolveImplicitOfflineConfig, trainImplicitPrm, type EvalSet, type OutcomeSample,
} from '../src/index.js';
import { codec, difficulty, maxNewTokens, slippyFixture, verify } from './helpers.js';

let policy: DecoderLM;
let evalSet: EvalSet;
let samples: OutcomeSample[];

beforeAll(async () => {
  ({ policy, evalSet } = await slippyFixture());
  samples = outcomeSamples((await rollout(policy, arithChain.generate(3, 32, difficulty), { k: 4, maxNewTokens, seed: 5, codec, verify })).samples);
});

const stepAuroc = async (prm: ImplicitPrm) => (await evaluatePrm(prm, evalSet, { codec, ns: [4] })).metrics['prm_eval/step_auroc']!;

describe('offline implicit PRM', () => {
  it('CE and DPO lower their loss and give a step AUROC above 0.5', async () => {
    const untrained = ImplicitPrm.fromPolicy(policy);
    expect(await stepAuroc(untrained)).toBe(0.5);
    untrained.dispose();
    for (const loss of ['ce', 'dpo'] as const) {
      const { prm, metrics } = await trainImplicitPrm({ policy, samples, codec, config: { loss, seed: 1, epochs: 4, miniBatchSize: 32, optim: { lr: 1e-3 } } });
      const epochs = epochLosses(metrics);
      const auroc = await stepAuroc(prm);
      console.log(`implicit PRM (${loss}): loss per epoch ${epochs.map((l) => l.toFixed(4)).join(' → ')}, held-out step AUROC ${auroc.toFixed(3)} (${samples.length} rollouts, ${samples.filter((s) => s.correct).length} correct)`);
      expect(epochs).toHaveLength(4);
      expect(epochs[3]!).toBeLessThan(epochs[0]! - 0.02);
      expect(auroc).toBeGreaterThan(0.55);
      prm.dispose();
    }
  });

  it('is seeded: the same config gives the same losses', async () => {
    const config = { seed: 3, epochs: 1, miniBatchSize: 16 };
    const runs = [];
    for (let i = 0; i < 2; i++) {
      const { prm, metrics } = await trainImplicitPrm({ policy, samples: samples.slice(0, 48), codec, config });
      runs.push(metrics.map((m) => m.loss));
      prm.dispose();
    }
    expect(runs[0]).toHaveLength(3);
    expect(runs[1]).toEqual(runs[0]);
  });

  it('pairs correct and wrong samples of one prompt, capped per prompt', () => {
    const s = (prompt: number, response: number, correct: boolean): OutcomeSample => ({ promptIds: [256, prompt], responseIds: [response], correct });
    const data = [s(1, 10, true), s(1, 11, false), s(1, 12, false), s(1, 13, true), s(2, 20, true), s(2, 21, true), s(3, 30, false)];
    const all = dpoPairs(data, 0, 0);
    expect(all.map((p) => [p.responseIds[0], p.rejected.responseIds[0]])).toEqual([[10, 11], [10, 12], [13, 11], [13, 12]]);
    const capped = dpoPairs(data, 3, 0);
    expect(capped).toHaveLength(3);
    for (const p of capped) expect(all).toContainEqual(p);
    expect(dpoPairs(data, 3, 0)).toEqual(capped);
  });

  it('checks its config and names the key', () => {
    expect(() => resolveImplicitOfflineConfig({ loss: 'kto' as never })).toThrow(/loss: "kto" is not one of "ce", "dpo"/);
    expect(() => resolveImplicitOfflineConfig({ beta: -1 })).toThrow(/beta: -1 is out of range: must be a number in \(0, 100\]/);
    // The implicit PRM has no head: its whole LM trains, so there is no backbone to freeze.
    expect(() => resolveImplicitOfflineConfig({ freezeBackbone: true } as never)).toThrow(/freezeBackbone: unknown key/);
    expect(() => resolveImplicitOfflineConfig({ epoch: 2 } as never)).toThrow(/epoch: unknown key \(did you mean "epochs"\?\)/);
    expect(resolveImplicitOfflineConfig()).toMatchObject({ loss: 'ce', beta: 0.05, epochs: 4, miniBatchSize: 32, pairsPerPrompt: 4 });
  });
});
