// The runner of `repirl prm ttt` (issue 16 item 3, docs/ttt.md): test-time training with a learned
// PRM on @repirl/prm's createTttTrainer. The PRM and the policy are loaded as `prm eval` loads them
// (loadPrmAndPolicy); the prompts are the test split drawn as `prm eval` and `search` draw it (the
// same seed offset), so a TTT run trains on exactly the problems those commands evaluate, or
// (split=validation) validation problems drawn as `prm train` draws the PRM's validation set, to
// choose settings without reading test answers. Their answers reach the monitor's validation only
// (createTttTrainer keeps them out of the reward).
//
// Writes metrics.jsonl (per step: the PRM's reward `ttt/prm_score`, the policy update; per
// validation point: val/acc, val/ttt/prm_score and the monitor's ttt/hacking), checkpoints (the
// online PRM and its optimizer in them), the final policy, with ttt.prm=online the final PRM
// (prm.safetensors), and ttt.json: the monitor's series and verdict and the accuracy before and
// after with bootstrap intervals, also in summary.json's results. The outcome metrics of the
// RL trainer (rollout/acc, critic/score/*, …) are left out: the training rollouts have no answers.
import { writeFileAtomic } from '@repirl/autograd';
import { createTttTrainer, tttResults, type TttRun } from '@repirl/prm';
import { saveModel } from '@repirl/rl';
import type { PrmTttConfig } from '../config/ttt.js';
import type { RunContext, RunOutcome } from './context.js';
import { heldOutProblems, loadPrmAndPolicy } from './prm.js';
import { runTrainer, sinkInto, splitProblems } from './shared.js';

/** RL trainer metrics read from the verifier's verdicts, which on unlabelled prompts say nothing. */
const VERDICT_METRICS = new Set(['rollout/acc', 'rollout/zero_std_frac', 'critic/score/mean', 'critic/score/max', 'critic/score/min', 'critic/dense_outcome_corr']);

export async function runPrmTtt(ctx: RunContext<PrmTttConfig>): Promise<RunOutcome> {
  const c = ctx.config;
  const { start, prm, codec } = await loadPrmAndPolicy(c.prm, { policy: c.init, model: c.model, template: c.template, steps: c.data.steps, stepsKey: 'data.steps', stepRule: ctx.data.stepRule });
  let run: TttRun;
  try {
    const prompts = heldOutProblems(ctx.data, c.split, c.seed, c.problems);
    const expertPool = c.ttt.prm === 'online'
      ? splitProblems(ctx.data, 'train', c.rl.seed, c.experts).slice(0, c.experts).filter((p) => p.solution !== undefined && p.solution !== '')
      : undefined;
    if (expertPool !== undefined && expertPool.length === 0) throw new Error(`ttt.prm=online: no training problem of ${ctx.data.name} has a solution to serve as an expert demonstration`);
    run = await createTttTrainer({
      policy: start.policy, prm, prompts, verify: ctx.data.verify, codec, checkpoints: sinkInto(ctx, start),
      config: { rl: c.rl, ttt: c.ttt, learner: c.learner },
      ...(expertPool ? { expertPool } : {}),
    });
  } catch (err) {
    prm.dispose();
    start.policy.dispose();
    throw err;
  }
  try {
    const quiet: RunContext<PrmTttConfig> = {
      ...ctx,
      report: (step, metrics) => ctx.report(step, Object.fromEntries(Object.entries(metrics).filter(([k]) => !VERDICT_METRICS.has(k)))),
    };
    const outcome = await runTrainer(quiet, run.trainer, start);
    if (outcome.status === 'stopped') return outcome;
    if (c.ttt.prm === 'online') await saveModel(ctx.run.path, 'prm', prm as Parameters<typeof saveModel>[2]);
    const report = run.reward.report();
    const results = tttResults(report, { resamples: c.ttt.bootstrap, seed: c.seed });
    await writeFileAtomic(ctx.run.file('ttt.json'), `${JSON.stringify({
      prm: c.prm, mode: c.ttt.prm, split: c.split, problems: c.problems, monitor: c.ttt.monitor, results, points: report.points,
      before: report.first, after: report.last,
    }, null, 1)}\n`);
    const f = (key: string) => (typeof results[key] === 'number' ? (results[key] as number).toFixed(3) : 'n/a');
    ctx.log(
      `${ctx.data.name}: test-time training with the ${c.ttt.prm} PRM: greedy pass@1 ${f('ttt/acc@start')} [${f('ttt/acc@start/lo')}, ${f('ttt/acc@start/hi')}] → ` +
        `${f('ttt/acc@end')} [${f('ttt/acc@end/lo')}, ${f('ttt/acc@end/hi')}], gain ${f('ttt/acc_gain')} [${f('ttt/acc_gain/lo')}, ${f('ttt/acc_gain/hi')}]; ` +
        `PRM score ${f('ttt/prm_score@start')} → ${f('ttt/prm_score@end')}; hacking monitor ${report.hackingSteps.length === 0 ? 'quiet' : `flagged steps ${report.hackingSteps.join(', ')}`}`,
    );
    return { ...outcome, results: { ...outcome.results, ...results } };
  } finally {
    run.dispose();
    prm.dispose();
    start.policy.dispose();
  }
}
