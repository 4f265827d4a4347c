// rePIRL's dual loop (learners/repirl.ts) on a tiny SFT-ed policy and the easiest arith-chain:
//  - a CI-sized run of RlTrainer steps lowers the PRM loss on fresh rollouts and yields a PRM
//    whose step AUROC against the exact step labels is above chance;
//  - the PRM batch: demonstrations of the batch's prompts + correct rollouts as experts;
//  - configs are checked with errors that name the key; c_prm = 0 or c_gt = 0 is allowed;
//  - a run stopped and resumed equals an uninterrupted one (PRM weights and metrics).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { DecoderLM, GpuBackend } from '@repirl/autograd';
import { ConfigError, arithChain, type MetricsRecord, type Problem, type RolloutBatch, type TrainerEvent } from '@repirl/rl';
import { RepirlLearner, TokenMlpPrm, createRepirlTrainer, resolveRepirlConfig, type RepirlConfigInput } from '../src/index.js';
import { codec, decoder, difficulty, prmAuroc, samplePolicy, sftPolicy, verify } from './helpers.js';

let gpu: GpuBackend;
let policy0: DecoderLM;
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  policy0 = await sftPolicy(gpu, 100);
});

const collect = (into: MetricsRecord[]) => (e: TrainerEvent) => {
  if (e.type === 'metrics') into.push(e.record);
};

