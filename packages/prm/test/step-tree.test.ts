// The prefix tree of KV caches (search/step-tree.ts): expanding through stored KV segments samples
// exactly what re-prefilling every node's path samples (same tokens, log-probs within float
// rounding), both equal a full teacher-forced forward, the tree reads far fewer tokens, steps end at
// the codec's step boundary, budgets hold, and bad options are named.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { GpuBackend, DecoderLM, loadHfModel, loadHfTokenizer, noGrad, reshape, tensor, tidy, tokenLogProbs } from '@repirl/autograd';
import { TaskCodec, arithChain } from '@repirl/rl';
import { StepTree, isTerminal, leaves, pathIds, stepComplete, type StepNode } from '../src/search/step-tree.js';
import { codec, decoder, difficulty, sftPolicy } from './helpers.js';

const problems = arithChain.generate(7, 4, difficulty);
const prompts = problems.map((p) => codec.encodePrompt(p.prompt));

/** Grows the same shape in any tree: the roots get 3 children, then every open leaf 2, for `rounds` rounds. */
async function grow(tree: StepTree, rounds: number): Promise<void> {
  await tree.expand(tree.roots.map((node) => ({ node, k: 3 })));
  for (let r = 1; r < rounds; r++) {
    const open = tree.roots.flatMap(leaves).filter((n) => !isTerminal(n));
    if (open.length === 0) break;
    await tree.expand(open.map((node) => ({ node, k: 2 })));
  }
}

const allNodes = (tree: StepTree): StepNode[] => {
  const out: StepNode[] = [];
  const walk = (n: StepNode) => {
    out.push(n);
    n.children.forEach(walk);
  };
  tree.roots.forEach(walk);
  return out;
};

