// Test-time training with a learned PRM (docs/ttt.md; docs/research/papers.md §1(c) "Applications"):
// RL on unlabelled prompts where the PRM's token rewards are the only reward (c_gt = 0). The
// prompts' answers reach the monitor and the evaluation only, never the reward:
//
//   - the RL trainer's training problems are `unlabelled` copies of the prompts: id and prompt, an
//     empty answer, no solution, no meta — nothing the rollout, the verifier or the reward model
//     could read an answer from;
//   - the trainer's verifier answers a training prompt with a fixed 'unlabelled' verdict without
//     calling the real verifier; only the labelled originals (the validation problems, the same
//     prompts) reach the real verifier, at the trainer's validation points;
//   - the config refuses what would read a verdict: rl.advantage.cGt ≠ 0, the accuracy filter,
//     and (online PRM) correct rollouts counted as experts.
//
// The reward model (TttRewardModel) is the loaded PRM, either frozen (scored, never updated) or
// online (rePIRL's learner keeps training it on the policy's samples against expert
// demonstrations drawn from a pool of *training* problems — the expert distribution D of rePIRL's
// objective; the test prompts have none). At each validation point it scores the policy's greedy
// responses with the PRM (the mean token reward, rePIRL's sequence score) and feeds the monitor
// (monitor.ts) with that score and the greedy accuracy.
import type { DecoderLM, Module } from '@repirl/autograd';
import {
  RlTrainer, TaskCodec, extend, rlConfigFor, resolveConfig, s, type CheckpointSink, type GreedyResult, type Given, type Infer, type OnlineRewardModel, type Problem,
  type RlConfig, type RolloutBatch, type TrainerListener, type TrainingCheckpoint, type Verdict, type Verifier,
} from '@repirl/rl';
import { bootstrapInterval, pairedBootstrapDifference, problemMean } from '../eval/bootstrap.js';
import { average } from '../learners/common.js';
import { RepirlLearner, repirlPrmSchema, type RepirlPrmConfig } from '../learners/repirl.js';
import { scoreSamples, type ProcessRewardModel } from '../models/prm.js';
import { hackingMonitorSchema, hackingSteps, hackingVerdict, type HackingMonitorConfig, type MonitorPoint } from './monitor.js';

export const TTT_PRM_MODES = ['frozen', 'online'] as const;
export type TttPrmMode = (typeof TTT_PRM_MODES)[number];

/**
 * The RL settings test-time training runs with unless the config says otherwise: rePIRL's policy
 * update (docs/research/papers.md §1(b), §1(d): PPO clip 0.2, entropy 0.001, no KL, 1 PPO epoch)
 * with the outcome's coefficient at 0 and the PRM's at 1 (the advantages are whitened, so only the
 * ratio of the two matters), and no accuracy filter (it reads verdicts).
 */
export const TTT_RL_DEFAULTS: Readonly<Record<string, unknown>> = Object.freeze({
  'advantage.estimator': 'repirl-loo', 'advantage.cPrm': 1, 'advantage.cGt': 0, 'actor.entropyCoef': 0.001, 'actor.clipLow': 0.2, 'actor.ppoEpochs': 1, 'kl.coef': 0,
  'filter.enabled': false,
});

/** The online PRM's update: rePIRL's PRM section, experts from the demonstration pool only. */
export const tttLearnerSchema = extend(repirlPrmSchema, {
  correctAsExperts: s.boolean('must stay false: counting correct rollouts as experts reads the verifier, which has no answers at test time', { default: false }),
}, "the online PRM's update (ttt.prm=online): rePIRL's loss on the policy's samples of the test prompts against demonstrations of training problems");

export const tttSectionSchema = s.object('test-time training', {
  prm: s.enum("'frozen': the PRM's weights stay as loaded; 'online': the PRM keeps learning with rePIRL's loss on the policy's samples (learner.*)", TTT_PRM_MODES, { default: 'frozen' }),
  monitor: hackingMonitorSchema,
  bootstrap: s.integer('bootstrap resamples of the prompts for the intervals of the accuracy before, after and its gain', { default: 1000, min: 10 }),
});