describe('rePIRL', () => {
  it('a CI-sized run lowers the PRM loss and gives a PRM with step AUROC above 0.5', async () => {
    const policy = await policy0.copy();
    const records: MetricsRecord[] = [];
    const run = await createRepirlTrainer({
      policy, train: arithChain.generate(3, 64, difficulty), verify, codec, onEvent: collect(records),
      config: {
        // The accuracy filter (on by default, as released) would drop most groups of this weak policy;
        // here every rollout feeds the PRM (the filter itself is tested in @repirl/rl).
        rl: { seed: 3, steps: 10, rollout: { promptsPerStep: 8, k: 4, maxNewTokens: 12 }, filter: { enabled: false }, actor: { lr: 1e-3 }, validation: { k: 0, beforeTraining: false } },
        prm: { epochs: 2, miniBatches: 2, optim: { lr: 1e-3 } },
      },
    });
    // Held-out rollouts of the starting policy (other prompts): the yardstick before and after.
    const held = await samplePolicy(policy0, 99, 32, 4);
    const heldBatch = { samples: held, temperature: 1, maxNewTokens: 12 };
    const before = { ...(await prmAuroc(run.learner.prm, held)), ...(await run.learner.evaluate(heldBatch)) };
    await run.trainer.run();
    const after = { ...(await prmAuroc(run.learner.prm, held)), ...(await run.learner.evaluate(heldBatch)) };
    const steps = records.filter((r) => r.step > 0);
    const series = (key: string) => steps.map((r) => r[key]!);
    console.log(`rePIRL: prm/loss_first ${series('prm/loss_first').map((v) => v.toFixed(3)).join(' ')}; ` +
      `reward gap ${series('prm/reward_gap').map((v) => v.toFixed(2)).join(' ')}; rollout/acc ${series('rollout/acc').map((v) => v.toFixed(2)).join(' ')}; ` +
      `held-out PRM loss ${before.loss.toFixed(3)} → ${after.loss.toFixed(3)} (expert R̄ ${before.expertReward.toFixed(3)} → ${after.expertReward.toFixed(3)}, ` +
      `policy R̄ ${before.policyReward.toFixed(3)} → ${after.policyReward.toFixed(3)}); ` +
      `step AUROC ${before.step.toFixed(3)} → ${after.step.toFixed(3)}, response AUROC ${before.response.toFixed(3)} → ${after.response.toFixed(3)}`);
    expect(steps).toHaveLength(10);
    expect(after.loss).toBeLessThan(before.loss - 0.1);
    expect(after.expertReward).toBeGreaterThan(after.policyReward);
    expect(average(series('prm/loss_first').slice(-3))).toBeLessThan(steps[0]!['prm/loss_first']! - 0.05);
    expect(after.step).toBeGreaterThan(0.5);
    expect(after.step).toBeGreaterThan(before.step);
    for (const key of ['prm/loss', 'prm/expert_reward', 'prm/policy_reward', 'prm/ess', 'prm/grad_norm', 'prm/lr', 'prm/experts', 'prm/policy_samples', 'critic/dense/mean', 'actor/entropy']) {
      expect(Number.isFinite(steps.at(-1)![key]), key).toBe(true);
    }
    expect(steps.at(-1)!['actor/kl']).toBeUndefined(); // no KL by default
    run.dispose();
    policy.dispose();
  });

  it('with a frozen backbone (ffn_only), uniform weights and c_gt = 0 trains only the head', async () => {
    const policy = new DecoderLM(gpu, decoder, { seed: 4 });
    const records: MetricsRecord[] = [];
    const run = await createRepirlTrainer({
      policy, train: arithChain.generate(6, 8, difficulty), verify, codec, onEvent: collect(records),
      config: {
        rl: { seed: 1, steps: 1, rollout: { promptsPerStep: 2, k: 3, maxNewTokens: 6 }, filter: { enabled: false }, advantage: { cGt: 0 }, validation: { k: 0, beforeTraining: false } },
        prm: { freezeBackbone: true, weightMode: 'uniform', groups: 'batch', hidden: 8, optim: { lr: 1e-2 } },
      },
    });
    const prm = run.learner.prm as TokenMlpPrm;
    const before = await prm.stateDict();
    await run.trainer.run();
    const after = await prm.stateDict();
    const r = records.at(-1)!;
    // Uniform weights: every policy sample has weight 1, so the ESS is their number (6 rollouts, none correct).
    expect(r['prm/policy_samples']).toBe(6);
    expect(r['prm/ess']).toBeCloseTo(6, 5);
    expect(r['prm/experts']).toBe(2);
    for (const name of Object.keys(before)) {
      if (name.startsWith('backbone.')) expect(after[name]!.data, name).toEqual(before[name]!.data);
    }
    expect(after['head.out.weight']!.data).not.toEqual(before['head.out.weight']!.data);
    run.dispose();
    policy.dispose();
  });

  it('builds the PRM batch from the demonstrations of the batch prompts and the correct rollouts', () => {
    const problems = arithChain.generate(4, 2, difficulty);
    const sample = (problem: Problem, group: number, correct: boolean, logprobs: number[]) => ({
      problem, group, promptIds: codec.encodePrompt(problem.prompt), responseIds: logprobs.map(() => 61), logprobs, response: '',
      finishReason: 'stop' as const, verdict: { correct, parsedAnswer: null, reason: '' }, score: correct ? 1 : 0,
    });
    const batch: RolloutBatch = {
      samples: [sample(problems[0]!, 0, true, [-1, -2]), sample(problems[0]!, 0, false, [-0.5]), sample(problems[1]!, 1, false, [-3, -1, -1])],
      temperature: 1, maxNewTokens: 8,
    };
    const prm = TokenMlpPrm.fromPolicy(policy0);
    const make = (prmInput: RepirlConfigInput['prm']) => new RepirlLearner(prm, {
      config: resolveRepirlConfig({ prm: prmInput }).prm, codec, totalUpdates: 1,
      demonstrations: (p) => [p.solution!, `${p.solution!}\n`, 'third'],
    });
    const a = make({ demosPerPrompt: 2 });
    const examples = a.prmBatch(batch);
    expect(examples.map((e) => [e.expert, e.group])).toEqual([[true, 0], [true, 0], [true, 1], [true, 1], [true, 0], [false, 0], [false, 1]]);
    expect(examples[0]!.responseIds).toEqual(codec.encodeResponse(problems[0]!.solution));
    expect(examples.slice(4).map((e) => e.oldLogProb)).toEqual([-3, -0.5, -5]);
    const b = make({ demosPerPrompt: 0, correctAsExperts: false, groups: 'batch' });
    expect(b.prmBatch(batch).map((e) => [e.expert, e.group])).toEqual([[false, 0], [false, 0], [false, 0]]);
    a.optimizer.dispose();
    b.optimizer.dispose();
    prm.dispose();
  });

  it('checks its config, naming the key; c_prm or c_gt may be 0, not both', () => {
    const c = resolveRepirlConfig();
    expect(c.rl.advantage).toMatchObject({ estimator: 'repirl-loo', cPrm: 0.1, cGt: 1 });
    expect(c.rl.actor.entropyCoef).toBe(0.001);
    expect(c.rl.kl.coef).toBe(0);
    expect(c.rl.filter).toMatchObject({ enabled: true, low: 0.2, high: 0.8 }); // the released scripts' accuracy filter
    expect(c.prm).toMatchObject({ epochs: 1, miniBatches: 1, weightMode: 'importance', groups: 'prompt', correctAsExperts: true });
    expect(c.prm.optim).toMatchObject({ lr: 1e-4, maxGradNorm: 10, weightDecay: 0 });
    expect(resolveRepirlConfig({ rl: { advantage: { cPrm: 0 } } }).rl.advantage.cPrm).toBe(0);
    expect(resolveRepirlConfig({ rl: { advantage: { cGt: 0 } } }).rl.advantage.cGt).toBe(0);
    const fails = (input: unknown, key: string, message: RegExp) => {
      try {
        resolveRepirlConfig(input as RepirlConfigInput);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).issues.map((i) => i.path)).toEqual([key]);
        expect((error as Error).message).toMatch(message);
        return;
      }
      throw new Error(`no error for ${JSON.stringify(input)}`);
    };
    fails({ rl: { advantage: { cPrm: 0, cGt: 0 } } }, 'rl.advantage.cPrm', /both 0/);
    fails({ rl: { advantage: { cPrm: -1 } } }, 'rl.advantage.cPrm', /must be a number in \[0, 100\]/);
    fails({ rl: { advantage: { estimator: 'grpo' } } }, 'rl.advantage.estimator', /repirl-loo/);
    fails({ prm: { weightMode: 'softmax' } }, 'prm.weightMode', /"importance", "uniform"/);
    fails({ prm: { groups: 'micro' } }, 'prm.groups', /"prompt", "batch"/);
    fails({ prm: { epochs: 0 } }, 'prm.epochs', /must be an integer in \[1, 64\]/);
    fails({ prm: { optim: { lrr: 1 } } }, 'prm.optim.lrr', /unknown key \(did you mean "lr"\?\)/);
    fails({ prm: { typo: 1 } }, 'prm.typo', /unknown key; valid keys in "prm": seed, optim/);
    fails({ rl: { steps: -1 } }, 'rl.steps', /must be an integer ≥ 1/);
  });
});

