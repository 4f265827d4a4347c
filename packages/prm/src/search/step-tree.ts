// Step-level generation over a prefix tree of KV caches: what every search method of this folder
// samples with (best-of-N and the votes as chains of steps, beam search, MCTS).
//
// A StepTree holds one root per problem (its prompt) and grows nodes, each one step of a response:
// expand([{ node, k }]) samples k next steps of each node in one batched decode, each ending at
// the step boundary of the codec's step rule (a step is complete once one more non-blank character
// would start a new step: '\n' after a line under 'lines', a blank line under 'paragraphs'), a
// complete answer line, an end-of-sequence id, the response's token budget (maxNewTokens, maxSteps)
// or the problem's budget of generated tokens.
//
// The KV cache is kept per node, not per call: each node owns the keys and values of its positions
// in an arena (a one-sequence KvCache whose positions are rows of the cache head size, written in
// place and doubled when full; a segment is [kvHeads, length] rows), so a
// node's prefix is the concatenation of its ancestors' segments. A node of L tokens (prompt +
// response) owns positions [L_parent − 1, L − 1): its tokens but the last, plus its parent's last
// token — the decode that sampled it fed exactly those positions, starting from the parent's last
// sampled token. To expand a node its path's segments are gathered into a fresh batch cache (a copy,
// no forward pass) and decoding starts from its last token at position L − 1; the root's segment
// (the prompt but its last token) is prefilled once per problem when the tree is created. So the
// model reads every prompt once and every generated token once, where a re-prefill per node would
// read each node's whole path again (`reuse: false` does exactly that, for the exactness test and
// the accounting). `stats` counts both: prefilled tokens (prompts, and each row's first token),
// generated tokens, KV positions copied, and the tokens a re-prefill per expansion would read.
//
// Sampling: the round's rows share one Philox key deriveSeed(seed, 'step-tree', round) and draw at
// offset = decode step, per row (generate()'s convention), so a tree is a function of its seed and
// the sequence of expand calls, and the reuse and re-prefill paths sample the same tokens from the
// same logits. Log-probs are log softmax(logits / temperature)[token], as generate() reports them.
import {
  KvCache, gatherRows, noGrad, reshape, sampleTokens, tensor, tidy, tokenLogProbs, type DecoderLM, type Tensor,
} from '@repirl/autograd';
import { deriveSeed, hasCompleteAnswerLine, segmentSteps, type StepRule, type TaskCodec } from '@repirl/rl';

/** Why a node's step ended: 'step' can be extended; every other reason ends the response. */
export type StepFinish = 'step' | 'answer' | 'eos' | 'length' | 'budget';

export interface StepNode {
  readonly id: number;
  /** Index of the problem (the tree's prompt) this node belongs to. */
  readonly problem: number;
  readonly parent: StepNode | null;
  /** This node's tokens: the prompt for a root, else the step it sampled. */
  readonly ids: readonly number[];
  /** log p of each of this node's tokens (empty for a root). */
  readonly logprobs: readonly number[];
  /** Steps from the root (0 for the root). */
  readonly depth: number;
  /** The response through this node (every token after the prompt). */
  readonly responseIds: readonly number[];
  /** Prompt + response length. */
  readonly length: number;
  /** null for a root. */
  readonly finish: StepFinish | null;
  readonly children: StepNode[];
}

/** A node whose response is complete or cut off (it cannot be extended). */
export const isTerminal = (node: StepNode): boolean => node.finish !== null && node.finish !== 'step';

export interface StepTreeOptions {
  codec: TaskCodec;
  /** Token budget of one response. */
  maxNewTokens: number;
  /** Most steps of one response (default: no limit beyond maxNewTokens). */
  maxSteps?: number;
  /** Sampling temperature (> 0, default 1). */
  temperature?: number;
  seed: number;
  /** Generated tokens per problem over the whole search (default: unlimited). */
  budget?: number;
  /** Reuse the tree's KV segments (default true); false re-prefills every expanded node's whole path. */
  reuse?: boolean;
}

