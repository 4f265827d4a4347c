// Validation of a policy on held-out problems: greedy pass@1 ('val/acc'), and with k > 0 samples
// per problem pass@k (at least one of the k correct) and mean@k (the average sample accuracy).
import { generate, type DecoderLM } from '@repirl/autograd';
import type { Problem } from '../tasks/task.js';
import { TaskCodec } from '../rollout/codec.js';
import { rollout, verifierFor, type Verifier } from '../rollout/rollout.js';
import { deriveSeed } from '../rollout/seeds.js';

export interface EvaluateOptions {
  maxNewTokens: number;
  /** Samples per problem for pass@k / mean@k; 0 = greedy only. */
  k?: number;
  /** Temperature of those samples (default 1). */
  temperature?: number;
  /** Seed of the samples (greedy decoding needs none). */
  seed?: number;
  /** Most sequences per generate() call; 0 = all (default). */
  batchSize?: number;
  codec?: TaskCodec;
  verify?: Verifier;
}

export interface GreedyResult {
  problem: Problem;
  response: string;
  /** The generated token ids (the stop token included), as a reward model scores them. */
  responseIds: number[];
  correct: boolean;
}

export interface Evaluation {
  /**
   * 'val/acc' (greedy pass@1), 'val/response_length/mean', 'val/truncated' (fraction of greedy
   * responses that hit maxNewTokens), and with k > 0: 'val/pass@k', 'val/mean@k', 'val/k'.
   */
  metrics: Record<string, number>;
  greedy: GreedyResult[];
}

export async function evaluatePolicy(policy: DecoderLM, problems: readonly Problem[], options: EvaluateOptions): Promise<Evaluation> {
  if (problems.length === 0) throw new Error('evaluatePolicy: no problems to evaluate on');
  const codec = options.codec ?? new TaskCodec();
  const verify = options.verify ?? verifierFor();
  const chunk = options.batchSize && options.batchSize > 0 ? options.batchSize : problems.length;

  const greedy: GreedyResult[] = [];
  let tokens = 0;
  let truncated = 0;
  for (let start = 0; start < problems.length; start += chunk) {
    const part = problems.slice(start, start + chunk);
    const outs = await generate(policy, part.map((p) => codec.encodePrompt(p.prompt)), { maxNewTokens: options.maxNewTokens, greedy: true, ...codec.generateStops() });
    outs.forEach((out, i) => {
      const response = codec.decodeResponse(out.tokens);
      greedy.push({ problem: part[i]!, response, responseIds: out.tokens, correct: verify(part[i]!, response).correct });
      tokens += out.tokens.length;
      if (out.finishReason === 'length') truncated++;
    });
  }
  const metrics: Record<string, number> = {
    'val/acc': greedy.filter((g) => g.correct).length / problems.length,
    'val/response_length/mean': tokens / problems.length,
    'val/truncated': truncated / problems.length,
  };

  const k = options.k ?? 0;
  if (k > 0) {
    const batch = await rollout(policy, problems, {
      k,
      maxNewTokens: options.maxNewTokens,
      temperature: options.temperature ?? 1,
      seed: deriveSeed(options.seed ?? 0, 'pass@k'),
      codec,
      verify,
      ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    });
    const solved = new Set(batch.samples.filter((s) => s.score > 0).map((s) => s.group));
    metrics['val/pass@k'] = solved.size / problems.length;
    metrics['val/mean@k'] = batch.samples.filter((s) => s.score > 0).length / batch.samples.length;
    metrics['val/k'] = k;
  }
  return { metrics, greedy };
}
