export { runExperiment, experimentUsage } from './experiment.js';
export { tasksCommand, listTasks, showTask, TASKS_USAGE } from './tasks.js';
export { configCommand, CONFIG_USAGE } from './config.js';
export { runners, type RunContext, type RunOutcome, type Runner, type Runners } from './runners.js';
export { processIo, UsageError, type CliIo } from './io.js';
export { parseOptions, type OptionSpec, type ParsedOptions } from './args.js';