describe('StepTree', () => {
  let policy: DecoderLM;
  beforeAll(async () => {
    policy = await sftPolicy(new GpuBackend(await getRuntime()), 60);
  }, 120_000);

  it('samples the same steps and log-probs through the KV tree as by re-prefilling each path, and as a full forward gives', async () => {
    const options = { codec, maxNewTokens: 12, seed: 5 };
    const tree = await StepTree.create(policy, prompts, options);
    const plain = await StepTree.create(policy, prompts, { ...options, reuse: false });
    await grow(tree, 4);
    await grow(plain, 4);
    const a = allNodes(tree);
    const b = allNodes(plain);
    expect(a.map((n) => n.ids)).toEqual(b.map((n) => n.ids));
    expect(a.map((n) => n.finish)).toEqual(b.map((n) => n.finish));
    a.forEach((n, i) => n.logprobs.forEach((lp, t) => expect(lp).toBeCloseTo(b[i]!.logprobs[t]!, 4)));
    expect(a.filter((n) => n.depth >= 2).length).toBeGreaterThan(4); // the tree is deeper than one step
    // Teacher forcing every leaf's path through one full forward gives the same log-probs.
    for (const leaf of tree.roots.flatMap(leaves)) {
      const ids = pathIds(leaf);
      const P = ids.length - leaf.responseIds.length;
      const full = noGrad(() => tidy(() => {
        const x = tensor(policy.backend, ids, [1, ids.length], { dtype: 'i32' });
        const logits = reshape(policy.forward(x), [ids.length, policy.config.vocabSize]);
        return tokenLogProbs(logits, tensor(policy.backend, [...ids.slice(1), 0], [ids.length], { dtype: 'i32' })).logp;
      }));
      const want = Array.from(await full.data()).slice(P - 1, ids.length - 1);
      full.dispose();
      const got: number[] = [];
      for (let n: StepNode | null = leaf; n !== null && n.parent !== null; n = n.parent) got.unshift(...n.logprobs);
      got.forEach((lp, t) => expect(lp).toBeCloseTo(want[t]!, 4));
    }
    // Every open node ended at a step boundary; the tree read each prompt once and each token once.
    for (const n of a) if (n.finish === 'step') expect(tree.text(n).endsWith('\n')).toBe(true);
    const generated = tree.stats.generatedTokens.reduce((x, y) => x + y, 0);
    expect(plain.stats.generatedTokens).toEqual(tree.stats.generatedTokens);
    expect(tree.stats.prefilledTokens).toBe(prompts.reduce((x, p) => x + p.length - 1, 0) + tree.stats.rows);
    expect(plain.stats.prefilledTokens).toBe(plain.stats.reprefillTokens);
    expect(tree.stats.prefilledTokens).toBeLessThan(plain.stats.prefilledTokens / 3);
    console.log(`tree: prefilled ${tree.stats.prefilledTokens}, generated ${generated}, copied ${tree.stats.copiedTokens}; re-prefill: prefilled ${plain.stats.prefilledTokens}`);
    tree.dispose();
    plain.dispose();
  }, 60_000);

  it('is exact on a Hugging Face checkpoint too (Qwen3: grouped-query attention, q/k norms, a BPE tokenizer)', async () => {
    const dir = new URL('../../autograd/test/fixtures/hf/qwen3/', import.meta.url).pathname;
    const { model } = await loadHfModel(policy.backend, dir);
    // The fixture's weights are random: steps cut at any vowel, so that paths run through several stored segments.
    const hf = new TaskCodec({ tokenizer: await loadHfTokenizer(dir), template: 'raw', bos: false, stepRule: { separator: /[aeiou]/i } });
    const hfPrompts = problems.map((p) => hf.encodePrompt(p.prompt));
    const options = { codec: hf, maxNewTokens: 16, seed: 2 };
    const tree = await StepTree.create(model, hfPrompts, options);
    const plain = await StepTree.create(model, hfPrompts, { ...options, reuse: false });
    await grow(tree, 4);
    await grow(plain, 4);
    const a = allNodes(tree);
    const b = allNodes(plain);
    expect(a.map((n) => n.ids)).toEqual(b.map((n) => n.ids));
    a.forEach((n, i) => n.logprobs.forEach((lp, t) => expect(lp).toBeCloseTo(b[i]!.logprobs[t]!, 3)));
    expect(a.filter((n) => n.depth >= 2).length).toBeGreaterThan(2); // paths through stored segments, not only the prompts
    tree.dispose();
    plain.dispose();
    model.dispose();
  }, 60_000);

  it('keeps the budget of generated tokens per problem', async () => {
    const tree = await StepTree.create(policy, prompts, { codec, maxNewTokens: 12, seed: 1, budget: 20 });
    for (let r = 0; r < 6; r++) {
      const open = tree.roots.flatMap(leaves).filter((n) => !isTerminal(n) && tree.left(n.problem) > 0);
      if (open.length === 0) break;
      await tree.expand(open.map((node) => ({ node, k: 4 })));
    }
    for (const [p, used] of tree.stats.generatedTokens.entries()) {
      expect(used).toBeLessThanOrEqual(20);
      expect(used).toBe(leaves(tree.roots[p]!).reduce((a, n) => a + n.responseIds.length, 0) - sharedTokens(tree.roots[p]!));
    }
    expect(allNodes(tree).some((n) => n.finish === 'budget')).toBe(true);
    tree.dispose();
  }, 60_000);

  it('ends steps by the codec\'s step rule', () => {
    expect(stepComplete('=1', 0, 'lines')).toBe(false);
    expect(stepComplete('=10\n', 0, 'lines')).toBe(true);
    expect(stepComplete('\n', 0, 'lines')).toBe(false);
    expect(stepComplete('=10\n=2', 1, 'lines')).toBe(false);
    expect(stepComplete('a\nb\n', 0, 'paragraphs')).toBe(false);
    expect(stepComplete('a\nb\n\n', 0, 'paragraphs')).toBe(true);
  });

  it('names the bad option', async () => {
    const base = { codec, maxNewTokens: 12, seed: 0 };
    await expect(StepTree.create(policy, prompts, { ...base, maxNewTokens: 0 })).rejects.toThrow(/maxNewTokens must be a positive integer, got 0/);
    await expect(StepTree.create(policy, prompts, { ...base, maxNewTokens: 100 })).rejects.toThrow(/exceeds the policy's maxSeqLen \(48\)/);
    await expect(StepTree.create(policy, prompts, { ...base, budget: 0 })).rejects.toThrow(/budget must be a positive integer/);
    await expect(StepTree.create(policy, prompts, { ...base, temperature: 0 })).rejects.toThrow(/temperature must be a finite number > 0/);
    await expect(StepTree.create(policy, [], base)).rejects.toThrow(/no prompts/);
    await expect(StepTree.create(policy, prompts, { ...base, codec: new TaskCodec({ stepRule: 'step-markers' }) })).rejects.toThrow(/step-markers/);
    expect(decoder.maxSeqLen).toBe(48);
  });
});

/** Tokens counted more than once when summing leaves' responses: each inner node's tokens once per extra leaf below it. */
function sharedTokens(root: StepNode): number {
  let extra = 0;
  const walk = (n: StepNode): number => {
    if (n.children.length === 0) return 1;
    const below = n.children.reduce((a, c) => a + walk(c), 0);
    if (n.parent !== null) extra += (below - 1) * n.ids.length;
    return below;
  };
  walk(root);
  return extra;
}
