// What the commands on a Hugging Face model directory share (`repirl logprobs`, `repirl generate`):
// options and config in the config language, the tokenizer and the inputs checked before the model
// goes to the device, and JSONL out (to stdout, or written atomically to --out FILE).
import { loadHfModel, loadHfTokenizer, writeFileAtomic, type DecoderLM, type HfTokenizer } from '@repirl/autograd';
import { ConfigError, readConfigFile, resolveConfig, type ObjectSchema } from '@repirl/rl';
import { parseOptions } from './args.js';
import { UsageError, type CliIo } from './io.js';
import { backend } from './shared.js';

export interface HfCommand<C extends { model: string }, R> {
  /** 'logprobs', 'generate'. */
  name: string;
  usage: string;
  schema: ObjectSchema;
  /** Throws a UsageError when the command's arguments do not fit the config. */
  checkArguments(positionals: readonly string[], config: C): void;
  /** The inputs, encoded and checked (every error names file and line) before the model is loaded. */
  prepare(config: C, tokenizer: HfTokenizer, positionals: readonly string[]): Promise<R[]>;
  /** The JSONL lines of the output. */
  run(config: C, model: DecoderLM, tokenizer: HfTokenizer, rows: R[]): Promise<string[]>;
}

export async function runHfCommand<C extends { model: string }, R>(command: HfCommand<C, R>, argv: readonly string[], io: CliIo): Promise<number> {
  const where = `repirl ${command.name}`;
  let config: C;
  let positionals: string[];
  let out: string | undefined;
  try {
    const parsed = parseOptions(where, argv, [
      { name: 'config', kind: 'value' }, { name: 'set', kind: 'list' }, { name: 'out', kind: 'value' }, { name: 'help', kind: 'flag', short: 'h' },
    ]);
    if (parsed.flags.has('help')) {
      io.print(command.usage);
      return 0;
    }
    const configPath = parsed.values.get('config');
    config = resolveConfig<C>(command.schema, {
      ...(configPath === undefined ? {} : { file: await readConfigFile(configPath) }),
      sets: parsed.lists.get('set') ?? [],
    });
    positionals = parsed.positionals;
    command.checkArguments(positionals, config);
    out = parsed.values.get('out');
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.print(`${where}: ${err.message}\n${command.usage}`);
      return 2;
    }
    throw err;
  }
  try {
    const tokenizer = await loadHfTokenizer(config.model);
    const rows = await command.prepare(config, tokenizer, positionals);
    const { model } = await loadHfModel(await backend(), config.model);
    let lines: string[];
    try {
      lines = await command.run(config, model, tokenizer, rows);
    } finally {
      model.dispose();
    }
    const text = lines.map((l) => `${l}\n`).join('');
    if (out === undefined) io.print(text.trimEnd());
    else {
      await writeFileAtomic(out, text);
      io.stderr(`${where}: ${lines.length} lines → ${out}\n`);
    }
    return 0;
  } catch (err) {
    io.print(`${where} failed: ${(err as Error).message}`);
    return 1;
  }
}

/** A record's "id" (a string or a number; `fallback` when absent, if given), or an error naming file:line. */
export function recordId(value: Record<string, unknown>, where: string, fallback?: number): string | number {
  const id = value.id ?? fallback;
  if (typeof id !== 'string' && typeof id !== 'number') throw new Error(`${where}: field "id" must be a string or a number, got ${JSON.stringify(value.id) ?? 'nothing'}`);
  return id;
}

/**
 * A prompt's ids as transformers' tokenizer(text) makes them: special-token strings become their
 * single ids, and the bos token goes first when `bos` says so and the tokenizer has one.
 */
export function promptIds(tokenizer: HfTokenizer, text: string, bos: boolean): number[] {
  const first = bos ? tokenizer.specialTokens.bos : undefined;
  return [...(first === undefined ? [] : [first]), ...tokenizer.encode(text, { allowSpecial: true })];
}
