// Config pieces every experiment schema shares: the task, the seed, checkpoints, an optimizer.
import { getTask, resolveDifficulty, taskNames } from '@repirl/rl';
import { didYouMean, s, type Issue } from '@repirl/rl';

export const U32_MAX = 0xffffffff;

export function taskSchema() {
  return s.object(
    'the task family and its difficulty (`repirl tasks` lists both)',
    {
      name: s.string('task family (`repirl tasks`)', { default: 'arith-chain', nonEmpty: true }),
      difficulty: s.record("difficulty knobs by name; knobs left out take the task's defaults", s.integer('knob value'), { default: {} }),
    },
    { check: checkTask },
  );
}

function checkTask(task: { name: string; difficulty: Record<string, number> }): Issue[] {
  const names = taskNames();
  if (!names.includes(task.name)) {
    return [{ path: 'name', message: `${JSON.stringify(task.name)} is not a known task${didYouMean(task.name, names)}; known tasks: ${names.join(', ')}` }];
  }
  const { knobs } = getTask(task.name);
  const issues: Issue[] = [];
  for (const [key, value] of Object.entries(task.difficulty)) {
    const knob = knobs.find((k) => k.name === key);
    if (knob === undefined) {
      const known = knobs.map((k) => k.name);
      issues.push({ path: `difficulty.${key}`, message: `unknown difficulty knob of ${task.name}${didYouMean(key, known)}; its knobs: ${known.join(', ')}` });
    } else if (value < knob.min || value > knob.max) {
      issues.push({ path: `difficulty.${key}`, message: `${value} is out of range: must be an integer in [${knob.min}, ${knob.max}] (${knob.doc})` });
    }
  }
  return issues;
}

/** The task's full difficulty (defaults filled in), so a resolved config says exactly what ran. */
export function fillDifficulty<C extends { task: { name: string; difficulty: Record<string, number> } }>(config: C): C {
  const difficulty = resolveDifficulty(config.task.name, getTask(config.task.name).knobs, config.task.difficulty);
  return { ...config, task: { ...config.task, difficulty } };
}

export const seed = () => s.integer('seed of everything random in the run (same seed, same backend: same run)', { default: 0, min: 0, max: U32_MAX });
export const checkpointEvery = () =>
  s.integer('steps between checkpoints in <out>/checkpoints (0: only at the end and on Ctrl-C)', { default: 100, min: 0 });

export function optimFields(defaults: { lr: number; warmup: number; schedule: 'constant' | 'cosine' | 'linear'; weightDecay: number }) {
  return {
    lr: s.number('peak learning rate (AdamW)', { default: defaults.lr, min: 0, max: 1, minExclusive: true }),
    warmup: s.integer('steps of linear warmup from 0 to lr', { default: defaults.warmup, min: 0 }),
    schedule: s.enum('learning rate after warmup: constant, or decaying to 0 at the last step (cosine or linear)', ['constant', 'cosine', 'linear'], {
      default: defaults.schedule,
    }),
    weightDecay: s.number('decoupled weight decay (AdamW)', { default: defaults.weightDecay, min: 0, max: 1 }),
    maxGradNorm: s.number('clip the global gradient norm to this (0: no clipping); non-finite steps are skipped', { default: 1, min: 0 }),
  };
}

export function checkSchedule(o: { warmup: number; schedule: string }, steps: number, stepsKey: string): Issue[] {
  if (o.schedule !== 'constant' && o.warmup >= steps) {
    return [{ path: 'warmup', message: `${o.warmup} warmup steps leave nothing to decay: a ${o.schedule} schedule needs warmup < ${stepsKey} (${steps})` }];
  }
  return [];
}

export function checkMicroBatch(micro: number | null, batch: number, batchKey: string): Issue[] {
  if (micro !== null && (micro > batch || batch % micro !== 0)) {
    return [{ path: 'microBatchSize', message: `${micro} must divide ${batchKey} (${batch}) exactly` }];
  }
  return [];
}