/** The config of test-time training: the RL trainer's keys with TTT_RL_DEFAULTS, the TTT section and the online learner's. */
export const tttConfigSchema = (given: Given) =>
  s.object('test-time training: RL on unlabelled prompts with a learned PRM as the only reward', {
    rl: rlConfigFor(given, 'rl.algorithm', 'grpo', TTT_RL_DEFAULTS),
    ttt: tttSectionSchema,
    learner: tttLearnerSchema,
  }, { check: checkTttConfig });

/** What would let an answer into the reward, refused with the key to change. */
export function checkTttConfig(c: { rl: RlConfig; learner: { correctAsExperts: boolean; validation: { problems: number } } }): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  if (c.rl.advantage.estimator !== 'repirl-loo') {
    issues.push({ path: 'rl.advantage.estimator', message: `must be "repirl-loo" for test-time training (the PRM's token rewards with a leave-one-out baseline; "${c.rl.advantage.estimator}" reads only the outcome, which test prompts do not have)` });
  }
  if (c.rl.advantage.cGt !== 0) issues.push({ path: 'rl.advantage.cGt', message: `must be 0 for test-time training (the outcome needs the answers, which never reach the reward), got ${c.rl.advantage.cGt}` });
  if (c.rl.advantage.cPrm <= 0) issues.push({ path: 'rl.advantage.cPrm', message: `must be above 0: the PRM is the only reward, got ${c.rl.advantage.cPrm}` });
  if (c.rl.filter.enabled) issues.push({ path: 'rl.filter.enabled', message: 'must be false for test-time training (the accuracy filter reads the verifier, which has no answers at test time)' });
  if (c.learner.correctAsExperts) issues.push({ path: 'learner.correctAsExperts', message: 'must be false for test-time training (it reads the verifier, which has no answers at test time)' });
  if (c.learner.validation.problems > 0) {
    issues.push({ path: 'learner.validation.problems', message: "must be 0 for test-time training: the PRM's validation set needs labelled validation samples; the monitor (ttt.monitor) watches the PRM instead" });
  }
  return issues;
}

export type TttConfig = { rl: RlConfig; ttt: Infer<typeof tttSectionSchema>; learner: RepirlPrmConfig };

/** The full config, every key checked; errors name the key. The learner's seed defaults to rl.seed. */
export function resolveTttConfig(input: Record<string, unknown> = {}): TttConfig {
  const c = resolveConfig<{ rl: RlConfig; ttt: TttConfig['ttt']; learner: Omit<RepirlPrmConfig, 'seed'> & { seed: number | null } }>(tttConfigSchema, {
    file: { value: input, name: 'the test-time training config' },
  });
  return { ...c, learner: { ...c.learner, seed: c.learner.seed ?? c.rl.seed } };
}

/** A training problem that holds the prompt and nothing else: the answer is empty, no solution, no meta. */
export function unlabelled(problem: Problem): Problem {
  return { id: problem.id, prompt: problem.prompt, answer: '' };
}

/** The verdict every unlabelled prompt gets: not correct, no answer read. */
export const UNLABELLED_VERDICT: Readonly<Verdict> = Object.freeze({ correct: false, parsedAnswer: null, reason: 'unlabelled prompt (test-time training): no answer to check against' });

/**
 * The trainer's verifier: the real one for the labelled problems (these objects only: the
 * validation problems the monitor reads), the fixed UNLABELLED_VERDICT for any other problem,
 * without calling the real verifier.
 */
export function monitorVerifier(labelled: readonly Problem[], verify: Verifier): Verifier {
  const known = new WeakSet<Problem>(labelled);
  return (problem, response) => (known.has(problem) ? verify(problem, response) : { ...UNLABELLED_VERDICT });
}

/** Per-problem greedy correctness at a validation point (for the intervals). */
interface Snapshot {
  step: number;
  correct: number[];
}

interface MonitorState {
  points: MonitorPoint[];
  first: Snapshot | null;
  last: Snapshot | null;
}

/** What the run ends with: the monitor's series and verdict, and the accuracy before and after with intervals. */
export interface TttReport {
  points: MonitorPoint[];
  /** Steps of the validation points the monitor flagged. */
  hackingSteps: number[];
  first: Snapshot | null;
  last: Snapshot | null;
}

