// `repirl tasks`: the task families and their difficulty knobs.
// `repirl tasks show <task> [--seed N] [--count N] [--<knob> N ...] [--error-rate R] [--jsonl]`:
// generated problems with their expert solutions and exact step labels (and, with --error-rate,
// a noisy solution whose slips show in the labels); --jsonl prints problems in the JSONL format of
// docs/DESIGN.md §7 instead, ready for data.path.
import { createRng, getTask, taskNames, type Difficulty, type StepLabels, type Task } from '@repirl/rl';
import { didYouMean } from '@repirl/rl';
import { integerOption, parseOptions, type OptionSpec } from './args.js';
import { UsageError, type CliIo } from './io.js';

export const TASKS_USAGE = `usage: repirl tasks                       the task families and their difficulty knobs
       repirl tasks show <task> [--seed N] [--count N] [--<knob> N ...] [--error-rate R] [--jsonl]
                                          generated problems, expert solutions and step labels`;

export async function tasksCommand(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const [sub, ...rest] = argv;
    if (sub === undefined) {
      io.print(listTasks());
      return 0;
    }
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      io.print(TASKS_USAGE);
      return 0;
    }
    if (sub === 'show') {
      io.print(showTask(rest));
      return 0;
    }
    throw new UsageError(`repirl tasks: unknown subcommand "${sub}"${didYouMean(sub, ['show'])}\n${TASKS_USAGE}`);
  } catch (err) {
    if (err instanceof UsageError) {
      io.print(err.message);
      return 2;
    }
    throw err;
  }
}

/** Every task family, its description and knobs. */
export function listTasks(): string {
  const lines = ['task families (difficulty knobs are integers; set them with --set task.difficulty.<knob>=N):', ''];
  for (const name of taskNames()) {
    const task = getTask(name);
    lines.push(`${name}  ${task.description}`);
    const width = Math.max(...task.knobs.map((k) => k.name.length));
    const ranges = task.knobs.map((k) => `in [${k.min}, ${k.max}]`);
    const rangeWidth = Math.max(...ranges.map((r) => r.length));
    task.knobs.forEach((knob, i) => {
      lines.push(`  ${knob.name.padEnd(width)}  default ${String(knob.default).padEnd(6)} ${ranges[i]!.padEnd(rangeWidth)}  ${knob.doc}`);
    });
    lines.push('');
  }
  lines.push('Examples: repirl tasks show arith-chain --seed 1 --count 3');
  lines.push(`          repirl tasks show ${taskNames().at(-1)} --count 2 --error-rate 0.3`);
  return lines.join('\n');
}

/** The task name: the first argument that is neither an option nor an option's value. */
function firstPositional(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) return arg;
    if (arg.startsWith('--') && !arg.includes('=') && arg !== '--jsonl') i++; // skip its value
  }
  return undefined;
}

function findTask(name: string | undefined): Task {
  const names = taskNames();
  if (name === undefined) throw new UsageError(`repirl tasks show: which task? (${names.join(', ')})`);
  if (!names.includes(name)) throw new UsageError(`repirl tasks show: unknown task "${name}"${didYouMean(name, names)}; known tasks: ${names.join(', ')}`);
  return getTask(name);
}

/** The text of `repirl tasks show ...`. */
export function showTask(argv: readonly string[]): string {
  const name = firstPositional(argv);
  const task = findTask(name);
  const where = `repirl tasks show ${task.name}`;
  const specs: OptionSpec[] = [
    { name: 'seed', kind: 'value' },
    { name: 'count', kind: 'value' },
    { name: 'error-rate', kind: 'value' },
    { name: 'jsonl', kind: 'flag' },
    ...task.knobs.map((k) => ({ name: k.name, kind: 'value' as const })),
  ];
  const parsed = parseOptions(where, argv, specs);
  if (parsed.positionals.length > 1) throw new UsageError(`${where}: unexpected argument "${parsed.positionals[1]}"`);
  const seed = integerOption(where, parsed, 'seed', 0, 0xffffffff);
  const count = integerOption(where, parsed, 'count', 3, 100_000);
  const difficulty: Difficulty = {};
  for (const knob of task.knobs) {
    if (!parsed.values.has(knob.name)) continue;
    const value = integerOption(where, parsed, knob.name, knob.default);
    if (value < knob.min || value > knob.max) throw new UsageError(`${where}: --${knob.name} must be an integer in [${knob.min}, ${knob.max}] (${knob.doc}), got ${value}`);
    difficulty[knob.name] = value;
  }
  let errorRate: number | null = null;
  const rateText = parsed.values.get('error-rate');
  if (rateText !== undefined) {
    errorRate = Number(rateText);
    if (rateText.trim() === '' || !(errorRate >= 0 && errorRate <= 1)) throw new UsageError(`${where}: --error-rate must be a number in [0, 1], got "${rateText}"`);
  }

  const problems = task.generate(seed, count, difficulty);
  if (parsed.flags.has('jsonl')) return problems.map((p) => JSON.stringify(p)).join('\n');

  const resolved = problems[0]?.meta.difficulty ?? difficulty;
  const lines = [`${task.name}, seed ${seed}, ${Object.entries(resolved).map(([k, v]) => `${k}=${v}`).join(' ')}: ${count} problem${count === 1 ? '' : 's'}`];
  // A stream of its own, so the problems stay the same with or without --error-rate.
  const rng = errorRate === null ? null : createRng((seed ^ 0x5bd1e995) >>> 0);
  for (const problem of problems) {
    lines.push('', `#${problem.meta.index}  ${problem.id}`, `  prompt   ${problem.prompt.trimEnd()}`, `  answer   ${problem.answer}`);
    lines.push(...labelTable('expert solution', task.stepLabels(problem, problem.solution)));
    if (rng !== null && errorRate !== null) {
      const noisy = task.noisySolution(problem, rng, errorRate);
      const verdict = task.verify(problem, noisy.text);
      lines.push(...labelTable(`noisy solution (error rate ${errorRate}; ${verdict.correct ? 'correct' : 'wrong'} answer)`, noisy.stepLabels));
    }
  }
  lines.push('', 'local: the step follows from the line before it; global: the state after it is the true one.');
  return lines.join('\n');
}

function labelTable(title: string, labels: StepLabels): string[] {
  const width = Math.max(12, ...labels.steps.map((s) => s.length));
  const mark = (ok: boolean) => (ok ? '✓' : '✗');
  const first = labels.firstError === -1 ? 'no error' : `first error at step ${labels.firstError + 1}`;
  return [
    `  ${title}, ${first}:`,
    `    ${'step'.padEnd(width)}  local  global`,
    ...labels.steps.map((step, i) => `    ${step.padEnd(width)}  ${mark(labels.local[i]!)}      ${mark(labels.global[i]!)}`),
  ];
}
