// `repirl prm train --set method=supervised` without a labelled file: the exact-label upper-bound
// diagnostic (docs/config.md, "The exact-label upper bound"). The rollouts' steps carry the task's exact labels (checked
// by hand on arith-chain responses), the run samples problems × rollout.k sequences of the starting
// policy and counts them, and a data source without exact labels (files) is refused naming the key.
// That the PRM learns from such token-given labels (above a shuffled-label control) is
// packages/prm/test/supervised.test.ts's.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { arithChain, type RolloutBatch } from '@repirl/rl';
import { exactLabelled } from '../src/commands/prm.js';
import { makeCli, readJson, useTempDir } from './helpers.js';

const tmp = useTempDir('repirl-prm-exact-');
const TASK = ['--set', 'task.difficulty.steps=2', '--set', 'task.difficulty.range=10'];
let sft = '';

beforeAll(async () => {
  sft = join(tmp.path(), 'sft');
  const r = await makeCli().run(
    'sft', ...TASK, '--set', 'model.dModel=32', '--set', 'model.nLayers=1', '--set', 'model.nHeads=2', '--set', 'model.dFF=64', '--set', 'model.maxSeqLen=48',
    '--set', 'steps=4', '--set', 'optim.warmupSteps=1', '--set', 'batchSize=8', '--set', 'data.problems=16',
    '--set', 'validation.problems=4', '--set', 'validation.every=0', '--set', 'checkpoint.every=0', '--progress', 'off', '--out', sft,
  );
  expect(r.code).toBe(0);
});

describe('exactLabelled', () => {
  it("labels each rollout's steps with the task's exact global or local labels, on the sampled tokens", () => {
    const [problem] = arithChain.generate(3, 1, { steps: 2, range: 10 });
    expect(problem!.prompt).toBe('7 +1 +1\n');
    // Right throughout; a slip at step 2 (8 + 1 = 10), carried into the answer; a slip at step 1 (7 + 1 = 9) continued correctly.
    const responses = ['=8\n=9\n#### 9', '=8\n=10\n#### 10', '=9\n=10\n#### 10'];
    const batch = { samples: responses.map((response, i) => ({ problem: problem!, response, promptIds: [1, 2], responseIds: [3 + i] })) } as unknown as RolloutBatch;
    const labeller = arithChain.stepLabels.bind(arithChain);
    const global = exactLabelled(batch, labeller, 'global');
    expect(global.map((x) => x.labels)).toEqual([[true, true, true], [true, false, false], [false, false, false]]);
    expect(global[1]!.steps).toEqual(['=8', '=10', '#### 10']);
    expect(global[2]!).toMatchObject({ prompt: '7 +1 +1\n', tokens: { promptIds: [1, 2], responseIds: [5] } });
    expect(exactLabelled(batch, labeller, 'local').map((x) => x.labels)).toEqual([[true, true, true], [true, false, true], [false, true, true]]);
  });
});

describe('repirl prm train --set method=supervised without data.path', () => {
  it('trains on problems × rollout.k rollouts of the starting policy labelled by the task, counts them, and evaluates as the other learners', async () => {
    const out = join(tmp.path(), 'exact');
    const r = await makeCli().run('prm', 'train', ...TASK, '--set', 'method=supervised', '--set', `init=${sft}`, '--set', 'problems=12', '--set', 'rollout.k=3',
      '--set', 'prm.labels=local', '--set', 'prm.epochs=1', '--set', 'prm.miniBatchSize=16', '--set', 'eval.problems=4', '--set', 'eval.samplesPerProblem=2', '--set', 'eval.ns=[2]',
      '--progress', 'off', '--out', out);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/supervised: 36 rollouts of 12 problems/);
    expect(r.out).toMatch(/supervised \(exact local labels of arith-chain\): \d+ steps, \d+ wrong/);
    const { results } = await readJson(join(out, 'summary.json'));
    expect(results['compute/sampled_sequences']).toBe(36);
    expect(results['data/train_samples'] + results['data/validation_samples']).toBe(36);
    expect(results).toHaveProperty('prm_eval/step_auroc_position_controlled/sum');
    expect((await readJson(join(out, 'config.json'))).prm.labels).toBe('local');
  });

  it('is refused, naming data.source, on problems from files (no exact step labels)', async () => {
    const r = await makeCli().run('prm', 'train', '--set', 'method=supervised', '--set', `init=${sft}`, '--set', 'data.source=file', '--set', 'data.path=problems.jsonl',
      '--dry-run', '--progress', 'off', '--out', join(tmp.path(), 'refused'));
    expect(r.code).toBe(2);
    expect(r.out + r.err).toMatch(/data\.source: is "file", but method=supervised without a step-labelled file learns from the exact step labels of a generated task/);
  });
});