/** The PRM as the RL trainer's reward: frozen (scored only) or online (rePIRL's learner updates it first); feeds the monitor at validation points. */
export class TttRewardModel implements OnlineRewardModel {
  private state: MonitorState = { points: [], first: null, last: null };

  constructor(
    readonly prm: ProcessRewardModel,
    private readonly options: { codec: TaskCodec; monitor: HackingMonitorConfig; scoreBatchSize: number; learner: RepirlLearner | null },
  ) {}

  async score(batch: RolloutBatch, step: number): Promise<{ rewards: number[][]; metrics: Record<string, number> }> {
    let rewards: number[][];
    let metrics: Record<string, number> = {};
    if (this.options.learner !== null) {
      const scored = await this.options.learner.score(batch, step);
      rewards = scored.rewards;
      // Its split by verdict (prm/reward_correct, …_incorrect) is meaningless here: every verdict is 'unlabelled'.
      metrics = Object.fromEntries(Object.entries(scored.metrics).filter(([k]) => k !== 'prm/reward_correct' && k !== 'prm/reward_incorrect'));
    } else {
      rewards = (await scoreSamples(this.prm, batch.samples, this.options.codec, this.options.scoreBatchSize)).map((x) => x.tokens);
    }
    metrics['ttt/prm_score'] = meanScore(rewards);
    return { rewards, metrics };
  }

  /** The PRM's mean score of the greedy responses, their accuracy, and the monitor's verdict. */
  async validate(step: number, greedy: readonly GreedyResult[]): Promise<Record<string, number>> {
    if (greedy.length === 0) return {};
    const codec = this.options.codec;
    const parts = greedy.map((g) => ({ promptIds: codec.encodePrompt(g.problem.prompt), responseIds: g.responseIds }));
    const scored = await scoreSamples(this.prm, parts, codec, this.options.scoreBatchSize);
    const prmScore = meanScore(scored.map((x) => x.tokens));
    const correct = greedy.map((g) => (g.correct ? 1 : 0));
    const accuracy = correct.reduce((a: number, b) => a + b, 0) / correct.length;
    const points = [...this.state.points.filter((p) => p.step !== step), { step, prmScore, accuracy }];
    const snapshot = { step, correct };
    this.state = { points, first: this.state.first ?? snapshot, last: snapshot };
    const verdict = hackingVerdict(points, this.options.monitor);
    return {
      'val/ttt/prm_score': prmScore,
      ...(verdict === null ? {} : { 'ttt/hacking': verdict.flagged ? 1 : 0, 'ttt/prm_change': verdict.prmChange, 'ttt/acc_change': verdict.accuracyChange }),
    };
  }

  report(): TttReport {
    return { points: this.state.points, hackingSteps: hackingSteps(this.state.points, this.options.monitor), first: this.state.first, last: this.state.last };
  }

  checkpointContent(): TrainingCheckpoint {
    const inner = this.options.learner?.checkpointContent() ?? { models: {}, optimizers: {}, state: {} };
    return { models: inner.models, optimizers: inner.optimizers, state: { ...inner.state, ttt: this.state } };
  }

  restoreState(state: Record<string, unknown>): void {
    const { ttt, ...rest } = state as { ttt?: MonitorState };
    this.options.learner?.restoreState(rest);
    this.state = ttt ?? { points: [], first: null, last: null };
  }

  /** Frees the online learner's optimizer (the PRM belongs to the caller). */
  dispose(): void {
    this.options.learner?.optimizer.dispose();
  }
}

/** Mean over samples of the mean token reward (rePIRL's sequence score; docs/research/papers.md §1(b)). */
function meanScore(rows: readonly (readonly number[])[]): number {
  return average(rows.filter((r) => r.length > 0).map(average));
}

export interface TttTrainerOptions {
  /** Trained in place. */
  policy: DecoderLM;
  /** The PRM (frozen, or trained in place with ttt.prm=online: then a Module, e.g. a loaded PRM); the caller owns it. */
  prm: ProcessRewardModel;
  /** The test problems, labelled: only their prompts reach the training; their answers only the monitor's validation. */
  prompts: readonly Problem[];
  /** The real verifier (used on the labelled prompts at validation points only). */
  verify: Verifier;
  /** ttt.prm=online: the problems whose demonstrations are the experts (training problems with solutions). */
  expertPool?: readonly Problem[];
  config?: Record<string, unknown>;
  codec?: TaskCodec;
  checkpoints?: CheckpointSink;
  runDir?: string;
  onEvent?: TrainerListener;
}

