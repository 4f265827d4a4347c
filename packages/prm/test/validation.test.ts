// The PRM's validation while it trains (learners/validation.ts), on a short rePIRL run:
//  - every validation point reports val/prm/<metric> on a fixed set; best is their running maximum;
//  - finish() puts the best validation's weights back: re-scoring the set gives exactly the best value;
//  - with patience, a run whose metric stops improving ends early ('converged');
//  - a resumed run keeps the best value and its weights (they are in the checkpoint);
//  - configs that cannot work are refused, naming the key.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { GpuBackend, type DecoderLM } from '@repirl/autograd';
import { arithChain, type MetricsRecord, type TrainerEvent } from '@repirl/rl';
import { createRepirlTrainer, evaluatePrm, type EvalSet, type RepirlConfigInput } from '../src/index.js';
import { codec, difficulty, heldOutSamples, sftPolicy, verify } from './helpers.js';

let policy0: DecoderLM;
let set: EvalSet;
let root: string;
beforeAll(async () => {
  policy0 = await sftPolicy(new GpuBackend(await getRuntime()), 100);
  set = await heldOutSamples(policy0, 8, 4);
  root = await mkdtemp(join(tmpdir(), 'repirl-prm-validation-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const train = arithChain.generate(3, 32, difficulty);
const validation = arithChain.generate(5, 4, difficulty);
const config = (prm: NonNullable<RepirlConfigInput['prm']>, steps = 6): RepirlConfigInput => ({
  rl: {
    seed: 3, steps, rollout: { promptsPerStep: 4, k: 4, maxNewTokens: 12 }, filter: { enabled: false }, actor: { lr: 1e-3 },
    validation: { every: 1, k: 0, beforeTraining: false }, checkpoint: { every: 1, keep: 1 },
  },
  prm: { epochs: 2, optim: { lr: 3e-3 }, ...prm },
});

async function run(prm: NonNullable<RepirlConfigInput['prm']>, options: { steps?: number; runDir?: string; stopAtStep?: number; resume?: boolean } = {}) {
  const policy = await policy0.copy();
  const records: MetricsRecord[] = [];
  const online = await createRepirlTrainer({
    policy, train, validation, verify, codec, prmValidationSet: set, config: config(prm, options.steps),
    onEvent: (e: TrainerEvent) => void (e.type === 'metrics' && records.push(e.record)),
    ...(options.runDir ? { runDir: options.runDir } : {}),
  });
  if (options.resume) await online.trainer.resume();
  const summary = await online.trainer.run(options.stopAtStep === undefined ? {} : { stopAtStep: options.stopAtStep });
  return { online, policy, records, summary };
}

describe('PRM validation', () => {
  it('reports the metric at every validation point, keeps the best, and finish() restores its weights', async () => {
    const { online, policy, records } = await run({ validation: { problems: 8, samplesPerProblem: 4 } });
    const key = 'val/prm/step_auroc_position_controlled/sum';
    expect(online.validation!.metric).toBe('step_auroc_position_controlled/sum'); // 'auto' with step labels
    const values = records.map((r) => r[key]!);
    expect(values).toHaveLength(6);
    expect(values.every(Number.isFinite)).toBe(true);
    const best = Math.max(...values);
    console.log('PRM validation curve', values.map((v) => v.toFixed(3)).join(' '));
    expect(records.at(-1)!['val/prm/best']).toBe(best);
    expect(records.at(-1)!['val/prm/best_step']).toBe(values.indexOf(best) + 1);
    expect(online.finish()).toEqual({ step: values.indexOf(best) + 1, value: best });
    const rescored = await evaluatePrm(online.learner.prm, set, { codec, ns: [], bootstrap: false });
    expect(rescored.metrics['prm_eval/step_auroc_position_controlled/sum']).toBeCloseTo(best, 12);
    online.dispose();
    policy.dispose();
  });

  it('ends the run when the metric stops improving (patience), and a resumed run keeps the best', async () => {
    // minDelta 1: nothing after the first validation counts as better, so patience 2 ends the run after step 3.
    const prm = { validation: { problems: 8, samplesPerProblem: 4, patience: 2, minDelta: 1 } };
    const whole = await run(prm);
    expect(whole.summary).toMatchObject({ step: 3, stopped: false, endedEarly: 'converged' });
    const firstValue = whole.records[0]!['val/prm/step_auroc_position_controlled/sum']!;
    expect(whole.online.finish()).toEqual({ step: 1, value: firstValue });
    const kept = await evaluatePrm(whole.online.learner.prm, set, { codec, ns: [], bootstrap: false });
    expect(kept.metrics['prm_eval/step_auroc_position_controlled/sum']).toBeCloseTo(firstValue, 12); // step 1's PRM, not step 3's
    expect(whole.records[2]!['val/prm/step_auroc_position_controlled/sum']).not.toBeCloseTo(firstValue, 6); // which differs
    whole.online.dispose();
    whole.policy.dispose();

    const dir = join(root, 'resumed');
    const a = await run(prm, { runDir: dir, stopAtStep: 2 });
    a.online.dispose();
    a.policy.dispose();
    const b = await run(prm, { runDir: dir, resume: true });
    expect(b.summary).toMatchObject({ step: 3, endedEarly: 'converged' });
    expect(b.online.finish()).toEqual({ step: 1, value: firstValue });
    const restored = await evaluatePrm(b.online.learner.prm, set, { codec, ns: [], bootstrap: false });
    expect(restored.metrics['prm_eval/step_auroc_position_controlled/sum']).toBe(kept.metrics['prm_eval/step_auroc_position_controlled/sum']);
    b.online.dispose();
    b.policy.dispose();
  });

  it('refuses what cannot work, naming the key', async () => {
    const policy = await policy0.copy();
    await expect(createRepirlTrainer({ policy, train, validation, verify, codec, config: config({ validation: { problems: 4 } }) })).rejects.toThrow(
      /prm\.validation\.problems is 4 but no PRM validation set was given/,
    );
    await expect(createRepirlTrainer({ policy, train, verify, codec, prmValidationSet: set, config: config({ validation: { problems: 4 } }) })).rejects.toThrow(
      /the trainer has no validation problems/,
    );
    const unlabelled: EvalSet = { ...set, samples: set.samples.map((x) => ({ ...x, labels: null })) };
    await expect(
      createRepirlTrainer({ policy, train, validation, verify, codec, prmValidationSet: unlabelled, config: config({ validation: { problems: 4, metric: 'step_auroc/sum' } }) }),
    ).rejects.toThrow(/prm\.validation\.metric "step_auroc\/sum" needs step labels/);
    policy.dispose();
  });
});
