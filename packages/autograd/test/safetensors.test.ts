import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '@repirl/kernels/testing';
import { stageFile, writeFileAtomic } from '../src/io/atomic.js';
import {
  CHECKPOINT_ID_KEY, SAFETENSORS_DTYPES, checkTensors, decodeSafetensors, encodeSafetensors, float16BitsToFloat32,
  float32ToBfloat16Bits, float32ToFloat16Bits, fromBf16Bits, fromF16Bits, int64ToInt32, loadCheckpoint, loadSafetensors,
  loadSafetensorsChecked, saveCheckpoint, saveSafetensors, tensorToFloat32, toBf16Bits, toF16Bits, type TensorInput,
} from '../src/io/safetensors.js';

const rng = new SeededRandom(5);
let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'repirl-safetensors-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
async function freshDir(): Promise<string> {
  const dir = join(root, `case-${counter++}`);
  await mkdir(dir);
  return dir;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const u64le = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
/** A file built straight from the spec (no encoder involved): length, header text as given, data. */
const rawFile = (header: string, data: number[] | Uint8Array) => concat(u64le(utf8(header).length), utf8(header), Uint8Array.from(data));

// The golden file. Header and data bytes written out by hand from the format description; the
// reference implementation (huggingface safetensors 0.8.0, `safetensors.numpy.save` of the same
// four arrays with metadata {"format": "pt"}) produced exactly these 284 bytes when this test was
// written. Tensors go larger element size first (I64, F32, F16, BOOL); the header is 250 bytes of
// JSON plus 6 spaces, so N = 256 and the data section starts 8-byte aligned.
const GOLDEN_HEADER =
  '{"__metadata__":{"format":"pt"},' +
  '"b":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
  '"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
  '"h":{"dtype":"F16","shape":[1],"data_offsets":[16,18]},' +
  '"m":{"dtype":"BOOL","shape":[2],"data_offsets":[18,20]}}';
const GOLDEN = concat(
  Uint8Array.of(0x00, 0x01, 0, 0, 0, 0, 0, 0), // N = 256, little-endian u64
  utf8(GOLDEN_HEADER + '      '),
  Uint8Array.of(
    0x03, 0, 0, 0, 0, 0, 0, 0, // b: int64 3
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, // a: float32 1.0, -2.5
    0x00, 0x3c, // h: float16 1.0
    0x01, 0x00, // m: true, false
  ),
);
const goldenTensors = (): Record<string, TensorInput> => ({
  a: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2.5]) },
  b: { dtype: 'I64', shape: [1], data: new BigInt64Array([3n]) },
  h: { dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) },
  m: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
});

