import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  closest, ConfigError, configDiff, defaultsOf, editDistance, experiments, formatSchemaDocs, leafPaths, parseJsonText, parseSet, prmTrainSchema, prmTttSchema, readConfigFile,
  resolveConfig, rlSchema, s, schemaOf, sftSchema, validate, type EvalConfig, type Infer, type RlConfig, type SftConfig,
} from '../src/config/index.js';
import { configCommand } from '../src/commands/config.js';
import { RL_ALGORITHMS, choose, only, resolveRlConfig, resolveSftConfig, rlTrainerSchema, sftTrainerSchema, withDefaults } from '@repirl/rl';
import { resolveAirlConfig, resolveImplicitOfflineConfig, resolveOrmConfig, resolvePrimeConfig, resolveRepirlConfig, resolveShepherdConfig } from '@repirl/prm';

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
    expect(c.data).toEqual({
      source: 'task-expert', errorRate: 0.2, problems: 2000, path: null,
      train: null, validation: null, test: null, fractions: { validation: 0.1, test: 0.1 }, format: 'auto', layout: 'auto', columns: {}, steps: 'lines',
    });
    expect(c.verifier).toEqual({ rule: 'auto', percent: 'auto', relTol: 0, module: null });
    expect(c.microBatchSize).toBe(0);
    expect(c.task).toEqual({ name: 'arith-chain', difficulty: {} });
  });

  it('fills in the task difficulty after validation', () => {
    expect(experiments.sft.finalize(sft()).task.difficulty).toEqual({ steps: 4, range: 20 });
    const c = experiments.sft.finalize(sft(['task.name=add-carry', 'task.difficulty.digits=5']));
    expect(c.task.difficulty).toEqual({ digits: 5, addends: 2 });
  });

  it('merges a file over the defaults key by key; "//" keys are comments', () => {
    const c = sft([], { '//': 'a comment', model: { dModel: 32, nHeads: 2, '//': 'another' }, steps: 50, optim: { warmupSteps: 5 } });
    expect(c.model.dModel).toBe(32);
    expect(c.model.nLayers).toBe(2);
    expect(c).toMatchObject({ steps: 50, batchSize: 32, optim: { warmupSteps: 5, lr: 0.001 } });
  });

  it('applies --set after the file, in order, parsing JSON values', () => {
    const c = sft(['steps=70', 'optim.lr=3e-4', 'microBatchSize=8', 'model.norm=layer', 'steps=80'], { steps: 50 });
    expect(c.steps).toBe(80);
    expect(c.optim.lr).toBe(3e-4);
    expect(c.microBatchSize).toBe(8);
    expect(c.model.norm).toBe('layer');
    expect(sft(['microBatchSize=8', 'microBatchSize=0']).microBatchSize).toBe(0);
    expect(rl(['filter.enabled=true']).filter.enabled).toBe(true);
  });

  it('takes a --set value that is not JSON as text, and keeps text for string keys', () => {
    expect(sft(['task.name=add-carry']).task.name).toBe('add-carry');
    expect(sft(['data.source=jsonl', 'data.path=123']).data.path).toBe('123');
    expect(sft(['data.source=jsonl', 'data.path=data/train.jsonl']).data.path).toBe('data/train.jsonl');
  });

  it('merges an object --set into the object at its key', () => {
    const c = sft(['optim={"warmupSteps":4,"lr":0.01}']);
    expect(c.optim).toMatchObject({ warmupSteps: 4, lr: 0.01, schedule: 'cosine', weightDecay: 0.01 });
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
    expect(sftConfig.steps * sftConfig.batchSize).toBeLessThanOrEqual(20_000);
    expect(rlConfig.steps * rlConfig.rollout.promptsPerStep * rlConfig.rollout.k).toBeLessThanOrEqual(10_000);
  });

  it('resolves every shipped config against the schema its name says (sft-*, grpo-*, prm-*, ttt-*)', async () => {
    const schemas = { sft: sftSchema, grpo: rlSchema, prm: prmTrainSchema, ttt: prmTttSchema } as const;
    const files = (await readdir(configsDir)).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const name of files) {
      const kind = name.split('-')[0] as keyof typeof schemas;
      expect(Object.keys(schemas), `${name}: no schema for the prefix "${kind}"`).toContain(kind);
      const file = await readConfigFile(join(configsDir, name));
      // The PRM configs leave `init` (the SFT run to start from) to --set, as the README's commands do.
      // The TTT configs leave `prm` (the PRM run) to --set.
      const sets = kind === 'prm' ? ['init=runs/sft'] : kind === 'ttt' ? ['prm=runs/prm'] : [];
      expect(() => resolveConfig(schemas[kind], { file, sets }), name).not.toThrow();
    }
  });

  it('diffs configs leaf by leaf', () => {
    const a = sft();
    const b = sft(['steps=900', 'model.dModel=32', 'model.nHeads=2']);
    expect(configDiff(a, b)).toEqual(['model.dModel', 'model.nHeads', 'steps']);
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
    expect(errorOf(() => sft([], { optm: { lr: 3 } }))).toMatch(/optm: unknown key \(did you mean "optim"\?\); valid keys: init, task, model, template, data, verifier, seed, steps, batchSize, microBatchSize, maxSkippedSteps, optim, validation, checkpoint/);
    // A key at the wrong level gets its full path suggested.
    expect(errorOf(() => sft([], { lr: 0.1 }))).toMatch(/lr: unknown key \(did you mean "optim\.lr"\?\)/);
    // No suggestion when nothing is close.
    expect(errorOf(() => sft([], { zzzzzz: 1 }))).toMatch(/zzzzzz: unknown key; valid keys: init, task, model/);
  });

  it('an unknown --set key, listing the valid keys at that level', () => {
    expect(errorOf(() => sft(['optim.lrr=0.1']))).toBe(
      'invalid --set: optim.lrr: unknown key "lrr" (did you mean "lr"?); valid keys in "optim": lr, schedule, warmupSteps, minLrRatio, weightDecay, maxGradNorm, beta1, beta2, eps [from --set optim.lrr=0.1]',
    );
    expect(errorOf(() => sft(['train.lr=0.1']))).toMatch(/train\.lr: unknown key "train" \(did you mean "data\.train"\?\); valid keys: init, task, model, template, data, verifier, seed, steps, batchSize, microBatchSize, maxSkippedSteps, optim, validation, checkpoint/);
    expect(errorOf(() => sft(['lr=0.1']))).toMatch(/unknown key "lr" \(did you mean "optim\.lr"\?\)/);
  });

  it('a wrong type names the key, the value and the expected type', () => {
    expect(errorOf(() => sft(['optim.lr=abc']))).toBe('invalid config: optim.lr: expected a number in (0, 1], got "abc" (a string) [from --set optim.lr=abc]');
    expect(errorOf(() => sft([], { steps: '100' }))).toBe(
      'invalid config: steps: expected an integer ≥ 1, got "100" (a string) [from test.json]',
    );
    expect(errorOf(() => sft(['rollout=1']))).toMatch(/unknown key "rollout"/);
    expect(errorOf(() => sft(['model=3']))).toMatch(/model: expected an object, got 3 \(a number\)/);
    expect(errorOf(() => rl(['filter.enabled=yes']))).toMatch(/filter\.enabled: expected true or false, got "yes" \(a string\)/);
  });

  it('an out-of-range value names the key, the value and the range', () => {
    expect(errorOf(() => sft(['optim.lr=5']))).toBe('invalid config: optim.lr: 5 is out of range: must be a number in (0, 1] [from --set optim.lr=5]');
    expect(errorOf(() => sft(['optim.lr=0']))).toMatch(/optim\.lr: 0 is out of range: must be a number in \(0, 1\]/);
    expect(errorOf(() => sft(['seed=-1']))).toMatch(/seed: -1 is out of range: must be an integer in \[0, 4294967295\]/);
    expect(errorOf(() => sft(['steps=2.5']))).toMatch(/steps: 2\.5 is not an integer: must be an integer ≥ 1/);
    expect(errorOf(() => sft(['task.difficulty.steps=100']))).toMatch(
      /task\.difficulty\.steps: 100 is out of range: must be an integer in \[1, 64\] \(operations per problem/,
    );
  });

  it('a bad enum value lists the allowed values (and the closest one)', () => {
    expect(errorOf(() => rl(['algorithm=gpro']))).toBe(
      'invalid config: algorithm: "gpro" is not one of "grpo", "dr-grpo", "rloo", "reinforce++", "reinforce++-baseline", "ppo" (did you mean "grpo"?) [from --set algorithm=gpro]',
    );
    expect(errorOf(() => rl(['kl.estimator=k4']))).toMatch(/kl\.estimator: "k4" is not one of "k1", "k2", "k3", "abs"/);
    expect(errorOf(() => rl(['kl.placement=both']))).toMatch(/"both" is not one of "loss", "reward"/);
    expect(errorOf(() => rl(['actor.aggregation=mean']))).toMatch(/"mean" is not one of "token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"/);
    expect(errorOf(() => sft(['task.name=arith']))).toBe(
      'invalid config: task.name: "arith" is not a known task (did you mean "arith-chain"?); known tasks: arith-chain, add-carry [from --set task.name=arith]',
    );
    expect(errorOf(() => sft(['task.difficulty.stpes=3']))).toMatch(/task\.difficulty\.stpes: unknown difficulty knob of arith-chain \(did you mean "steps"\?\); its knobs: steps, range/);
  });

  it('a malformed --set', () => {
    expect(errorOf(() => sft(['optim.lr']))).toBe('invalid --set: malformed --set "optim.lr": no "="; expected key.path=value, e.g. --set steps=100');
    expect(errorOf(() => sft(['=3']))).toMatch(/malformed --set "=3": no key before "="/);
    expect(errorOf(() => sft(['optim..lr=3']))).toMatch(/malformed --set "optim\.\.lr=3": empty segment in the key "optim\.\.lr"/);
    expect(errorOf(() => sft(['model.dModel.x=1']))).toMatch(/model\.dModel\.x: "model\.dModel" is an integer, it has no key "x"/);
    expect(() => parseSet(sftSchema, 'seed=3')).not.toThrow();
  });

  it('a missing required key', () => {
    expect(errorOf(() => resolveConfig(rlSchema))).toBe(
      'invalid config: init: is required: the starting policy is init=CHECKPOINT (a repirl run or checkpoint directory) or model=DIR (a Hugging Face model directory)',
    );
    expect(errorOf(() => resolveConfig<EvalConfig>(experiments.eval.schema))).toMatch(/checkpoint: is required/);
  });

  it('cross-field rules', () => {
    expect(errorOf(() => sft(['model.nHeads=3']))).toMatch(/model\.nHeads: 3 must divide dModel \(64\)/);
    expect(errorOf(() => sft(['data.source=jsonl']))).toMatch(/data\.path: is required when data\.source is "jsonl"/);
    expect(errorOf(() => sft(['data.path=x.jsonl']))).toMatch(/data\.path: is only read when data\.source is "jsonl"/);
    // A dModel whose head size the attention kernel cannot run is refused before anything starts.
    expect(errorOf(() => sft(['model.dModel=32']))).toMatch(/model\.nHeads: gives a head size dModel \/ nHeads = 32 \/ 4 = 8; the attention kernel needs a multiple of 4 in 16\.\.\d+ \(e\.g\. nHeads = 2\)/);
    // A warmup as long as the run is used as it is, with a note (not refused).
    const notes: string[] = [];
    expect(resolveConfig<SftConfig>(sftSchema, { sets: ['steps=2'], notes }).steps).toBe(2);
    expect(notes).toEqual(['optim.warmupSteps: 20 warmup steps ≥ steps (2): the whole run warms up (the learning rate never reaches its peak and never decays)']);
    expect(errorOf(() => rl(['rollout.k=1']))).toMatch(/rollout\.k: 1 sample per prompt leaves grpo no group baseline: use k ≥ 2/);
    expect(rl(['rollout.k=1', 'algorithm=reinforce++']).rollout.k).toBe(1);
    expect(errorOf(() => rl(['filter.enabled=true', 'filter.low=0.9', 'filter.high=0.1']))).toMatch(
      /filter\.low: 0\.9 is above filter\.high \(0\.1\)/,
    );
    expect(errorOf(() => rl(['actor.miniBatches=300']))).toMatch(/actor\.miniBatches: 300 exceeds the samples per step \(rollout\.promptsPerStep × rollout\.k = 128\)/);
  });

  it('reports every problem at once, each with where it came from', () => {
    const message = errorOf(() => sft(['optim.lr=5', 'model.norm=batch'], { seed: 'x' }));
    expect(message).toBe(
      [
        'invalid config (3 problems):',
        '  model.norm: "batch" is not one of "rms", "layer" [from --set model.norm=batch]',
        '  seed: expected an integer in [0, 4294967295], got "x" (a string) [from test.json]',
        '  optim.lr: 5 is out of range: must be a number in (0, 1] [from --set optim.lr=5]',
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
    const schema = schemaOf(rlSchema);
    const text = formatSchemaDocs('repirl rl', schema);
    for (const path of leafPaths(schema)) expect(text).toContain(`  ${path} `);
    expect(text).toMatch(/init\s+null\s+the starting policy/);
    expect(text).toMatch(/model\s+null\s+a Hugging Face model directory/);
    expect(text).toMatch(/algorithm\s+"grpo"\s+a preset of the defaults below .*\[one of "grpo", "dr-grpo"/);
    expect(text).toMatch(/kl\.estimator\s+"k3"/);
  });
});

describe('one declaration per key: `repirl config` prints what the library resolves', () => {
  /** The defaults `repirl config <name> [--set …] --json` prints. */
  async function printed(name: string, sets: string[] = []): Promise<Record<string, unknown>> {
    let out = '';
    const io = { print: (text: string) => void (out += text), stderr: () => {}, isTTY: false, columns: 80, env: {}, clock: () => 0, now: () => 0 } as never;
    expect(await configCommand([name, ...sets.flatMap((set) => ['--set', set]), '--json'], io)).toBe(0);
    return JSON.parse(out) as Record<string, unknown>;
  }

  it('sft: the SFT trainer resolves the printed defaults to themselves', async () => {
    const cli = await printed('sft');
    expect(only(sftTrainerSchema, cli)).toEqual(resolveSftConfig({}));
  });

  it.each(RL_ALGORITHMS)('rl --set algorithm=%s: the RL trainer gets the preset the library declares', async (algorithm) => {
    const cli = await printed('rl', [`algorithm=${algorithm}`]);
    expect(only(rlTrainerSchema, cli)).toEqual(resolveRlConfig({ algorithm }));
  });

  it('rl: PPO from the command line gets λ = 0.95, critic lr 3e-4 and value clip 0.5 (the drifted defaults are gone)', async () => {
    const cli = await printed('rl', ['algorithm=ppo']);
    expect(cli).toMatchObject({ advantage: { lambda: 0.95 }, critic: { lr: 3e-4, valueClip: 0.5 } });
  });

  it.each([
    ['repirl', resolveRepirlConfig],
    ['airl-s', resolveAirlConfig],
    ['prime', resolvePrimeConfig],
  ] as const)('prm train --set method=%s: the learner resolves the printed defaults to themselves', async (method, resolve) => {
    const cli = await printed('prm-train', [`method=${method}`]);
    expect(cli.method).toBe(method);
    const library = resolve({});
    expect(only(rlTrainerSchema, cli.rl)).toEqual(library.rl);
    expect({ ...(cli.prm as object), seed: library.rl.seed }).toEqual(library.prm);
  });

  it.each([
    ['orm', resolveOrmConfig],
    ['shepherd', resolveShepherdConfig],
    ['implicit-offline', resolveImplicitOfflineConfig],
  ] as const)('prm train --set method=%s: the offline learner resolves the printed defaults to themselves', async (method, resolve) => {
    const cli = await printed('prm-train', [`method=${method}`]);
    expect(cli.prm).toEqual(resolve({}));
  });

  it('a method or algorithm that does not exist is refused with a did-you-mean', () => {
    expect(errorOf(() => resolveConfig(prmTrainSchema, { sets: ['init=x', 'method=repril'] }))).toMatch(/method: "repril" is not one of .*\(did you mean "repirl"\?\)/);
    expect(errorOf(() => resolveConfig(prmTrainSchema, { sets: ['init=x', 'method=prime', 'prm.weightMode=uniform'] }))).toMatch(/prm\.weightMode: unknown key/);
  });
});

describe('schema language: composing declarations', () => {
  const base = s.object('a trainer', {
    steps: s.integer('steps', { default: 10, min: 1 }),
    optim: s.object('optimizer', { lr: s.number('lr', { default: 0.1, min: 0 }), eps: s.number('eps', { default: 1e-8, min: 0 }) }),
  });

  it('withDefaults changes defaults, not names or validators; a bad default or path throws', () => {
    const tuned = withDefaults(base, { 'optim.lr': 0.5, steps: 3 });
    expect(defaultsOf(tuned)).toEqual({ steps: 3, optim: { lr: 0.5, eps: 1e-8 } });
    expect(defaultsOf(base)).toEqual({ steps: 10, optim: { lr: 0.1, eps: 1e-8 } });
    expect(validate(tuned, { steps: 0, optim: { lr: 0.5, eps: 0 } })[0]!.path).toBe('steps');
    expect(() => withDefaults(base, { 'optim.beta': 1 })).toThrow(/"optim\.beta" is not a key/);
    expect(() => withDefaults(base, { steps: 0 })).toThrow(/not a valid default of "steps"/);
  });

  it('only keeps the keys a schema declares', () => {
    expect(only(base, { steps: 2, task: 'x', optim: { lr: 1, problems: 3 } })).toEqual({ steps: 2, optim: { lr: 1 } });
  });

  it('a schema chosen by a key the user gave: the last --set wins over the file, objects set whole count too', () => {
    const pick = (given: (path: string) => unknown) => withDefaults(base, { steps: choose(given, 'kind', ['a', 'b'], 'a') === 'a' ? 1 : 2 });
    expect(schemaOf(pick, {}).fields.steps.default).toBe(1);
    expect(schemaOf(pick, { file: { value: { kind: 'b' }, name: 'f' } }).fields.steps.default).toBe(2);
    expect(schemaOf(pick, { file: { value: { kind: 'b' }, name: 'f' }, sets: ['kind=a'] }).fields.steps.default).toBe(1);
    expect(choose((p) => (p === 'x.y' ? 'b' : undefined), 'x.y', ['a', 'b'], 'a')).toBe('b');
    expect(() => schemaOf(pick, { sets: ['kind=c'] })).toThrow(/kind: "c" is not one of "a", "b"/);
  });
});
