// `repirl generate --set model=DIR [PROMPT ...] | --set data.path=FILE`: samples from a Hugging
// Face model, with its chat template, its eos ids (tokenizer_config.json and
// generation_config.json) and the sampling options of the trainers' rollouts.
//
//   prompts: the command's arguments, or JSONL lines {"id", "prompt"} or {"id", "messages": [{role, content}]}
//   out:     JSONL, one {"id", "sample", "prompt_tokens", "tokens", "logprobs", "text", "finish_reason"} per sample
//
// template 'chat' renders a prompt as one user message (or the messages as given) through the
// model's chat template with the generation prompt; 'raw' encodes the text as it is (the
// tokenizer's bos first when add_bos_token says so); 'auto' is 'chat' when the tokenizer has a template.
import { eosIdsOf, generate, type ChatMessage, type HfTokenizer } from '@repirl/autograd';
import { U32_MAX, decodeKnown, readJsonl, s, type Infer } from '@repirl/rl';
import { promptIds, recordId, runHfCommand } from './hf-command.js';
import { UsageError, type CliIo } from './io.js';

export const generateSchema = s.object('samples from a Hugging Face model', {
  model: s.string('a Hugging Face model directory (config.json, model.safetensors or its index, tokenizer.json)', { nonEmpty: true }),
  data: s.object('prompts from a file instead of the arguments', {
    path: s.optional(s.string('JSONL: one {"id", "prompt"} or {"id", "messages"} per line', { nonEmpty: true })),
  }),
  template: s.enum("'chat': through the model's chat template with the generation prompt; 'raw': the text as it is; 'auto': chat when the tokenizer has a template", [
    'auto', 'chat', 'raw',
  ], { default: 'auto' }),
  samples: s.integer('samples per prompt', { default: 1, min: 1, max: 1024 }),
  maxNewTokens: s.integer('longest response in tokens (a sample also ends at an eos id)', { default: 128, min: 1 }),
  temperature: s.number('sampling temperature (0: greedy)', { default: 1, min: 0, max: 10 }),
  topK: s.integer('sample from the k most likely tokens (0: off)', { default: 0, min: 0 }),
  topP: s.number('nucleus sampling mass (1: off)', { default: 1, min: 0, max: 1, minExclusive: true }),
  seed: s.integer('seed of the samples (same seed, same samples)', { default: 0, min: 0, max: U32_MAX }),
  batchSize: s.integer('sequences per generate() call', { default: 16, min: 1, max: 4096 }),
});
export type GenerateConfig = Infer<typeof generateSchema>;

export const GENERATE_USAGE = `usage: repirl generate --set model=DIR [PROMPT ...] [--set data.path=FILE] [--set template=auto|chat|raw]
                       [--set samples=1] [--set maxNewTokens=128] [--set temperature=1] [--set topK=0] [--set topP=1]
                       [--set seed=0] [--config FILE] [--out FILE]

Samples from a Hugging Face model: the prompts are the arguments, or JSONL lines {"id", "prompt"} or
{"id", "messages"}; out (to --out FILE, written atomically, or stdout): JSONL, one line per sample.`;

interface PromptRow {
  id: string | number;
  ids: number[];
}

export const generateCommand = (argv: readonly string[], io: CliIo): Promise<number> => runHfCommand<GenerateConfig, PromptRow>({
  name: 'generate',
  usage: GENERATE_USAGE,
  schema: generateSchema,
  checkArguments(prompts, config) {
    if ((prompts.length > 0) === (config.data.path !== null)) {
      throw new UsageError(prompts.length > 0 ? 'give the prompts as arguments or with data.path, not both' : 'no prompts: give them as arguments or with --set data.path=FILE');
    }
  },
  async prepare(config, tokenizer, prompts) {
    const chat = config.template === 'chat' || (config.template === 'auto' && tokenizer.chatTemplates.size > 0);
    if (config.template === 'chat' && tokenizer.chatTemplates.size === 0) throw new Error(`template is "chat" but ${config.model} has no chat_template`);
    const encode = (where: string, text: string | null, messages: ChatMessage[] | null): number[] => {
      if (messages !== null || chat) {
        if (!chat) throw new Error(`${where}: "messages" needs a chat template (template is "raw")`);
        return tokenizer.encodeChat(messages ?? [{ role: 'user', content: text! }], { addGenerationPrompt: true });
      }
      return promptIds(tokenizer, text!, tokenizer.addBosToken);
    };
    if (config.data.path === null) return prompts.map((text, i) => ({ id: i, ids: encode(`argument ${i + 1}`, text, null) }));
    return (await readJsonl(config.data.path)).map(({ line, value }) => {
      const where = `${config.data.path}:${line}`;
      const id = recordId(value, where, line);
      if (Array.isArray(value.messages)) return { id, ids: encode(where, null, value.messages as ChatMessage[]) };
      if (typeof value.prompt !== 'string') throw new Error(`${where}: needs a string field "prompt" or an array field "messages"`);
      return { id, ids: encode(where, value.prompt, null) };
    });
  },
  async run(config, model, tokenizer, rows) {
    const lines: string[] = [];
    const jobs = rows.flatMap((row) => Array.from({ length: config.samples }, (_, sample) => ({ row, sample })));
    for (let start = 0; start < jobs.length; start += config.batchSize) {
      const part = jobs.slice(start, start + config.batchSize);
      const generated = await generate(model, part.map((j) => j.row.ids), {
        maxNewTokens: config.maxNewTokens, temperature: config.temperature, topK: config.topK, topP: config.topP,
        seed: (config.seed + start) >>> 0, stop: eosIdsOf(tokenizer),
      });
      part.forEach((job, b) => {
        const g = generated[b]!;
        lines.push(JSON.stringify({
          id: job.row.id, sample: job.sample, prompt_tokens: job.row.ids.length, tokens: g.tokens, logprobs: g.logprobs,
          text: decodeKnown(tokenizer, g.tokens), finish_reason: g.finishReason,
        }));
      });
    }
    return lines;
  },
}, argv, io);
