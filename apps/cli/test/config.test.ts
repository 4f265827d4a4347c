import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  closest, ConfigError, configDiff, defaultsOf, editDistance, experiments, formatSchemaDocs, leafPaths, parseJsonText, parseSet, prmTrainSchema, readConfigFile,
  resolveConfig, rlSchema, s, sftSchema, validate, type EvalConfig, type Infer, type RlConfig, type SftConfig,
} from '../src/config/index.js';

const configsDir = new URL('../configs/', import.meta.url).pathname;

function sft(sets: string[] = [], file?: unknown): SftConfig {
  return resolveConfig<SftConfig>(sftSchema, { sets, file: file === undefined ? undefined : { value: file, name: 'test.json' } });
}

/** The message of the ConfigError that `fn` throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('schema language', () => {
  const schema = s.object('a test config', {
    steps: s.integer('steps', { default: 10, min: 1, max: 100 }),
    lr: s.number('learning rate', { default: 0.1, min: 0, max: 1, minExclusive: true }),
    mode: s.enum('mode', ['fast', 'slow'], { default: 'fast' }),
    on: s.boolean('switch', { default: false }),
    name: s.string('a name'),
    path: s.optional(s.string('a path')),
    sizes: s.array('sizes', s.integer('size', { min: 1 }), { default: [1, 2], minItems: 1 }),
    inner: s.object('nested', { depth: s.integer('depth', { default: 3, min: 0 }) }),
  });

  it('derives defaults, leaving out required keys', () => {
    expect(defaultsOf(schema)).toEqual({ steps: 10, lr: 0.1, mode: 'fast', on: false, path: null, sizes: [1, 2], inner: { depth: 3 } });
    expect(leafPaths(schema)).toEqual(['steps', 'lr', 'mode', 'on', 'name', 'path', 'sizes', 'inner.depth']);
  });

  it('infers the config type', () => {
    type C = Infer<typeof schema>;
    const c: C = { steps: 1, lr: 0.5, mode: 'slow', on: true, name: 'x', path: null, sizes: [3], inner: { depth: 0 } };
    expect(validate(schema, c)).toEqual([]);
  });

  it('reports every problem with its path', () => {
    const issues = validate(schema, { steps: 0, lr: 0, mode: 'medium', on: 'yes', sizes: [], inner: { depth: -1 }, extra: 1 });
    expect(issues.map((i) => i.path)).toEqual(['extra', 'steps', 'lr', 'mode', 'on', 'name', 'sizes', 'inner.depth']);
    expect(issues.find((i) => i.path === 'lr')!.message).toBe('0 is out of range: must be a number in (0, 1]');
    expect(issues.find((i) => i.path === 'on')!.message).toBe('expected true or false, got "yes" (a string)');
    expect(issues.find((i) => i.path === 'name')!.message).toBe('is required (a name)');
    expect(issues.find((i) => i.path === 'sizes')!.message).toBe('has 0 items; at least 1 needed');
  });

  it('checks array items and optionals', () => {
    expect(validate(schema, { ...defaultsOf(schema) as object, name: 'x', sizes: [1, 0] })).toEqual([
      { path: 'sizes[1]', message: '0 is out of range: must be an integer ≥ 1' },
    ]);
    expect(validate(schema, { ...defaultsOf(schema) as object, name: 'x', path: 3 })[0]!.message).toBe('expected a string, got 3 (a number)');
  });

  it('measures typos by edit distance with transpositions', () => {
    expect(editDistance('trian', 'train')).toBe(1);
    expect(editDistance('dmodel', 'dModel')).toBe(0);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(closest('stpes', ['steps', 'range'])).toEqual(['steps']);
    expect(closest('zzz', ['steps', 'range'])).toEqual([]);
  });
});

describe('experiment configs: defaults and merging', () => {
  it('resolves the defaults with no file and no --set', () => {
    const c = sft();
    expect(c).toEqual(defaultsOf(sftSchema));
    expect(c.model).toEqual({ dModel: 64, nLayers: 2, nHeads: 4, dFF: 256, maxSeqLen: 128, norm: 'rms', mlp: 'swiglu' });
    expect(c.data).toEqual({ source: 'task-expert', errorRate: 0.2, problems: 2000, path: null });
    expect(c.train.microBatchSize).toBeNull();
    expect(c.task).toEqual({ name: 'arith-chain', difficulty: {} });
  });

  it('fills in the task difficulty after validation', () => {
    expect(experiments.sft.finalize(sft()).task.difficulty).toEqual({ steps: 4, range: 20 });
    const c = experiments.sft.finalize(sft(['task.name=add-carry', 'task.difficulty.digits=5']));
    expect(c.task.difficulty).toEqual({ digits: 5, addends: 2 });
  });

  it('merges a file over the defaults key by key; "//" keys are comments', () => {
    const c = sft([], { '//': 'a comment', model: { dModel: 32, '//': 'another' }, train: { steps: 50, warmup: 5 } });
    expect(c.model.dModel).toBe(32);
    expect(c.model.nLayers).toBe(2);
    expect(c.train).toMatchObject({ steps: 50, warmup: 5, lr: 0.001, batchSize: 32 });
  });

  it('applies --set after the file, in order, parsing JSON values', () => {
    const c = sft(['train.steps=70', 'train.lr=3e-4', 'train.microBatchSize=8', 'model.norm=layer', 'train.steps=80'], { train: { steps: 50 } });
    expect(c.train.steps).toBe(80);
    expect(c.train.lr).toBe(3e-4);
    expect(c.train.microBatchSize).toBe(8);
    expect(c.model.norm).toBe('layer');
    expect(sft(['train.microBatchSize=8', 'train.microBatchSize=null']).train.microBatchSize).toBeNull();
    expect(rl(['rollout.filter.enabled=true']).rollout.filter.enabled).toBe(true);
  });

  it('takes a --set value that is not JSON as text, and keeps text for string keys', () => {
    expect(sft(['task.name=add-carry']).task.name).toBe('add-carry');
    expect(sft(['data.source=jsonl', 'data.path=123']).data.path).toBe('123');
    expect(sft(['data.source=jsonl', 'data.path=data/train.jsonl']).data.path).toBe('data/train.jsonl');
  });

  it('merges an object --set into the object at its key', () => {
    const c = sft(['train={"steps":40,"lr":0.01}']);
    expect(c.train).toMatchObject({ steps: 40, lr: 0.01, batchSize: 32, warmup: 20 });
    expect(sft(['task.difficulty={"steps":6}', 'task.difficulty.range=50']).task.difficulty).toEqual({ steps: 6, range: 50 });
  });

  it('accepts both example configs', async () => {
    const sftFile = await readConfigFile(join(configsDir, 'sft-arith.json'));
    const sftConfig = resolveConfig<SftConfig>(sftSchema, { file: sftFile });
    expect(sftConfig.data.source).toBe('task-noisy');
    expect(sftConfig.task.difficulty).toEqual({ steps: 4, range: 20 });
    const rlFile = await readConfigFile(join(configsDir, 'grpo-arith.json'));
    const rlConfig = resolveConfig<RlConfig>(rlSchema, { file: rlFile });
    expect(rlConfig.algorithm).toBe('grpo');
    expect(rlConfig.init).toBe('runs/sft-arith');
    // Small enough for CI: a few thousand sequences in all.
    expect(sftConfig.train.steps * sftConfig.train.batchSize).toBeLessThanOrEqual(20_000);
    expect(rlConfig.steps * rlConfig.rollout.promptsPerStep * rlConfig.rollout.k).toBeLessThanOrEqual(10_000);
  });

  it('resolves every shipped config against the schema its name says (sft-*, grpo-*, prm-*)', async () => {
    const schemas = { sft: sftSchema, grpo: rlSchema, prm: prmTrainSchema } as const;
    const files = (await readdir(configsDir)).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const name of files) {
      const kind = name.split('-')[0] as keyof typeof schemas;
      expect(Object.keys(schemas), `${name}: no schema for the prefix "${kind}"`).toContain(kind);
      const file = await readConfigFile(join(configsDir, name));
      // The PRM configs leave `init` (the SFT run to start from) to --set, as the README's commands do.
      const sets = kind === 'prm' ? ['init=runs/sft'] : [];
      expect(() => resolveConfig(schemas[kind], { file, sets }), name).not.toThrow();
    }
  });

  it('diffs configs leaf by leaf', () => {
    const a = sft();
    const b = sft(['train.steps=900', 'model.dModel=32']);
    expect(configDiff(a, b)).toEqual(['model.dModel', 'train.steps']);
    expect(configDiff(a, a)).toEqual([]);
  });
});

function rl(sets: string[] = []): RlConfig {
  return resolveConfig<RlConfig>(rlSchema, { sets: ['init=runs/sft', ...sets] });
}

describe('experiment configs: the promised errors', () => {
  it('an unknown key in the file, with a did-you-mean by edit distance', () => {
    expect(errorOf(() => sft([], { model: { dmodel: 32 } }))).toBe(
      'invalid config: model.dmodel: unknown key (did you mean "dModel"?); valid keys in "model": dModel, nLayers, nHeads, dFF, maxSeqLen, norm, mlp [from test.json]',
    );
    expect(errorOf(() => sft([], { trian: { steps: 3 } }))).toMatch(/trian: unknown key \(did you mean "train"\?\); valid keys: init, task, model, data, train, eval, seed, checkpointEvery/);
    // A key at the wrong level gets its full path suggested.
    expect(errorOf(() => sft([], { lr: 0.1 }))).toMatch(/lr: unknown key \(did you mean "train\.lr"\?\)/);
    // No suggestion when nothing is close.
    expect(errorOf(() => sft([], { zzzzzz: 1 }))).toMatch(/zzzzzz: unknown key; valid keys: init, task, model/);
  });

  it('an unknown --set key, listing the valid keys at that level', () => {
    expect(errorOf(() => sft(['train.lrr=0.1']))).toBe(
      'invalid --set: train.lrr: unknown key "lrr" (did you mean "lr"?); valid keys in "train": steps, batchSize, microBatchSize, lr, warmup, schedule, weightDecay, maxGradNorm [from --set train.lrr=0.1]',
    );
    expect(errorOf(() => sft(['optim.lr=0.1']))).toMatch(/optim\.lr: unknown key "optim"; valid keys: init, task, model, data, train, eval, seed, checkpointEvery/);
    expect(errorOf(() => sft(['lr=0.1']))).toMatch(/unknown key "lr" \(did you mean "train\.lr"\?\)/);
  });

  it('a wrong type names the key, the value and the expected type', () => {
    expect(errorOf(() => sft(['train.lr=abc']))).toBe('invalid config: train.lr: expected a number in (0, 1], got "abc" (a string) [from --set train.lr=abc]');
    expect(errorOf(() => sft([], { train: { steps: '100' } }))).toBe(
      'invalid config: train.steps: expected an integer ≥ 1, got "100" (a string) [from test.json]',
    );
    expect(errorOf(() => sft(['rollout=1']))).toMatch(/unknown key "rollout"/);
    expect(errorOf(() => sft(['model=3']))).toMatch(/model: expected an object, got 3 \(a number\)/);
    expect(errorOf(() => rl(['rollout.filter.enabled=yes']))).toMatch(/rollout\.filter\.enabled: expected true or false, got "yes" \(a string\)/);
  });

  it('an out-of-range value names the key, the value and the range', () => {
    expect(errorOf(() => sft(['train.lr=5']))).toBe('invalid config: train.lr: 5 is out of range: must be a number in (0, 1] [from --set train.lr=5]');
    expect(errorOf(() => sft(['train.lr=0']))).toMatch(/train\.lr: 0 is out of range: must be a number in \(0, 1\]/);
    expect(errorOf(() => sft(['seed=-1']))).toMatch(/seed: -1 is out of range: must be an integer in \[0, 4294967295\]/);
    expect(errorOf(() => sft(['train.steps=2.5']))).toMatch(/train\.steps: 2\.5 is not an integer: must be an integer ≥ 1/);
    expect(errorOf(() => sft(['task.difficulty.steps=100']))).toMatch(
      /task\.difficulty\.steps: 100 is out of range: must be an integer in \[1, 64\] \(operations per problem/,
    );
  });

  it('a bad enum value lists the allowed values (and the closest one)', () => {
    expect(errorOf(() => rl(['algorithm=gpro']))).toBe(
      'invalid config: algorithm: "gpro" is not one of "grpo", "dr-grpo", "rloo", "reinforce++", "reinforce++-baseline", "ppo" (did you mean "grpo"?) [from --set algorithm=gpro]',
    );
    expect(errorOf(() => rl(['loss.kl.estimator=k4']))).toMatch(/loss\.kl\.estimator: "k4" is not one of "k1", "k2", "k3", "abs"/);
    expect(errorOf(() => rl(['loss.kl.placement=both']))).toMatch(/"both" is not one of "reward", "loss"/);
    expect(errorOf(() => rl(['loss.aggregation=mean']))).toMatch(/"mean" is not one of "token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"/);
    expect(errorOf(() => sft(['task.name=arith']))).toBe(
      'invalid config: task.name: "arith" is not a known task (did you mean "arith-chain"?); known tasks: arith-chain, add-carry [from --set task.name=arith]',
    );
    expect(errorOf(() => sft(['task.difficulty.stpes=3']))).toMatch(/task\.difficulty\.stpes: unknown difficulty knob of arith-chain \(did you mean "steps"\?\); its knobs: steps, range/);
  });

  it('a malformed --set', () => {
    expect(errorOf(() => sft(['train.lr']))).toBe('invalid --set: malformed --set "train.lr": no "="; expected key.path=value, e.g. --set train.lr=0.001');
    expect(errorOf(() => sft(['=3']))).toMatch(/malformed --set "=3": no key before "="/);
    expect(errorOf(() => sft(['train..lr=3']))).toMatch(/malformed --set "train\.\.lr=3": empty segment in the key "train\.\.lr"/);
    expect(errorOf(() => sft(['model.dModel.x=1']))).toMatch(/model\.dModel\.x: "model\.dModel" is an integer, it has no key "x"/);
    expect(() => parseSet(sftSchema, 'seed=3')).not.toThrow();
  });

  it('a missing required key', () => {
    expect(errorOf(() => resolveConfig(rlSchema))).toBe(
      'invalid config: init: is required (the starting policy: an SFT run directory (its latest checkpoint) or a checkpoint directory)',
    );
    expect(errorOf(() => resolveConfig<EvalConfig>(experiments.eval.schema))).toMatch(/checkpoint: is required/);
  });

  it('cross-field rules', () => {
    expect(errorOf(() => sft(['model.nHeads=3']))).toMatch(/model\.nHeads: 3 must divide dModel \(64\)/);
    expect(errorOf(() => sft(['data.source=jsonl']))).toMatch(/data\.path: is required when data\.source is "jsonl"/);
    expect(errorOf(() => sft(['data.path=x.jsonl']))).toMatch(/data\.path: is only read when data\.source is "jsonl"/);
    expect(errorOf(() => sft(['train.microBatchSize=5']))).toMatch(/train\.microBatchSize: 5 must divide train\.batchSize \(32\) exactly/);
    expect(errorOf(() => sft(['train.steps=10']))).toMatch(/train\.warmup: 20 warmup steps leave nothing to decay: a cosine schedule needs warmup < train\.steps \(10\)/);
    expect(sft(['train.steps=10', 'train.schedule=constant']).train.steps).toBe(10);
    expect(errorOf(() => rl(['rollout.k=1']))).toMatch(/rollout\.k: 1 sample per prompt leaves grpo no group baseline: use k ≥ 2/);
    expect(rl(['rollout.k=1', 'algorithm=reinforce++']).rollout.k).toBe(1);
    expect(errorOf(() => rl(['rollout.filter.enabled=true', 'rollout.filter.low=0.9', 'rollout.filter.high=0.1']))).toMatch(
      /rollout\.filter\.low: 0\.9 is above rollout\.filter\.high \(0\.1\)/,
    );
    expect(errorOf(() => rl(['optim.miniBatches=3']))).toMatch(/optim\.miniBatches: 3 must divide the rollout batch \(promptsPerStep × k = 128\)/);
  });

  it('reports every problem at once, each with where it came from', () => {
    const message = errorOf(() => sft(['train.lr=5', 'model.norm=batch'], { seed: 'x' }));
    expect(message).toBe(
      [
        'invalid config (3 problems):',
        '  model.norm: "batch" is not one of "rms", "layer" [from --set model.norm=batch]',
        '  train.lr: 5 is out of range: must be a number in (0, 1] [from --set train.lr=5]',
        '  seed: expected an integer in [0, 4294967295], got "x" (a string) [from test.json]',
      ].join('\n'),
    );
  });

  it('a config file that is not JSON, not an object, or missing', async () => {
    expect(errorOf(() => parseJsonText('{\n  "seed": 1,\n}', 'bad.json'))).toMatch(/^bad\.json: invalid JSON: .*line 3 column 1/);
    expect(errorOf(() => sft([], [1, 2]))).toBe('test.json: the file must hold a JSON object, got [1,2]');
    const dir = await mkdtemp(join(tmpdir(), 'repirl-config-'));
    await expect(readConfigFile(join(dir, 'missing.json'))).rejects.toThrow(/missing\.json: cannot read the config file: no such file/);
    await writeFile(join(dir, 'c.json'), '{"seed": 7}');
    expect(sft([], (await readConfigFile(join(dir, 'c.json'))).value).seed).toBe(7);
  });
});

describe('repirl config docs', () => {
  it('lists every key with its default, allowed values and doc', () => {
    const text = formatSchemaDocs('repirl rl', rlSchema);
    for (const path of leafPaths(rlSchema)) expect(text).toContain(`  ${path} `);
    expect(text).toMatch(/init\s+\(required\)\s+the starting policy/);
    expect(text).toMatch(/algorithm\s+"grpo"\s+advantage estimator and trainer \[one of "grpo", "dr-grpo"/);
    expect(text).toMatch(/loss\.kl\.estimator\s+"k3"/);
  });
});