describe('safetensors format', () => {
  it('writes exactly the bytes of the hand-built golden file and reads them back', () => {
    expect(utf8(GOLDEN_HEADER).length).toBe(250);
    expect(GOLDEN.length).toBe(284);
    expect(encodeSafetensors(goldenTensors(), { format: 'pt' })).toEqual(GOLDEN);

    const { tensors, metadata } = decodeSafetensors(GOLDEN);
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors)).toEqual(['b', 'a', 'h', 'm']); // file order
    expect(tensors.a).toEqual({ dtype: 'F32', shape: [2], data: new Float32Array([1, -2.5]) });
    expect(tensors.b).toEqual({ dtype: 'I64', shape: [1], data: new BigInt64Array([3n]) });
    expect(tensors.h).toEqual({ dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) });
    expect(tensors.m).toEqual({ dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) });
  });

  it('reads files from writers that neither pad the header nor align the data', () => {
    // 106-byte header (not a multiple of 8), and the float32 starts at data byte 3.
    const file = rawFile('{"u":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"f":{"dtype":"F32","shape":[1],"data_offsets":[3,7]}}', [1, 2, 3, 0x00, 0x00, 0x00, 0x3f]);
    expect(file[0]).toBe(106);
    const { tensors, metadata } = decodeSafetensors(file);
    expect(metadata).toEqual({});
    expect(tensors.u!.data).toEqual(new Uint8Array([1, 2, 3]));
    expect(tensors.f!.data).toEqual(new Float32Array([0.5]));
  });

  it('round-trips every dtype, including scalars, empty tensors and awkward shapes', () => {
    const shapes = [[], [0], [7], [3, 5], [2, 0, 3], [1, 13, 1]];
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const make = (dtype: string, n: number): TensorInput['data'] => {
      switch (dtype) {
        case 'F64': return Float64Array.from({ length: n }, () => rng.normal());
        case 'F32': return rng.floats(n, -1e6, 1e6);
        case 'F16': return Uint16Array.from({ length: n }, () => rng.int(0, 0xffff)); // any bit pattern, NaNs included
        case 'BF16': return Float32Array.from({ length: n }, () => fromBf16Bits(rng.int(0, 0x7f7f)) * (rng.next() < 0.5 ? -1 : 1));
        case 'I64': return BigInt64Array.from({ length: n }, () => BigInt(rng.int(-1e9, 1e9)) * 9_000_000_000n + 1n);
        case 'U64': return BigUint64Array.from({ length: n }, () => BigInt(rng.int(0, 1e9)) * 18_000_000_000n + 7n);
        case 'I32': return rng.ints(n, -2147483648, 2147483647);
        case 'U32': return Uint32Array.from({ length: n }, () => rng.int(0, 0xffffffff));
        case 'I16': return Int16Array.from({ length: n }, () => rng.int(-32768, 32767));
        case 'U16': return Uint16Array.from({ length: n }, () => rng.int(0, 0xffff));
        case 'I8': return Int8Array.from({ length: n }, () => rng.int(-128, 127));
        case 'U8': return Uint8Array.from({ length: n }, () => rng.int(0, 255));
        case 'BOOL': return Uint8Array.from({ length: n }, () => rng.int(0, 1));
        default: throw new Error(dtype);
      }
    };
    const tensors: Record<string, TensorInput> = {};
    for (const dtype of SAFETENSORS_DTYPES) {
      shapes.forEach((shape, i) => {
        tensors[`${dtype.toLowerCase()}.${i}`] = { dtype, shape, data: make(dtype, size(shape)) } as TensorInput;
      });
    }
    const bytes = encodeSafetensors(tensors, { note: 'every dtype' });
    const back = decodeSafetensors(bytes);
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const got = back.tensors[name]!;
      expect(got.dtype, name).toBe(t.dtype);
      expect(got.shape, name).toEqual(t.shape);
      // Compare bits, so NaN patterns and -0 count too.
      const bits = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      expect(bits(got.data), name).toEqual(bits(t.data));
    }
    // A decoded file encodes to the same bytes (BF16 goes float32 → bits losslessly).
    expect(encodeSafetensors(back.tensors, back.metadata)).toEqual(bytes);
  });

  it('converts float32 input to F16/BF16 and Int32Array input to I64 when writing', () => {
    const values = new Float32Array([1, -2, 0.1, 65519, 1e-7, -0, Infinity]);
    const file = decodeSafetensors(encodeSafetensors({
      h: { dtype: 'F16', shape: [7], data: values },
      b: { dtype: 'BF16', shape: [7], data: values },
      raw: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc0a0]) }, // bits: 1, -5
      ids: { dtype: 'I64', shape: [3], data: new Int32Array([0, -1, 2147483647]) },
    }));
    expect(file.tensors.h!.data).toEqual(float32ToFloat16Bits(values));
    expect(tensorToFloat32(file.tensors.h!)).toEqual(new Float32Array([1, -2, fromF16Bits(0x2e66), 65504, fromF16Bits(0x0002), -0, Infinity]));
    expect(file.tensors.b!.data).toEqual(new Float32Array([1, -2, fromBf16Bits(0x3dcd), 65536, fromBf16Bits(0x33d7), -0, Infinity]));
    expect(file.tensors.raw!.data).toEqual(new Float32Array([1, -5]));
    expect(file.tensors.ids!.data).toEqual(new BigInt64Array([0n, -1n, 2147483647n]));
    expect(int64ToInt32(file.tensors.ids!.data as BigInt64Array)).toEqual(new Int32Array([0, -1, 2147483647]));
    expect(() => int64ToInt32(new BigInt64Array([1n, 2147483648n]), 'ids')).toThrow('ids: element 1 = 2147483648 does not fit in int32');
  });

  it('rounds to float16 and bfloat16 to nearest, ties to even, straight from the double', () => {
    const f16: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [-0, 0x8000], [1 / 3, 0x3555], [65504, 0x7bff], [65519.99, 0x7bff],
      [65520, 0x7c00], [Infinity, 0x7c00], [-Infinity, 0xfc00], [2 ** -24, 0x0001], [2 ** -14, 0x0400],
      [2 ** -25, 0x0000], [2 ** -25 * 1.5, 0x0001], [3 * 2 ** -25, 0x0002], [2 ** -14 - 2 ** -25, 0x0400],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02],
      // Just above a halfway point: rounding through float32 first would land on the tie and round down.
      [1 + 2 ** -11 + 2 ** -40, 0x3c01],
    ];
    for (const [x, bits] of f16) expect(toF16Bits(x), `toF16Bits(${x})`).toBe(bits);
    expect(toF16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(Number.isNaN(fromF16Bits(toF16Bits(NaN)))).toBe(true);

    const bf16: [number, number][] = [
      [1, 0x3f80], [-1, 0xbf80], [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82], [1 + 2 ** -8 + 2 ** -30, 0x3f81],
      [3.4028234663852886e38, 0x7f80], [2 ** -133, 0x0001], [2 ** -126, 0x0080], [Infinity, 0x7f80],
    ];
    for (const [x, bits] of bf16) expect(toBf16Bits(x), `toBf16Bits(${x})`).toBe(bits);

    // Every non-NaN bit pattern survives bits → value → bits; bf16 values equal the float32 upper halves.
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    for (let bits = 0; bits < 0x10000; bits++) {
      const h = fromF16Bits(bits);
      if (!Number.isNaN(h) && toF16Bits(h) !== bits) throw new Error(`f16 ${bits.toString(16)} → ${h} → ${toF16Bits(h).toString(16)}`);
      const b = fromBf16Bits(bits);
      u32[0] = bits << 16;
      if (!Number.isNaN(b) && (toBf16Bits(b) !== bits || !Object.is(f32[0], b))) throw new Error(`bf16 ${bits.toString(16)} → ${b}`);
    }
    expect(float16BitsToFloat32(new Uint16Array([0x3c00, 0xfc00]))).toEqual(new Float32Array([1, -Infinity]));
    expect(float32ToBfloat16Bits(new Float32Array([1, -2]))).toEqual(new Uint16Array([0x3f80, 0xc000]));
  });
});