export interface StepTreeStats {
  /** Tokens the model read that it did not sample in that call: prompts and each row's first token (reuse), or whole paths (no reuse). */
  prefilledTokens: number;
  /** Tokens sampled into nodes, per problem. */
  generatedTokens: number[];
  /** KV positions copied from the tree into batch caches (reuse only). */
  copiedTokens: number;
  /** Tokens a re-prefill of every expanded node's path (prompt included) would read: the cost the tree avoids. */
  reprefillTokens: number;
  /** Rows decoded (one per sampled step). */
  rows: number;
  /** Batched decode calls (rounds). */
  rounds: number;
}

interface Segment {
  /** First arena row of the segment ([kvHeads, length] rows, head-major). */
  offset: number;
  /** First position it covers. */
  start: number;
  length: number;
}

interface Internal extends StepNode {
  children: Internal[];
  parent: Internal | null;
  segment: Segment | null;
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`StepTree: ${name} must be a positive integer, got ${value}`);
}

/** Whether `text` (a whole response) has just completed a step under `rule`: one more non-blank character would start a new one. */
export function stepComplete(text: string, stepsBefore: number, rule: StepRule): boolean {
  const now = segmentSteps(text, rule).length;
  return now > stepsBefore && segmentSteps(`${text}X`, rule).length > now;
}

export class StepTree {
  readonly roots: StepNode[];
  readonly stats: StepTreeStats;
  private readonly options: Required<Omit<StepTreeOptions, 'budget' | 'maxSteps'>> & { budget: number; maxSteps: number };
  /** The arena: a one-sequence, one-head KvCache whose positions are rows of segments (grown by doubling). */
  private arena: KvCache | null = null;
  private arenaRows = 0;
  private nextId = 0;
  private round = 0;
  private disposed = false;
  private readonly kvHeads: number;
  private readonly headDim: number;
  private readonly eos: (id: number) => boolean;

