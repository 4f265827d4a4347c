// `repirl config <command> [--set key=value ...] [--json]`: every key of the command's config with
// its default, what it accepts and its doc (--json: just the defaults, as a starting config file).
// It prints the declarations the trainers and learners themselves validate with, so it cannot
// drift from them. A --set of the key that picks the schema (rl: algorithm; prm train: method)
// shows that choice's defaults. The prm commands are named as they are typed (`config prm train`)
// or as one word (`config prm-train`).
import { ConfigError, defaultsOf, didYouMean, experiments, formatSchemaDocs, schemaOf, type ExperimentName } from '../config/index.js';
import { parseOptions } from './args.js';
import { UsageError, type CliIo } from './io.js';

const NAMES = Object.keys(experiments) as ExperimentName[];

export const CONFIG_USAGE = `usage: repirl config <${NAMES.join('|')}> [--set algorithm=ppo | --set method=prime] [--json]
  the documented defaults of a command's config (for that algorithm or PRM method)`;

export async function configCommand(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const parsed = parseOptions('repirl config', argv, [{ name: 'json', kind: 'flag' }, { name: 'set', kind: 'list' }, { name: 'help', kind: 'flag', short: 'h' }]);
    if (parsed.flags.has('help')) {
      io.print(CONFIG_USAGE);
      return 0;
    }
    const [first, second] = parsed.positionals;
    if (first === 'prm' && second === undefined) throw new UsageError(`repirl config prm: which? (train, eval, ttt)\n${CONFIG_USAGE}`);
    const [name, extra] = first === 'prm' ? [`prm-${second}`, parsed.positionals[2]] : parsed.positionals;
    if (name === undefined) throw new UsageError(`repirl config: which command? (${NAMES.join(', ')})\n${CONFIG_USAGE}`);
    if (!(NAMES as string[]).includes(name)) throw new UsageError(`repirl config: no config for "${name}"${didYouMean(name, NAMES)}; commands with a config: ${NAMES.join(', ')}`);
    if (extra !== undefined) throw new UsageError(`repirl config: unexpected argument "${extra}"`);
    const schema = schemaOf(experiments[name as ExperimentName].schema, { sets: parsed.lists.get('set') ?? [] });
    io.print(parsed.flags.has('json') ? JSON.stringify(defaultsOf(schema), null, 2) : formatSchemaDocs(`repirl ${name}`, schema));
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.print(err.message);
      return 2;
    }
    throw err;
  }
}