describe('safetensors validation', () => {
  const ok = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const eight = [0, 0, 128, 63, 0, 0, 0, 64];

  it('reports a truncated file with the expected and actual sizes', () => {
    expect(() => decodeSafetensors(GOLDEN.subarray(0, 5))).toThrow('truncated file: it has 5 bytes, but a safetensors file starts with an 8-byte header length');
    expect(() => decodeSafetensors(GOLDEN.subarray(0, 100))).toThrow('truncated file: the header alone needs 264 bytes (8 + 256), but the file has 100 bytes');
    expect(() => decodeSafetensors(GOLDEN.subarray(0, 280))).toThrow("truncated file: tensor 'm' ends at byte 20 of the data section, so the file should have 284 bytes, but it has 280");
    expect(() => decodeSafetensors(GOLDEN.subarray(0, 280), { source: 'model.safetensors' })).toThrow(/^model\.safetensors: truncated file/);
  });

  it('rejects a corrupt header', () => {
    expect(() => decodeSafetensors(rawFile(ok.replace('"shape"', 'shape'), eight))).toThrow(/corrupt header: invalid JSON/);
    expect(() => decodeSafetensors(rawFile('[1, 2]', eight))).toThrow("corrupt header: it must be a JSON object starting with '{'");
    expect(() => decodeSafetensors(rawFile('{"w": 5}', eight))).toThrow("tensor 'w': header entry must be { dtype, shape, data_offsets }");
    expect(() => decodeSafetensors(concat(u64le(3), Uint8Array.of(0x7b, 0xff, 0x7d)))).toThrow('corrupt header: it is not valid UTF-8');
    expect(() => decodeSafetensors(utf8('{"config": "this is a JSON file"}'))).toThrow(/^not a safetensors file: its first 8 bytes \(7b 22 63 6f 6e 66 69 67\)/);
    expect(() => decodeSafetensors(rawFile('{"__metadata__":{"step":5}}', []))).toThrow("corrupt header: __metadata__['step'] must be a string");
  });

  it('names the tensor whose dtype, shape or offsets are wrong', () => {
    const w = (entry: string, data = eight) => () => decodeSafetensors(rawFile(`{"w":${entry}}`, data));
    expect(w('{"dtype":"F33","shape":[2],"data_offsets":[0,8]}')).toThrow(`tensor 'w': unknown dtype "F33"; safetensors dtypes are BOOL, U8`);
    expect(w('{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}')).toThrow("tensor 'w': dtype F8_E4M3 is valid safetensors but not supported here");
    expect(w('{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}')).toThrow("tensor 'w': shape must be an array of non-negative integers, got [-2]");
    expect(w('{"dtype":"F32","shape":[3],"data_offsets":[0,8]}')).toThrow("tensor 'w': data_offsets [0, 8] hold 8 bytes, but shape [3] of F32 needs 12");
    expect(w('{"dtype":"F32","shape":[2],"data_offsets":[8,0]}')).toThrow("tensor 'w': data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got [8,0]");
    expect(w('{"dtype":"F32","shape":[2],"data_offsets":[8,16]}', [...eight, ...eight])).toThrow("tensor 'w': bytes 0..8 of the data section before it belong to no tensor");
    expect(w('{"dtype":"F32","shape":[2],"data_offsets":[1000,1008]}')).toThrow("truncated file: tensor 'w' ends at byte 1008 of the data section, so the file should have 1076 bytes, but it has 76");
    expect(w('{"dtype":"F32","shape":[2],"data_offsets":[0,8]}', [...eight, 1, 2])).toThrow('the file has 2 bytes after the last tensor that belong to no tensor');
    expect(w('{"dtype":"BOOL","shape":[8],"data_offsets":[0,8]}')).toThrow("tensor 'w': BOOL element 2 is 128; BOOL values must be 0 or 1");
    const overlap = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expect(() => decodeSafetensors(rawFile(overlap, eight))).toThrow("tensors 'a' (data_offsets [0, 8]) and 'b' ([4, 8]) overlap");
  });

  it('refuses to encode tensors whose data does not fit their description', () => {
    const enc = (t: unknown, metadata?: unknown) => () => encodeSafetensors(t as Record<string, TensorInput>, metadata as Record<string, string>);
    expect(enc({ w: { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) } })).toThrow("tensor 'w': shape [2, 3] has 6 elements but its data has 5; fix the shape or the data");
    expect(enc({ w: { dtype: 'F32', shape: [2], data: new Float64Array(2) } })).toThrow("tensor 'w': dtype F32 needs Float32Array data, got Float64Array");
    expect(enc({ w: { dtype: 'F16', shape: [2], data: [1, 2] } })).toThrow("tensor 'w': dtype F16 needs Uint16Array (bit patterns) or Float32Array data, got Array");
    expect(enc({ w: { dtype: 'float32', shape: [2], data: new Float32Array(2) } })).toThrow(`tensor 'w': unknown dtype "float32"; use one of`);
    expect(enc({ w: { dtype: 'F32', shape: [1.5], data: new Float32Array(2) } })).toThrow("tensor 'w': shape must be an array of non-negative integers, got [1.5]");
    expect(enc({ m: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 2]) } })).toThrow("tensor 'm': BOOL element 1 is 2");
    expect(enc({ __metadata__: { dtype: 'F32', shape: [0], data: new Float32Array(0) } })).toThrow("'__metadata__' is reserved");
    expect(enc({}, { step: 5 })).toThrow("metadata['step'] must be a string");
  });

  it('checks expected names, shapes and dtypes, listing every difference', () => {
    const tensors = decodeSafetensors(GOLDEN).tensors;
    const expected = { a: { dtype: 'F32', shape: [2] }, b: { dtype: 'I64', shape: [1] }, h: { dtype: 'F16', shape: [1] }, m: { dtype: 'BOOL', shape: [2] } } as const;
    expect(() => checkTensors(tensors, expected)).not.toThrow();
    let message = '';
    try {
      checkTensors(tensors, { a: { dtype: 'F32', shape: [1, 2] }, h: { dtype: 'F32', shape: [1] }, z: { dtype: 'F32', shape: [4] } }, { source: 'ckpt.safetensors' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe([
      'ckpt.safetensors do not match the expected tensors:',
      "  - tensor 'a': expected F32 [1, 2], found F32 [2]",
      "  - tensor 'h': expected F32 [1], found F16 [1]",
      "  - missing tensor 'z' (expected F32 [4])",
      "  - unexpected tensor 'b' (I64 [1]); pass allowExtra: true to ignore extra tensors",
      "  - unexpected tensor 'm' (BOOL [2]); pass allowExtra: true to ignore extra tensors",
    ].join('\n'));
    expect(() => checkTensors(tensors, { a: expected.a }, { allowExtra: true })).not.toThrow();
  });
});

describe('safetensors files', () => {
  const noTempFiles = async (dir: string) => expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);

  it('saves atomically, loads, and checks on load', async () => {
    const dir = await freshDir();
    const path = join(dir, 'w.safetensors');
    await saveSafetensors(path, goldenTensors(), { format: 'pt' });
    expect(new Uint8Array(await readFile(path))).toEqual(GOLDEN);
    expect((await loadSafetensors(path)).tensors.a!.data).toEqual(new Float32Array([1, -2.5]));
    await expect(loadSafetensorsChecked(path, { a: { dtype: 'F32', shape: [2] } }, { allowExtra: true })).resolves.toBeDefined();
    await expect(loadSafetensorsChecked(path, { a: { dtype: 'F32', shape: [3] } }, { allowExtra: true })).rejects.toThrow(`${path} do not match the expected tensors:\n  - tensor 'a': expected F32 [3], found F32 [2]`);
    await expect(loadSafetensors(join(dir, 'nope.safetensors'))).rejects.toThrow(`cannot read ${join(dir, 'nope.safetensors')}: file not found`);
    await noTempFiles(dir);
  });

  it('leaves the previous file byte-identical when a save fails', async () => {
    const dir = await freshDir();
    const path = join(dir, 'w.safetensors');
    await saveSafetensors(path, goldenTensors(), { format: 'pt' });
    // Data that does not match its shape: refused before the disk is touched.
    await expect(saveSafetensors(path, { w: { dtype: 'F32', shape: [4], data: new Float32Array(3) } })).rejects.toThrow("tensor 'w': shape [4] has 4 elements");
    // A failure in the middle of writing (the producer of the bytes dies after the first chunk).
    async function* dying() {
      yield new Uint8Array(1000).fill(7);
      throw new Error('disk on fire');
    }
    await expect(writeFileAtomic(path, dying())).rejects.toThrow(`cannot write ${path}: disk on fire`);
    expect(new Uint8Array(await readFile(path))).toEqual(GOLDEN);
    await noTempFiles(dir);
    // The directory disappears between writing and renaming: nothing is left behind either.
    const gone = join(dir, 'gone');
    await mkdir(gone);
    const staged = await stageFile(join(gone, 'x.safetensors'), GOLDEN);
    await rm(gone, { recursive: true });
    await expect(staged.commit()).rejects.toThrow(`cannot replace ${join(gone, 'x.safetensors')}`);
    // A target that cannot be replaced (a directory of the same name): the temp file is removed.
    await mkdir(join(dir, 'd.safetensors'));
    await expect(saveSafetensors(join(dir, 'd.safetensors'), goldenTensors())).rejects.toThrow(`cannot replace ${join(dir, 'd.safetensors')}`);
    await noTempFiles(dir);
  });
});