export interface TttRun {
  trainer: RlTrainer;
  reward: TttRewardModel;
  config: TttConfig;
  /** Frees the trainer and the online learner's optimizer (not the policy, not the PRM). */
  dispose(): void;
}

/** Test-time training: the RL trainer on the unlabelled prompts with the PRM as its reward and the labelled prompts as its validation (the monitor). */
export async function createTttTrainer(options: TttTrainerOptions): Promise<TttRun> {
  const config = resolveTttConfig(options.config ?? {});
  const codec = options.codec ?? new TaskCodec();
  if (options.prompts.length === 0) throw new Error('test-time training: no prompts');
  let learner: RepirlLearner | null = null;
  if (config.ttt.prm === 'online') {
    if (!options.expertPool || options.expertPool.length === 0) {
      throw new Error('ttt.prm=online needs an expert pool: training problems with demonstrations (the experts of rePIRL\'s loss; the test prompts have none)');
    }
    const prm = options.prm as ProcessRewardModel & Partial<Module<unknown>>;
    if (typeof prm.copy !== 'function' || prm.trainableParameters().size === 0) throw new Error('ttt.prm=online trains the PRM: give a PRM with weights (a loaded or learned PRM, not an oracle)');
    const l = config.learner;
    learner = new RepirlLearner(prm as ProcessRewardModel & Module<unknown>, { config: l, codec, expertPool: options.expertPool, totalUpdates: config.rl.steps * l.epochs * l.miniBatches });
  }
  const reward = new TttRewardModel(options.prm, { codec, monitor: config.ttt.monitor, scoreBatchSize: config.learner.scoreBatchSize, learner });
  let trainer: RlTrainer;
  try {
    trainer = await RlTrainer.create({
      policy: options.policy,
      config: config.rl,
      train: options.prompts.map(unlabelled),
      validation: options.prompts,
      verify: monitorVerifier(options.prompts, options.verify),
      codec,
      rewardModel: reward,
      ...(options.checkpoints ? { checkpoints: options.checkpoints } : {}),
      ...(options.runDir !== undefined ? { runDir: options.runDir } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
  } catch (err) {
    reward.dispose();
    throw err;
  }
  return {
    trainer, reward, config,
    dispose() {
      trainer.dispose();
      reward.dispose();
    },
  };
}

/**
 * The summary's numbers of a finished run: greedy pass@1 on the prompts at the first and the last
 * validation with bootstrap intervals over the prompts, the paired gain (after − before), the PRM
 * score at both, and the monitor's verdict (ttt/hacking = 1 when any point was flagged; the steps).
 */
export function tttResults(report: TttReport, options: { resamples: number; seed: number }): Record<string, number | number[]> {
  const out: Record<string, number | number[]> = { 'ttt/hacking': report.hackingSteps.length > 0 ? 1 : 0, 'ttt/hacking_steps': report.hackingSteps };
  const { first, last } = report;
  if (first === null || last === null) return out;
  const opts = { resamples: options.resamples, seed: options.seed };
  const before = bootstrapInterval(first.correct.length, problemMean(first.correct), opts);
  const after = bootstrapInterval(last.correct.length, problemMean(last.correct), opts);
  const gain = pairedBootstrapDifference(last.correct.length, problemMean(last.correct), problemMean(first.correct), opts);
  const score = (step: number) => report.points.find((p) => p.step === step)?.prmScore ?? Number.NaN;
  Object.assign(out, {
    'ttt/acc@start': before.value, 'ttt/acc@start/lo': before.lo, 'ttt/acc@start/hi': before.hi, 'ttt/acc@start/step': first.step,
    'ttt/acc@end': after.value, 'ttt/acc@end/lo': after.lo, 'ttt/acc@end/hi': after.hi, 'ttt/acc@end/step': last.step,
    'ttt/acc_gain': gain.value, 'ttt/acc_gain/lo': gain.lo, 'ttt/acc_gain/hi': gain.hi,
    'ttt/prm_score@start': score(first.step), 'ttt/prm_score@end': score(last.step),
  });
  return out;
}