describe('rePIRL checkpoint and resume', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'repirl-prm-resume-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  // A random policy and a stand-in verifier with mixed outcomes ("correct" = first byte even), as in rl's resume test.
  const standIn = (_p: Problem, response: string) => {
    const correct = response.length > 0 && response.charCodeAt(0) % 2 === 0;
    return { correct, parsedAnswer: null, reason: '' };
  };
  const config: RepirlConfigInput = {
    rl: { seed: 5, steps: 3, rollout: { promptsPerStep: 3, k: 3, maxNewTokens: 6 }, actor: { lr: 1e-3, miniBatches: 2 }, validation: { k: 0, beforeTraining: false }, checkpoint: { every: 1 } },
    prm: { epochs: 2, miniBatches: 2, optim: { lr: 1e-3 }, hidden: 16 },
  };
  const make = (runDir: string) =>
    createRepirlTrainer({ policy: new DecoderLM(gpu, decoder, { seed: 2 }), train: arithChain.generate(8, 20, difficulty), verify: standIn, codec, runDir, config });
  const readRecords = async (dir: string) =>
    (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((line) => {
      const r = JSON.parse(line) as MetricsRecord;
      return Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'time' && !k.startsWith('timing/')));
    });

  it('a run stopped after step 1 and resumed equals the uninterrupted run', async () => {
    const [dirA, dirB] = [join(root, 'a'), join(root, 'b')];
    const a = await make(dirA);
    await a.trainer.run();
    const weightsA = await a.learner.prm.stateDict();
    const b = await make(dirB);
    await b.trainer.run({ stopAtStep: 1 });
    b.trainer.policy.dispose();
    b.dispose();
    const c = await make(dirB);
    expect(await c.trainer.resume()).toBe(1);
    await c.trainer.run();
    const weightsC = await c.learner.prm.stateDict();
    const [recordsA, recordsC] = [await readRecords(dirA), await readRecords(dirB)];
    expect(recordsC.map((r) => r.step)).toEqual(recordsA.map((r) => r.step));
    expect(recordsC).toEqual(recordsA);
    expect(recordsA.at(-1)!['prm/loss']).toBeDefined();
    for (const [name, t] of Object.entries(weightsA)) expect(weightsC[name]!.data, name).toEqual(t.data);
    // The PRM moved: the test compares trained weights, not two copies of the start.
    const start = TokenMlpPrm.fromPolicy(new DecoderLM(gpu, decoder, { seed: 2 }), { hidden: 16, seed: 5 });
    expect((await start.stateDict())['head.out.weight']!.data).not.toEqual(weightsA['head.out.weight']!.data);
    for (const run of [a, c]) {
      run.trainer.policy.dispose();
      run.dispose();
    }
    start.dispose();
  });
});

const average = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
