// Issue 15, a fair ORM: an outcome head trained at the last token, read at every step end
// (scoreRead 'every-step'), scores step k with its reading on the response cut after step k —
// P(correct | prefix) — because the backbone is causal. Host-only (float64 CPU backend, tiny model).
import { describe, expect, it } from 'vitest';
import { CpuBackend, DecoderLM } from '@repirl/autograd';
import { TaskCodec, packSequences } from '@repirl/rl';
import { OutcomeHeadPrm } from '../src/models/outcome-head.js';
import { scoreSamples, stepEndTokens } from '../src/models/prm.js';

const codec = new TaskCodec();
const cpu = new CpuBackend();
const policy = new DecoderLM(cpu, { vocabSize: codec.tokenizer.vocabSize, dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, maxSeqLen: 64 }, { seed: 3 });
const part = (prompt: string, response: string) => ({ promptIds: codec.encodePrompt(prompt), responseIds: codec.encodeResponse(response) });

describe("OutcomeHeadPrm scoreRead 'every-step'", () => {
  const parts = [part('3 +4 *2\n', '=7\n=14\n#### 14\n'), part('5 -1\n', '=4\n\n#### 4'), part('2 +2\n', '=5')];

  it('step k scores the last-token reading of the response cut after step k (its prefix reading)', async () => {
    const orm = OutcomeHeadPrm.fromPolicy(policy, { read: 'last', seed: 2 });
    const lastOnly = await scoreSamples(orm, parts, codec);
    // Default (undefined): where `read` says — one number, on the last token.
    expect(lastOnly.map((s) => s.tokens.filter((v) => v !== 0).length)).toEqual([1, 1, 1]);
    orm.scoreRead = 'every-step';
    const every = await scoreSamples(orm, parts, codec);
    expect(orm.readPositions(packSequences(parts, codec.padId))).toEqual(parts.map((p) => [p.responseIds.length - 1])); // training read unchanged
    for (const [b, p] of parts.entries()) {
      const ends = stepEndTokens(p.responseIds, codec);
      expect(every[b]!.steps).toHaveLength(ends.length);
      orm.scoreRead = undefined;
      const prefixes = await scoreSamples(orm, ends.map((t) => ({ promptIds: p.promptIds, responseIds: p.responseIds.slice(0, t + 1) })), codec);
      orm.scoreRead = 'every-step';
      ends.forEach((_, k) => {
        const prefixReading = prefixes[k]!.steps.reduce((a, v) => a + v, 0); // one σ on the prefix's last token
        expect(every[b]!.steps[k]).toBeCloseTo(prefixReading, 10);
        expect(every[b]!.steps[k]).toBeGreaterThan(0);
        expect(every[b]!.steps[k]).toBeLessThan(1);
      });
    }
    // A response ending on its answer line: the last step's reading is the ORM's outcome score.
    expect(every[0]!.steps.at(-1)).toBeCloseTo(lastOnly[0]!.steps.at(-1)!, 10);
    orm.scoreRead = 'last';
    expect((await scoreSamples(orm, parts, codec)).map((s) => s.tokens)).toEqual(lastOnly.map((s) => s.tokens));
    orm.scoreRead = 'first' as never;
    await expect(scoreSamples(orm, parts, codec)).rejects.toThrow(/scoreRead must be one of last, every-step/);
    orm.dispose();
  });
});
