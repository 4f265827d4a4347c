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
import { noGrad, sequenceLogProbs, tensor, tidy, type DecoderLM } from '@repirl/autograd';
import { readJsonl, s, type Infer } from '@repirl/rl';
import { recordId, promptIds, runHfCommand } from './hf-command.js';
import { UsageError, type CliIo } from './io.js';

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

export const logprobsCommand = (argv: readonly string[], io: CliIo): Promise<number> => runHfCommand<LogprobsConfig, Row>({
  name: 'logprobs',
  usage: LOGPROBS_USAGE,
  schema: logprobsSchema,
  checkArguments(positionals) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (options start with --)`);
  },
  async prepare(config, tokenizer) {
    const bos = config.addBos === 'yes' || (config.addBos === 'auto' && tokenizer.addBosToken);
    if (config.addBos === 'yes' && tokenizer.specialTokens.bos === undefined) throw new Error(`addBos is "yes" but the tokenizer of ${config.model} has no bos token`);
    return (await readJsonl(config.data.path)).map(({ line, value }) => {
      const where = `${config.data.path}:${line}`;
      const field = (name: string) => {
        if (typeof value[name] !== 'string') throw new Error(`${where}: field "${name}" must be a string, got ${JSON.stringify(value[name]) ?? 'nothing'}`);
        return value[name] as string;
      };
      const id = recordId(value, where);
      const prompt = promptIds(tokenizer, field('prompt'), bos);
      if (prompt.length === 0) throw new Error(`${where}: the prompt is empty and no bos token goes first, so the first response token has nothing to follow`);
      return { id, prompt, response: tokenizer.encode(field('response'), { allowSpecial: true }) };
    });
  },
  async run(config, model, _tokenizer, rows) {
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
    return lines;
  },
}, argv, io);

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
