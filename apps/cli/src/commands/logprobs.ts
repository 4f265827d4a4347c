// `repirl logprobs --set model=DIR --set data.path=FILE [--out FILE]`: the log-probability a
// Hugging Face model gives each response token after its prompt, so anyone can compare repirl's
// numbers with another engine's (transformers, vLLM) token by token.
//
//   in:  JSONL, one {"id", "prompt", "response"} per line
//   out: JSONL, one {"id", "tokens", "logprobs"} per line: the response's token ids and, for each,
//        log p(token | prompt, the response tokens before it), in float32 on the device
//
// Tokenisation, as transformers' tokenizer(text) does it by default: prompt and response are
// encoded separately (special-token strings such as <|im_start|> become their single ids) and
// joined; the tokenizer's bos token goes first when tokenizer_config.json's add_bos_token says so
// (addBos: auto), or as addBos says. Render a chat through the model's template before writing the
// prompt, so the prompt is exactly the text the model is scored on.
import { loadHfModel, loadHfTokenizer, noGrad, sequenceLogProbs, tensor, tidy, writeFileAtomic, type DecoderLM } from '@repirl/autograd';
import { ConfigError, readConfigFile, readJsonl, resolveConfig, s, type Infer } from '@repirl/rl';
import { parseOptions } from './args.js';
import { UsageError, type CliIo } from './io.js';
import { backend } from './shared.js';

export const logprobsSchema = s.object('token log-probs of responses under a Hugging Face model', {
  model: s.string('a Hugging Face model directory (config.json, model.safetensors or its index, tokenizer.json)', { nonEmpty: true }),
  data: s.object('the responses to score', {
    path: s.string('JSONL: one {"id", "prompt", "response"} per line', { nonEmpty: true }),
  }),
  addBos: s.enum("put the tokenizer's bos token before the prompt: auto (as tokenizer_config.json's add_bos_token says), yes or no", ['auto', 'yes', 'no'], {
    default: 'auto',
  }),
  batchSize: s.integer('sequences per forward pass', { default: 8, min: 1, max: 4096 }),
});
export type LogprobsConfig = Infer<typeof logprobsSchema>;

export const LOGPROBS_USAGE = `usage: repirl logprobs --set model=DIR --set data.path=FILE [--set addBos=auto|yes|no] [--set batchSize=8] [--config FILE] [--out FILE]

The log-probability of every response token after its prompt, under a Hugging Face model.
  in:  JSONL, one {"id", "prompt", "response"} per line
  out: JSONL (to --out FILE, written atomically, or stdout), one {"id", "tokens", "logprobs"} per line`;

interface Row {
  id: string | number;
  prompt: number[];
  response: number[];
}

export async function logprobsCommand(argv: readonly string[], io: CliIo): Promise<number> {
  let config: LogprobsConfig;
  let out: string | undefined;
  try {
    const parsed = parseOptions('repirl logprobs', argv, [
      { name: 'config', kind: 'value' }, { name: 'set', kind: 'list' }, { name: 'out', kind: 'value' }, { name: 'help', kind: 'flag', short: 'h' },
    ]);
    if (parsed.flags.has('help')) {
      io.print(LOGPROBS_USAGE);
      return 0;
    }
    if (parsed.positionals.length > 0) throw new UsageError(`repirl logprobs: unexpected argument "${parsed.positionals[0]}" (options start with --)`);
    const configPath = parsed.values.get('config');
    config = resolveConfig<LogprobsConfig>(logprobsSchema, {
      ...(configPath === undefined ? {} : { file: await readConfigFile(configPath) }),
      sets: parsed.lists.get('set') ?? [],
    });
    out = parsed.values.get('out');
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.print(`repirl logprobs: ${err.message}\n${LOGPROBS_USAGE}`);
      return 2;
    }
    throw err;
  }
  try {
    // Everything that can be wrong with the files is found before the model goes to the device.
    const tokenizer = await loadHfTokenizer(config.model);
    const bos = config.addBos === 'yes' || (config.addBos === 'auto' && tokenizer.addBosToken) ? tokenizer.specialTokens.bos : undefined;
    if (config.addBos === 'yes' && bos === undefined) throw new Error(`addBos is "yes" but the tokenizer of ${config.model} has no bos token`);
    const rows: Row[] = (await readJsonl(config.data.path)).map(({ line, value }) => {
      const where = `${config.data.path}:${line}`;
      const field = (name: string) => {
        if (typeof value[name] !== 'string') throw new Error(`${where}: field "${name}" must be a string, got ${JSON.stringify(value[name]) ?? 'nothing'}`);
        return value[name] as string;
      };
      const id = value.id;
      if (typeof id !== 'string' && typeof id !== 'number') throw new Error(`${where}: field "id" must be a string or a number, got ${JSON.stringify(id) ?? 'nothing'}`);
      const prompt = [...(bos === undefined ? [] : [bos]), ...tokenizer.encode(field('prompt'), { allowSpecial: true })];
      if (prompt.length === 0) throw new Error(`${where}: the prompt is empty and no bos token goes first, so the first response token has nothing to follow`);
      return { id, prompt, response: tokenizer.encode(field('response'), { allowSpecial: true }) };
    });
    const { model } = await loadHfModel(await backend(), config.model);
    try {
      const longest = rows.reduce((m, r) => Math.max(m, r.prompt.length + r.response.length), 0);
      if (longest > model.config.maxSeqLen) {
        throw new Error(`the longest prompt + response is ${longest} tokens, over the model's ${model.config.maxSeqLen} (max_position_embeddings)`);
      }
      const lines: string[] = [];
      for (let start = 0; start < rows.length; start += config.batchSize) {
        const batch = rows.slice(start, start + config.batchSize);
        const logprobs = await scoreBatch(model, batch);
        batch.forEach((r, b) => lines.push(JSON.stringify({ id: r.id, tokens: r.response, logprobs: logprobs[b] })));
      }
      const text = lines.map((l) => `${l}\n`).join('');
      if (out === undefined) io.print(text.trimEnd());
      else {
        await writeFileAtomic(out, text);
        io.stderr(`repirl logprobs: ${rows.length} responses scored → ${out}\n`);
      }
    } finally {
      model.dispose();
    }
    return 0;
  } catch (err) {
    io.print(`repirl logprobs failed: ${(err as Error).message}`);
    return 1;
  }
}

/** Response-token log-probs of a batch (right-padded, lengths given, one forward pass). */
async function scoreBatch(model: DecoderLM, batch: readonly Row[]): Promise<number[][]> {
  const lengths = batch.map((r) => r.prompt.length + r.response.length);
  const T = lengths.reduce((m, n) => Math.max(m, n), 2);
  const ids = batch.flatMap((r, b) => [...r.prompt, ...r.response, ...new Array<number>(T - lengths[b]!).fill(0)]);
  const logp = noGrad(() => tidy(() => sequenceLogProbs(model, tensor(model.backend, ids, [batch.length, T], { dtype: 'i32' }), { lengths }).logp));
  const data = await logp.data();
  logp.dispose();
  // Position t of logp scores token t + 1, so response token j (at P + j) is at P + j − 1.
  return batch.map((r, b) => r.response.map((_, j) => data[b * (T - 1) + r.prompt.length + j - 1]!));
}
