// The `repirl` command line. Commands grow with the issues (docs/DESIGN.md §6).
import { deviceReport, formatDeviceReport, formatModelReport, modelReport, type ModelReport } from './info.js';
import type { OptionalFeature } from '@repirl/kernels';
import { configCommand } from './commands/config.js';
import { experimentUsage, runExperiment } from './commands/experiment.js';
import { processIo, type CliIo } from './commands/io.js';
import { exportCommand } from './commands/export.js';
import { generateCommand } from './commands/generate.js';
import { logprobsCommand } from './commands/logprobs.js';
import { REPORT_USAGE, reportCommand } from './commands/report.js';
import { tasksCommand } from './commands/tasks.js';
import { closest, didYouMean } from '@repirl/rl';

export const USAGE = `usage: repirl <command> [options]

commands:
  sft  [--config FILE] [--set k=v ...]   supervised fine-tuning on expert or noisy solutions
  rl   [--config FILE] [--set k=v ...]   RL from an SFT checkpoint (grpo, dr-grpo, rloo, reinforce++, ppo)
  eval [--config FILE] [--set k=v ...]   greedy pass@1 and pass@k of a checkpoint
  prm train [--config FILE] [--set ...] learn a PRM: --set method=repirl|airl-s|prime|orm|shepherd|implicit-offline
  prm eval  [--config FILE] [--set ...] step AUROC, first-error F1, best-of-N vs majority vote of a trained PRM
  prm ttt   [--config FILE] [--set ...] test-time training on the test prompts with a PRM as the only reward: --set prm=RUN_DIR ttt.prm=frozen|online
  search    [--config FILE] [--set ...] test-time search: --set method=majority|bon|weighted-vote|beam|mcts prm=RUN_DIR|oracle
       (all of these: --dry-run, --out DIR, --resume, --force, --progress; repirl <command> --help)
  config <sft|rl|eval|prm train|prm eval|prm ttt|search> [--json]   every config key with its default and doc
  generate --set model=DIR [PROMPT ...] [--set data.path=FILE] [--out FILE]
                                         samples from a Hugging Face model (chat template, eos ids, sampling options)
  logprobs --set model=DIR --set data.path=FILE [--out FILE]
                                         each response token's log-prob under a Hugging Face model (JSONL in and out)
  export --set from=RUN_OR_CHECKPOINT --set out=DIR [--set merge=true|false]
                                         a trained policy as a Hugging Face model directory (LoRA merged), or its
                                         PEFT adapter (merge=false); a PRM as its backbone plus prm_head.*
  report RUN_DIR... [--out FILE] [--screenshot PNG]
                                         one self-contained HTML page over runs of any kind: claims with their
                                         intervals and verdicts, tables, figures, the commands that rerun them
  tasks [show <task> ...]                the task families, their knobs, sample problems with step labels
  info [--json] [--no-features] [--set model=DIR]
                                         the WebGPU device repirl uses here, its limits and features; with a
                                         Hugging Face model directory: its size, KV-cache bytes and whether it fits
  help                                   this text

Example configs: apps/cli/configs/*.json (repirl sft --config apps/cli/configs/sft-arith.json --out runs/sft)
Kernel benchmarks: npx nx run kernels:bench [-- suite ...]
Environment: REPIRL_WEBGPU_BACKEND=vulkan|opengles, REPIRL_DISABLE_FEATURES=shader-f16,subgroups,timestamp-query`;

const COMMANDS = ['sft', 'rl', 'eval', 'prm', 'search', 'config', 'generate', 'logprobs', 'export', 'report', 'tasks', 'info', 'help'];
const PRM_SUBCOMMANDS = ['train', 'eval', 'ttt'];

/**
 * ' (did you mean "x"?)' for a mistyped command, or ''. A word near no command may be a `prm`
 * subcommand typed alone or joined to it (train, trian, prm-train): then "prm train".
 */
