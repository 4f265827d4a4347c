// Faults of issue 12 in loading weights: each must be refused with a message that names the file
// and the tensor, instead of training on NaN weights or printing "unknown dtype undefined".
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend, DecoderLM, checkFinite, loadCheckpoint, loadSafetensors, saveCheckpoint, saveSafetensors, type TensorInput } from '../src/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'repirl-autograd-faults-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cpu = new CpuBackend();
const config = { vocabSize: 11, dModel: 16, nLayers: 1, nHeads: 1, dFF: 16, maxSeqLen: 8 };

describe('checkpoints with non-finite weights', () => {
  it('are refused on load, naming the file, the tensor, the first bad element and the count', async () => {
    const tensors = await new DecoderLM(cpu, config, { seed: 1 }).stateDict();
    const qkv = tensors['blocks.0.attn.qkv.weight']!;
    qkv.data[5] = Number.NaN;
    qkv.data[9] = Number.POSITIVE_INFINITY;
    await saveCheckpoint(dir, { tensors, config: {} }, { name: 'nan' });
    const path = join(dir, 'nan.safetensors');
    await expect(loadCheckpoint(dir, { name: 'nan' })).rejects.toThrow(
      `${path}: tensor 'blocks.0.attn.qkv.weight' (F32 [16, 48]) holds 2 non-finite values, the first NaN at element 5: ` +
        'these weights come from a diverged run or a damaged file; use an earlier checkpoint',
    );
    // Asked for explicitly, they load as they are.
    const loaded = await loadCheckpoint(dir, { name: 'nan', allowNonFinite: true });
    expect(Number.isNaN(loaded.tensors['blocks.0.attn.qkv.weight']!.data[5])).toBe(true);
    expect(loaded.path).toBe(path);
  });

  it('are found in F16, BF16 and F64 too; integer tensors are not checked', () => {
    const cases: [Record<string, TensorInput>, RegExp][] = [
      [{ h: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0x7c00, 0x7e00]) } }, /tensor 'h' \(F16 \[3\]\) holds 2 non-finite values, the first Infinity at element 1/],
      [{ b: { dtype: 'BF16', shape: [2], data: new Float32Array([1, -Infinity]) } }, /tensor 'b' \(BF16 \[2\]\) holds 1 non-finite value, the first -Infinity at element 1/],
      [{ d: { dtype: 'F64', shape: [1, 2], data: new Float64Array([NaN, 0]) } }, /tensor 'd' \(F64 \[1, 2\]\) holds 1 non-finite value, the first NaN at element 0/],
    ];
    for (const [input, message] of cases) {
      const decoded = Object.fromEntries(Object.entries(input).map(([name, t]) => [name, { ...t, shape: [...t.shape], data: t.data }])) as never;
      expect(() => checkFinite(decoded, { source: 'x.safetensors' })).toThrow(message);
    }
    expect(() => checkFinite({ i: { dtype: 'I32', shape: [1], data: new Int32Array([7]) } })).not.toThrow();
  });
});

describe('safetensors headers with a bad dtype', () => {
  /** A one-tensor file whose header entry for 'w' is `entry` (the data is 8 bytes). */
  async function fileWith(name: string, entry: string): Promise<string> {
    const path = join(dir, name);
    await saveSafetensors(path, { w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
    const bytes = await readFile(path);
    const header = bytes.subarray(8, bytes.length - 8).toString('utf8');
    const replaced = header.replace('{"dtype":"F32","shape":[2],"data_offsets":[0,8]}', entry).padEnd(header.length, ' ');
    expect(replaced.length).toBe(header.length);
    await writeFile(path, Buffer.concat([bytes.subarray(0, 8), Buffer.from(replaced), bytes.subarray(bytes.length - 8)]));
    return path;
  }

  it('say the dtype is missing, not "unknown dtype undefined", naming the file and the tensor', async () => {
    const path = await fileWith('no-dtype.safetensors', '{"shape":[2],"data_offsets":[0,8]}');
    await expect(loadSafetensors(path)).rejects.toThrow(`${path}: tensor 'w': has no dtype; safetensors dtypes are BOOL, U8,`);
    const numeric = await fileWith('numeric-dtype.safetensors', '{"dtype":32,"shape":[2],"data_offsets":[0,8]}');
    await expect(loadSafetensors(numeric)).rejects.toThrow(`${numeric}: tensor 'w': dtype must be a string, got 32; safetensors dtypes are`);
  });

  it('on save too', async () => {
    const bad = { w: { shape: [1], data: new Float32Array(1) } } as unknown as Record<string, TensorInput>;
    await expect(saveSafetensors(join(dir, 'bad.safetensors'), bad)).rejects.toThrow("tensor 'w': has no dtype; use one of BOOL,");
  });
});

describe('loadStateDict with tensors of the wrong shape', () => {
  it('names the file they came from', async () => {
    await saveCheckpoint(dir, { tensors: await new DecoderLM(cpu, config, { seed: 1 }).stateDict(), config: {} }, { name: 'narrow' });
    const { tensors, path } = await loadCheckpoint(dir, { name: 'narrow' });
    const wider = new DecoderLM(cpu, { ...config, dFF: 32 }, { empty: true });
    expect(() => wider.loadStateDict(tensors, { source: path })).toThrow(
      new RegExp(`^${path}: loadStateDict into a DecoderLM: tensor 'blocks\\.0\\.mlp\\.gate\\.weight' has shape \\[16, 16\\] but the model expects \\[16, 32\\]`),
    );
  });
});