describe('checkpoints', () => {
  const tensors = (scale: number): Record<string, TensorInput> => ({
    'embed.weight': { dtype: 'F32', shape: [5, 3], data: Float32Array.from({ length: 15 }, (_, i) => i * scale) },
    'head.bias': { dtype: 'F32', shape: [5], data: new Float32Array(5).fill(scale) },
    step: { dtype: 'I64', shape: [], data: new BigInt64Array([BigInt(scale)]) },
  });
  const config = { vocabSize: 5, dModel: 3, name: 'tiny' };
  const expected = { 'embed.weight': { dtype: 'F32', shape: [5, 3] }, 'head.bias': { dtype: 'F32', shape: [5] }, step: { dtype: 'I64', shape: [] } } as const;

  it('saves and loads a pair, identically and reproducibly', async () => {
    const dir = join(await freshDir(), 'nested', 'ckpt');
    const saved = await saveCheckpoint(dir, { tensors: tensors(1), config, metadata: { run: 'a' } });
    expect(saved.safetensorsPath).toBe(join(dir, 'model.safetensors'));
    const loaded = await loadCheckpoint(dir, { expected });
    expect(loaded.config).toEqual(config);
    expect(loaded.metadata).toEqual({ run: 'a' });
    expect(loaded.id).toBe(saved.id);
    for (const [name, t] of Object.entries(tensors(1))) expect(loaded.tensors[name]).toEqual({ ...t, shape: [...t.shape] });
    // The weights are a plain safetensors file, and the id is a content hash: same content, same bytes.
    expect((await loadSafetensors(saved.safetensorsPath)).metadata[CHECKPOINT_ID_KEY]).toBe(saved.id);
    const first = await readFile(saved.safetensorsPath);
    await saveCheckpoint(dir, { tensors: tensors(1), config, metadata: { run: 'a' } });
    expect(await readFile(saved.safetensorsPath)).toEqual(first);
    await expect(loadCheckpoint(dir, { expected: { ...expected, 'head.bias': { dtype: 'F32', shape: [6] } } })).rejects.toThrow("tensor 'head.bias': expected F32 [6], found F32 [5]");
  });

  it('detects a pair from two different saves (a crash between the two renames)', async () => {
    const a = await freshDir();
    const b = await freshDir();
    await saveCheckpoint(a, { tensors: tensors(1), config });
    await saveCheckpoint(b, { tensors: tensors(2), config });
    // What a crash after renaming the weights but before the config leaves behind: new weights, old config.
    await writeFile(join(a, 'model.safetensors'), await readFile(join(b, 'model.safetensors')));
    await expect(loadCheckpoint(a)).rejects.toThrow(/model\.safetensors \(checkpoint_id [0-9a-f]{12}…\) and model\.json \([0-9a-f]{12}…\) come from different saves\. The last save was probably interrupted/);
  });

  it('detects modified tensor data, truncation, and missing files', async () => {
    const dir = await freshDir();
    await saveCheckpoint(dir, { tensors: tensors(1), config }, { name: 'step-10' });
    const path = join(dir, 'step-10.safetensors');
    const bytes = new Uint8Array(await readFile(path));
    const flipped = bytes.slice();
    flipped[flipped.length - 3]! ^= 1;
    await writeFile(path, flipped);
    await expect(loadCheckpoint(dir, { name: 'step-10' })).rejects.toThrow('the tensor data in step-10.safetensors does not match its checkpoint_id: the file was modified or corrupted after saving');
    await writeFile(path, bytes.subarray(0, bytes.length - 10));
    await expect(loadCheckpoint(dir, { name: 'step-10' })).rejects.toThrow(`${path}: truncated file: tensor 'head.bias' ends at byte 88 of the data section, so the file should have ${bytes.length} bytes, but it has ${bytes.length - 10}`);
    await expect(loadCheckpoint(dir)).rejects.toThrow(`cannot read ${join(dir, 'model.json')}: file not found`);
    await expect(saveCheckpoint(dir, { tensors: tensors(1), config }, { name: '../escape' })).rejects.toThrow('checkpoint name "../escape" must be letters, digits');
  });

  it('leaves both files byte-identical when a save fails', async () => {
    const dir = await freshDir();
    await saveCheckpoint(dir, { tensors: tensors(1), config });
    const before = [await readFile(join(dir, 'model.safetensors')), await readFile(join(dir, 'model.json'))];
    await expect(saveCheckpoint(dir, { tensors: tensors(2), config: { big: 1n } })).rejects.toThrow('saveCheckpoint: config is not JSON-serializable');
    await expect(saveCheckpoint(dir, { tensors: { ...tensors(2), bad: { dtype: 'F32', shape: [2], data: new Float32Array(1) } }, config })).rejects.toThrow("tensor 'bad': shape [2] has 2 elements but its data has 1");
    await expect(saveCheckpoint(dir, { tensors: tensors(2), config, metadata: { [CHECKPOINT_ID_KEY]: 'x' } })).rejects.toThrow(`metadata key '${CHECKPOINT_ID_KEY}' is reserved`);
    expect([await readFile(join(dir, 'model.safetensors')), await readFile(join(dir, 'model.json'))]).toEqual(before);
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'model.safetensors']);
    expect((await loadCheckpoint(dir)).tensors['head.bias']!.data).toEqual(new Float32Array(5).fill(1));
  });

  it('says the pair is inconsistent when only the config could not be replaced', async () => {
    const dir = await freshDir();
    await mkdir(join(dir, 'model.json')); // a directory where the config should go: its rename fails
    await expect(saveCheckpoint(dir, { tensors: tensors(1), config })).rejects.toThrow(/could not replace .*model\.json .*the pair is now inconsistent and loadCheckpoint will refuse it/);
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'model.safetensors']);
    await expect(loadCheckpoint(dir)).rejects.toThrow(/cannot read .*model\.json/);
  });
});