function suggestCommand(word: string): string {
  const direct = didYouMean(word, COMMANDS);
  if (direct !== '') return direct;
  const sub = closest(word.replace(/^prm[-_]?/i, ''), PRM_SUBCOMMANDS);
  return sub.length === 0 ? '' : ` (did you mean ${sub.map((s) => JSON.stringify(`prm ${s}`)).join(' or ')}?)`;
}

/** Commands that never open a WebGPU device. */
const DEVICE_FREE = ['config', 'tasks', 'report', 'help', undefined];

/** Whether the command line may open a WebGPU device (a help text or a --dry-run does not). */
export function opensDevice(argv: readonly string[]): boolean {
  if (DEVICE_FREE.includes(argv[0]) || argv[0]?.startsWith('-')) return false;
  return !argv.some((a) => a === '--dry-run' || a === '--help' || a === '-h');
}

/**
 * Runs one command line and returns its exit code. `print` receives stdout lines; `io` replaces
 * parts of the process (stderr, terminal, clocks, signals) for tests.
 */
export async function main(argv: readonly string[], print: (text: string) => void = console.log, io: Partial<CliIo> = {}): Promise<number> {
  const [command, ...rest] = argv;
  const cli = processIo(print, io);
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      if (rest[0] === 'sft' || rest[0] === 'rl' || rest[0] === 'eval' || rest[0] === 'search') print(experimentUsage(rest[0]));
      else if (rest[0] === 'prm' && (rest[1] === 'train' || rest[1] === 'eval' || rest[1] === 'ttt')) print(experimentUsage(`prm-${rest[1]}`));
      else if (rest[0] === 'report') print(REPORT_USAGE);
      else print(USAGE);
      return 0;
    case 'sft':
    case 'rl':
    case 'eval':
    case 'search':
      return runExperiment(command, rest, cli);
    case 'prm': {
      const [sub, ...args] = rest;
      if (sub === 'train' || sub === 'eval' || sub === 'ttt') return runExperiment(`prm-${sub}`, args, cli);
      print(sub === undefined ? `repirl prm: which? (train, eval, ttt)\n\n${USAGE}` : `repirl prm: unknown subcommand "${sub}"${didYouMean(sub, PRM_SUBCOMMANDS)} (use train, eval or ttt)`);
      return 2;
    }
    case 'config':
      return configCommand(rest, cli);
    case 'generate':
      return generateCommand(rest, cli);
    case 'logprobs':
      return logprobsCommand(rest, cli);
    case 'export':
      return exportCommand(rest, cli);
    case 'report':
      return reportCommand(rest, cli);
    case 'tasks':
      return tasksCommand(rest, cli);
    case 'info': {
      let model: string | undefined;
      for (let i = 0; i < rest.length; i++) {
        const flag = rest[i]!;
        if (flag === '--set' && rest[i + 1]?.startsWith('model=')) model = rest[++i]!.slice('model='.length);
        else if (flag !== '--json' && flag !== '--no-features') {
          print(`repirl info: unknown option "${flag}" (allowed: --json, --no-features, --set model=DIR)`);
          return 2;
        }
      }
      const disableFeatures: OptionalFeature[] = rest.includes('--no-features') ? ['shader-f16', 'subgroups', 'timestamp-query'] : [];
      const report = await deviceReport({ disableFeatures });
      let modelInfo: ModelReport | undefined;
      try {
        modelInfo = model === undefined ? undefined : await modelReport(model, report.limits);
      } catch (err) {
        print(`repirl info: ${(err as Error).message}`);
        return 1;
      }
      if (rest.includes('--json')) print(JSON.stringify(modelInfo === undefined ? report : { ...report, model: modelInfo }, null, 2));
      else print([formatDeviceReport(report), ...(modelInfo === undefined ? [] : [formatModelReport(modelInfo)])].join('\n'));
      return 0;
    }
    default:
      print(`repirl: unknown command "${command}"${suggestCommand(command)}\n\n${USAGE}`);
      return 2;
  }
}
