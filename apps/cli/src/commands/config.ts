// `repirl config <command> [--json]`: every key of the command's config with its default, what it
// accepts and its doc (--json: just the defaults, as a starting config file). The prm commands are
// named as they are typed (`config prm train`) or as one word (`config prm-train`).
import { defaultsOf, didYouMean, experiments, formatSchemaDocs, type ExperimentName } from '../config/index.js';
import { parseOptions } from './args.js';
import { UsageError, type CliIo } from './io.js';

const NAMES = Object.keys(experiments) as ExperimentName[];

export const CONFIG_USAGE = `usage: repirl config <${NAMES.join('|')}> [--json]   the documented defaults of a command's config`;

export async function configCommand(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const parsed = parseOptions('repirl config', argv, [{ name: 'json', kind: 'flag' }, { name: 'help', kind: 'flag', short: 'h' }]);
    if (parsed.flags.has('help')) {
      io.print(CONFIG_USAGE);
      return 0;
    }
    const [first, second] = parsed.positionals;
    if (first === 'prm' && second === undefined) throw new UsageError(`repirl config prm: which? (train, eval)\n${CONFIG_USAGE}`);
    const [name, extra] = first === 'prm' ? [`prm-${second}`, parsed.positionals[2]] : parsed.positionals;
    if (name === undefined) throw new UsageError(`repirl config: which command? (${NAMES.join(', ')})\n${CONFIG_USAGE}`);
    if (!(NAMES as string[]).includes(name)) throw new UsageError(`repirl config: no config for "${name}"${didYouMean(name, NAMES)}; commands with a config: ${NAMES.join(', ')}`);
    if (extra !== undefined) throw new UsageError(`repirl config: unexpected argument "${extra}"`);
    const spec = experiments[name as ExperimentName];
    io.print(parsed.flags.has('json') ? JSON.stringify(defaultsOf(spec.schema), null, 2) : formatSchemaDocs(`repirl ${name}`, spec.schema));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.print(err.message);
      return 2;
    }
    throw err;
  }
}