  private constructor(readonly policy: DecoderLM, prompts: readonly (readonly number[])[], options: StepTreeOptions) {
    if (prompts.length === 0) throw new Error('StepTree: no prompts');
    positiveInteger('maxNewTokens', options.maxNewTokens);
    if (options.maxSteps !== undefined) positiveInteger('maxSteps', options.maxSteps);
    const temperature = options.temperature ?? 1;
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new Error(`StepTree: temperature must be a finite number > 0 (steps are sampled), got ${temperature}`);
    if (!Number.isSafeInteger(options.seed) || options.seed < 0) throw new Error(`StepTree: seed must be a non-negative integer, got ${options.seed}`);
    const budget = options.budget ?? Infinity;
    if (budget !== Infinity) positiveInteger('budget', budget);
    const { maxSeqLen, vocabSize } = policy.config;
    prompts.forEach((p, i) => {
      if (p.length === 0) throw new Error(`StepTree: prompt ${i} is empty`);
      p.forEach((id) => {
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`StepTree: prompt ${i} holds ${id}, not a token id in [0, ${vocabSize})`);
      });
      if (p.length + options.maxNewTokens > maxSeqLen) {
        throw new Error(`StepTree: prompt ${i} (${p.length} tokens) + maxNewTokens (${options.maxNewTokens}) exceeds the policy's maxSeqLen (${maxSeqLen})`);
      }
    });
    const { codec } = options;
    if (codec.stepRule === 'step-markers') {
      throw new Error("StepTree: step rule 'step-markers' ends a step only when the next step's marker is written, so a step cannot stop at its own end; use lines, paragraphs or a separator");
    }
    this.options = { codec, maxNewTokens: options.maxNewTokens, temperature, seed: options.seed, reuse: options.reuse ?? true, budget, maxSteps: options.maxSteps ?? Infinity };
    const attn = policy.blocks[0]!.attn;
    this.kvHeads = attn.kvHeads;
    this.headDim = attn.cacheHeadDim;
    this.eos = (id) => codec.isEos(id);
    this.stats = { prefilledTokens: 0, generatedTokens: prompts.map(() => 0), copiedTokens: 0, reprefillTokens: 0, rows: 0, rounds: 0 };
    this.roots = prompts.map((p, problem): Internal => ({
      id: this.nextId++, problem, parent: null, ids: [...p], logprobs: [], depth: 0, responseIds: [], length: p.length, finish: null, children: [], segment: null,
    }));
  }

  /** A tree with one root per prompt; with reuse, the prompts (but their last tokens) are prefilled once here. */
  static async create(policy: DecoderLM, prompts: readonly (readonly number[])[], options: StepTreeOptions): Promise<StepTree> {
    const tree = new StepTree(policy, prompts, options);
    if (tree.options.reuse) await tree.prefillRoots();
    return tree;
  }

  /** The codec the tree's steps are cut and decoded with. */
  get codec(): TaskCodec {
    return this.options.codec;
  }

  /** Generated tokens left to `problem` under the budget. */
  left(problem: number): number {
    return this.options.budget - this.stats.generatedTokens[problem]!;
  }

  /** The codec's text of a node's response. */
  text(node: StepNode): string {
    return this.options.codec.decodeResponse(node.responseIds);
  }

  private get layers(): number {
    return this.policy.config.nLayers;
  }

  /** The arena's rows of `layer` as [capacity, headDim] (keys or values). */
  private arenaRowsOf(which: 'keys' | 'values', layer: number): Tensor {
    return reshape(this.arena![which][layer]!, [this.arena!.config.capacity, this.headDim]);
  }

  /** Appends rows [rows, headDim] per layer to the arena (written in place; a full arena is copied into one twice as large); returns their first row. */
  private appendArena(parts: { keys: Tensor[]; values: Tensor[] }, rows: number): number {
    const offset = this.arenaRows;
    const need = offset + rows;
    noGrad(() => {
      if (this.arena === null || this.arena.config.capacity < need) {
        const capacity = Math.max(need, 2 * (this.arena?.config.capacity ?? 0), 256);
        const grown = new KvCache(this.policy.backend, { batch: 1, layers: this.layers, heads: 1, kvHeads: 1, headDim: this.headDim, capacity });
        if (this.arena !== null && offset > 0) {
          const kept = Array.from({ length: offset }, (_, i) => i);
          tidy(() => {
            for (let l = 0; l < this.layers; l++) {
              const k = reshape(gatherRows(this.arenaRowsOf('keys', l), kept), [1, 1, offset, this.headDim]);
              const v = reshape(gatherRows(this.arenaRowsOf('values', l), kept), [1, 1, offset, this.headDim]);
              grown.write(l, k, v);
            }
          });
        }
        this.arena?.dispose();
        this.arena = grown;
      }
      const arena = this.arena;
      arena.setPast([offset]);
      tidy(() => {
        for (let l = 0; l < this.layers; l++) arena.write(l, reshape(parts.keys[l]!, [1, 1, rows, this.headDim]), reshape(parts.values[l]!, [1, 1, rows, this.headDim]));
      });
      arena.setPast([need]);
    });
    for (const t of [...parts.keys, ...parts.values]) t.dispose();
    this.arenaRows = need;
    return offset;
  }

  /** Rows of segments [start, start + length) of batch row b of `cache`, head-major, as indices into the cache's [B·Hkv·capacity, D] rows. */
  private segmentIndices(capacity: number, spans: readonly { b: number; start: number; length: number }[]): number[] {
    const idx: number[] = [];
    for (const { b, start, length } of spans) {
      for (let h = 0; h < this.kvHeads; h++) for (let t = 0; t < length; t++) idx.push((b * this.kvHeads + h) * capacity + start + t);
    }
    return idx;
  }

  /** Copies the given spans of `cache` into the arena; returns the arena offset of each span. */
  private keepSegments(cache: KvCache, spans: readonly { b: number; start: number; length: number }[]): number[] {
    const capacity = cache.config.capacity;
    const idx = this.segmentIndices(capacity, spans);
    if (idx.length === 0) return spans.map(() => this.arenaRows);
    const B = cache.config.batch;
    const rows = B * this.kvHeads * capacity;
    const parts = noGrad(() => tidy(() => ({
      keys: cache.keys.map((k) => gatherRows(reshape(k, [rows, this.headDim]), idx)),
      values: cache.values.map((v) => gatherRows(reshape(v, [rows, this.headDim]), idx)),
    })));
    const base = this.appendArena(parts, idx.length);
    const offsets: number[] = [];
    let at = base;
    for (const s of spans) {
      offsets.push(at);
      at += this.kvHeads * s.length;
    }
    return offsets;
  }

  private async prefillRoots(): Promise<void> {
    const roots = this.roots as Internal[];
    const lengths = roots.map((r) => r.ids.length - 1);
    const T = Math.max(...lengths);
    for (const r of roots) r.segment = { offset: this.arenaRows, start: 0, length: 0 };
    if (T === 0) return;
    const cache = this.policy.createKvCache(roots.length, T);
    try {
      noGrad(() => tidy(() => {
        const ids = tensor(this.policy.backend, roots.flatMap((r, b) => [...r.ids.slice(0, lengths[b]), ...new Array<number>(T - lengths[b]!).fill(0)]), [roots.length, T], { dtype: 'i32' });
        this.policy.hidden(ids, { cache });
      }));
      const spans = roots.map((_, b) => ({ b, start: 0, length: lengths[b]! }));
      const offsets = this.keepSegments(cache, spans);
      roots.forEach((r, b) => (r.segment = { offset: offsets[b]!, start: 0, length: lengths[b]! }));
      this.stats.prefilledTokens += lengths.reduce((a, b) => a + b, 0);
    } finally {
      cache.dispose();
    }
  }

  /** The path's segments cover positions [0, length − 1); fills a batch cache's prefix rows. */
  private fillPrefix(cache: KvCache, rows: readonly Internal[]): void {
    const T = Math.max(...rows.map((n) => n.length - 1));
    if (T > 0) {
      const idx: number[] = [];
      for (const node of rows) {
        const path: Segment[] = [];
        for (let n: Internal | null = node; n !== null; n = n.parent) path.push(n.segment!);
        path.reverse();
        for (let h = 0; h < this.kvHeads; h++) {
          for (let t = 0; t < T; t++) {
            const seg = path.find((s) => t >= s.start && t < s.start + s.length);
            idx.push(seg === undefined ? 0 : seg.offset + h * seg.length + (t - seg.start));
          }
        }
      }
      noGrad(() => tidy(() => {
        const B = rows.length;
        for (let l = 0; l < this.layers; l++) {
          const k = reshape(gatherRows(this.arenaRowsOf('keys', l), idx), [B, this.kvHeads, T, this.headDim]);
          const v = reshape(gatherRows(this.arenaRowsOf('values', l), idx), [B, this.kvHeads, T, this.headDim]);
          cache.write(l, k, v);
        }
      }));
    }
    cache.setPast(rows.map((n) => n.length - 1));
    this.stats.copiedTokens += rows.reduce((a, n) => a + n.length - 1, 0);
  }

  /**
   * Samples k next steps of each requested node, all in one batched decode; returns the new
   * children per request (fewer than k when the problem's budget ran out first). Terminal nodes
   * cannot be expanded.
   */
  async expand(requests: readonly { node: StepNode; k: number }[]): Promise<StepNode[][]> {
    if (this.disposed) throw new Error('StepTree: expand after dispose');
    const { codec, maxNewTokens, maxSteps, temperature, reuse } = this.options;
    const rows: Internal[] = [];
    const request: number[] = [];
    requests.forEach(({ node, k }, q) => {
      positiveInteger('k', k);
      if (isTerminal(node)) throw new Error(`StepTree: node ${node.id} ended its response (${node.finish}); it cannot be expanded`);
      if (this.left(node.problem) <= 0) return;
      for (let i = 0; i < k; i++) {
        rows.push(node as Internal);
        request.push(q);
      }
    });
    const children: StepNode[][] = requests.map(() => []);
    if (rows.length === 0) return children;
    const B = rows.length;
    const room = rows.map((n) => Math.min(maxNewTokens - n.responseIds.length, this.left(n.problem)));
    const steps = Math.max(...room);
    const start = rows.map((n) => (reuse ? n.length - 1 : n.length));
    const capacity = Math.max(...start) + steps;
    const seed = deriveSeed(this.options.seed, 'step-tree', this.round);
    this.round++;
    this.stats.rounds++;
    this.stats.rows += B;
    this.stats.reprefillTokens += rows.reduce((a, n) => a + n.length, 0);
    const { dModel } = this.policy.config;
    const cache = this.policy.createKvCache(B, capacity);
    const tokens: number[][] = rows.map(() => []);
    const logprobs: number[][] = rows.map(() => []);
    const done: (StepFinish | null)[] = rows.map(() => null);
    const stepsBefore = rows.map((n) => (n.depth === 0 ? 0 : segmentSteps(this.text(n), codec.stepRule).length));
    try {
      if (reuse) this.fillPrefix(cache, rows);
      let previous: Tensor | null = null;
      for (let s = 0; s < steps && done.some((d) => d === null); s++) {
        const out: { ids: Tensor; logp: Tensor } = noGrad(() => tidy(() => {
          let last: Tensor;
          if (s === 0 && !reuse) {
            const T = Math.max(...start);
            const ids = tensor(this.policy.backend, rows.flatMap((n) => { const path = pathIds(n); return [...path, ...new Array<number>(T - path.length).fill(0)]; }), [B, T], { dtype: 'i32' });
            const h = this.policy.hidden(ids, { cache });
            last = gatherRows(reshape(h, [B * T, dModel]), start.map((n, b) => b * T + n - 1));
          } else {
            const input = s === 0 ? tensor(this.policy.backend, rows.map((n) => n.ids.at(-1)!), [B, 1], { dtype: 'i32' }) : reshape(previous!, [B, 1]);
            last = reshape(this.policy.hidden(input, { cache }), [B, dModel]);
          }
          const logits = this.policy.logits(last);
          const ids = sampleTokens(logits, { seed, offset: s, temperature });
          const { logp } = tokenLogProbs(logits, ids, { temperature });
          return { ids, logp };
        }));
        previous?.dispose();
        previous = out.ids;
        if (s === 0 && !reuse) {
          cache.setPast(start);
          this.stats.prefilledTokens += start.reduce((a, b) => a + b, 0);
        } else {
          cache.setPast(cache.positions.map((p) => p + 1));
          if (s === 0) this.stats.prefilledTokens += B;
        }
        const [ids, logp] = await Promise.all([out.ids.data(), out.logp.data()]);
        out.logp.dispose();
        for (let b = 0; b < B; b++) {
          if (done[b] !== null) continue;
          const node = rows[b]!;
          if (this.left(node.problem) <= 0) {
            done[b] = 'budget';
            continue;
          }
          const id = ids[b]!;
          if (id < 0) throw new Error(`StepTree: a row had no finite logit to sample (NaN or −∞ logits) at decode step ${s}`);
          tokens[b]!.push(id);
          logprobs[b]!.push(logp[b]!);
          this.stats.generatedTokens[node.problem]!++;
          const response = [...node.responseIds, ...tokens[b]!];
          const text = codec.decodeResponse(response);
          if (this.eos(id)) done[b] = 'eos';
          else if (hasCompleteAnswerLine(text)) done[b] = 'answer';
          else if (response.length >= maxNewTokens) done[b] = 'length';
          else if (stepComplete(text, stepsBefore[b]!, codec.stepRule)) done[b] = node.depth + 1 >= maxSteps ? 'length' : 'step';
        }
      }
      previous?.dispose();
      // The new nodes; those that can be extended keep their KV segment.
      // A row whose loop ended without a stop ran out of the problem's budget.
      const made: { b: number; child: Internal }[] = [];
      rows.forEach((parent, b) => {
        if (tokens[b]!.length === 0) return;
        const child: Internal = {
          id: this.nextId++, problem: parent.problem, parent, ids: tokens[b]!, logprobs: logprobs[b]!, depth: parent.depth + 1,
          responseIds: [...parent.responseIds, ...tokens[b]!], length: parent.length + tokens[b]!.length, finish: done[b] ?? 'budget', children: [], segment: null,
        };
        parent.children.push(child);
        children[request[b]!]!.push(child);
        made.push({ b, child });
      });
      if (reuse) {
        const open = made.filter((m) => m.child.finish === 'step');
        const spans = open.map(({ b, child }) => ({ b, start: child.parent!.length - 1, length: child.ids.length }));
        const offsets = this.keepSegments(cache, spans);
        open.forEach(({ child }, i) => (child.segment = { offset: offsets[i]!, start: spans[i]!.start, length: spans[i]!.length }));
      }
    } finally {
      cache.dispose();
    }
    return children;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.arena?.dispose();
  }
}

/** Prompt + response ids of a node. */
export function pathIds(node: StepNode): number[] {
  const parts: (readonly number[])[] = [];
  for (let n: StepNode | null = node; n !== null; n = n.parent) parts.push(n.ids);
  return parts.reverse().flat();
}

/** The terminal descendants of `node` (itself when terminal), in creation order. */
export function leaves(node: StepNode): StepNode[] {
  if (node.children.length === 0) return [node];
  return node.children.flatMap(leaves);
}
