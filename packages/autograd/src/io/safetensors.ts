// safetensors, the tensor file format of the Hugging Face ecosystem, so that checkpoints written
// here open in other tools and theirs open here. Layout of a file:
//
//   bytes 0..8      N, a little-endian u64: the length of the header
//   bytes 8..8+N    the header: UTF-8 JSON, padded with spaces so that 8 + N is a multiple of 8
//                   { "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] },
//                     ..., "__metadata__": { "<key>": "<string value>" } }   (metadata optional)
//   bytes 8+N..     the data section: each tensor row-major, little-endian, at [begin, end) relative
//                   to the start of this section; tensors are contiguous, do not overlap and cover
//                   the section exactly.
//
// The writer orders tensors like the reference implementation (larger element size first, then by
// name), which keeps every tensor aligned to its element size, and writes the header keys in that
// same order without spaces, so files match its output byte for byte.
//
// Then: file I/O with atomic writes, a load that checks names, shapes and dtypes, and checkpoints
// (a .safetensors file plus a .json config that are only ever valid as a pair).
import { createHash } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromHalf, narrowFloatBits, toHalf } from '@repirl/kernels';
import { stageFile, writeFileAtomic } from './atomic.js';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

// ───────────────────────────── dtypes ─────────────────────────────

/** The array each dtype decodes to. F16 stays as raw bit patterns (uploadable as-is to an f16
 *  GPU buffer); BF16 has no GPU type, so it is widened to float32 (exactly) on load. */
export interface DecodedData {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Float32Array;
  I64: BigInt64Array;
  U64: BigUint64Array;
  I32: Int32Array;
  U32: Uint32Array;
  I16: Int16Array;
  U16: Uint16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}

/** What each dtype accepts when writing: its decoded array, and for F16/BF16 either raw bits
 *  (Uint16Array) or float32 values (rounded to nearest even), for I64 also Int32Array (widened). */
export interface AcceptedData extends Omit<DecodedData, 'F16' | 'BF16' | 'I64'> {
  F16: Uint16Array | Float32Array;
  BF16: Uint16Array | Float32Array;
  I64: BigInt64Array | Int32Array;
}

export type SafetensorsDtype = keyof DecodedData;

/** A tensor read from a file; `dtype` tells the type of `data`. */
export type DecodedTensor = { [D in SafetensorsDtype]: { dtype: D; shape: number[]; data: DecodedData[D] } }[SafetensorsDtype];

/** A tensor to write. */
export type TensorInput = { [D in SafetensorsDtype]: { dtype: D; shape: readonly number[]; data: AcceptedData[D] } }[SafetensorsDtype];

export interface DecodedFile {
  tensors: Record<string, DecodedTensor>;
  metadata: Record<string, string>;
}

type ArrayCtor = { new (buffer: ArrayBuffer): ArrayBufferView & { length: number }; name: string };

// `order` is the reference writer's dtype order (it writes higher values first).
const DTYPES: Record<SafetensorsDtype, { bytes: number; array: ArrayCtor; order: number }> = {
  BOOL: { bytes: 1, array: Uint8Array, order: 0 },
  U8: { bytes: 1, array: Uint8Array, order: 1 },
  I8: { bytes: 1, array: Int8Array, order: 2 },
  I16: { bytes: 2, array: Int16Array, order: 3 },
  U16: { bytes: 2, array: Uint16Array, order: 4 },
  F16: { bytes: 2, array: Uint16Array, order: 5 },
  BF16: { bytes: 2, array: Uint16Array, order: 6 },
  I32: { bytes: 4, array: Int32Array, order: 7 },
  U32: { bytes: 4, array: Uint32Array, order: 8 },
  F32: { bytes: 4, array: Float32Array, order: 9 },
  F64: { bytes: 8, array: Float64Array, order: 10 },
  I64: { bytes: 8, array: BigInt64Array as unknown as ArrayCtor, order: 11 },
  U64: { bytes: 8, array: BigUint64Array as unknown as ArrayCtor, order: 12 },
};
export const SAFETENSORS_DTYPES = Object.keys(DTYPES) as SafetensorsDtype[];
// Valid in the format but with no JavaScript array type; named so the error can say so.
const UNSUPPORTED_DTYPES = ['F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64'];

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(DTYPES, value);
}

/** What is wrong with a dtype that is not one of ours, for messages ("no dtype", not "unknown dtype undefined"). */
function dtypeProblem(dtype: unknown): string {
  if (dtype === undefined) return 'has no dtype';
  return typeof dtype === 'string' ? `unknown dtype ${JSON.stringify(dtype)}` : `dtype must be a string, got ${JSON.stringify(dtype) ?? describe(dtype)}`;
}

// Typed arrays use the host's byte order; the format is little-endian (so is every platform
// Node and browsers run on today, but a wrong file would be silent, so check once).
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function assertLittleEndianHost(): void {
  if (!LITTLE_ENDIAN_HOST) throw new SafetensorsError('safetensors: this platform is big-endian; reading and writing the little-endian format is not implemented for it');
}

// ───────────────────── float16 / bfloat16 conversion ─────────────────────

// One implementation, in @repirl/kernels: rounded once from the double (no float32 step).
export { toHalf as toF16Bits, fromHalf as fromF16Bits } from '@repirl/kernels';

/** bfloat16 bit pattern nearest to x (round half to even; beyond the range → ±Infinity). */
export function toBf16Bits(x: number): number {
  return narrowFloatBits(x, 7, 8);
}

/** Value of a bfloat16 bit pattern (exact: it is the upper half of a float32). */
export function fromBf16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 7) & 0xff;
  const mant = bits & 0x7f;
  if (exp === 0) return sign * mant * 2 ** -133;
  if (exp === 0xff) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mant / 128) * 2 ** (exp - 127);
}

export function float32ToFloat16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toHalf(values[i]!);
  return out;
}

export function float16BitsToFloat32(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = fromHalf(bits[i]!);
  return out;
}

export function float32ToBfloat16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toBf16Bits(values[i]!);
  return out;
}

/** Widens bfloat16 bit patterns to float32, bit-exactly (NaN payloads included). */
export function bfloat16BitsToFloat32(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = (bits[i]! & 0xffff) << 16;
  return out;
}

/** Int64 values as int32, failing on the first value out of range (token ids, counts). */
export function int64ToInt32(data: BigInt64Array, name = 'tensor'): Int32Array {
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < -2147483648n || v > 2147483647n) throw new SafetensorsError(`${name}: element ${i} = ${v} does not fit in int32`);
    out[i] = Number(v);
  }
  return out;
}

/** Any decoded tensor's values as float32 (F16 bits decoded; integers converted, 64-bit ones via
 *  Number). F32 and BF16 tensors return their own data array, not a copy. */
export function tensorToFloat32(tensor: DecodedTensor): Float32Array {
  switch (tensor.dtype) {
    case 'F32':
    case 'BF16':
      return tensor.data;
    case 'F16':
      return float16BitsToFloat32(tensor.data);
    case 'I64':
    case 'U64':
      return Float32Array.from(tensor.data as ArrayLike<bigint>, Number);
    default:
      return Float32Array.from(tensor.data);
  }
}

// ───────────────────────────── encoding ─────────────────────────────

interface LaidOutTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
  bytes: Uint8Array;
}

/** Checks every tensor and orders them as the file will hold them; throws before any I/O. */
function layOut(tensors: Record<string, TensorInput>): LaidOutTensor[] {
  if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors)) {
    throw new SafetensorsError('tensors must be an object mapping names to { dtype, shape, data }');
  }
  const items = Object.entries(tensors).map(([name, t]) => {
    if (name === '__metadata__') throw new SafetensorsError("'__metadata__' is reserved by the safetensors format and cannot name a tensor; pass metadata separately");
    if (typeof t !== 'object' || t === null) throw new SafetensorsError(`tensor '${name}' must be { dtype, shape, data }, got ${describe(t)}`);
    if (!isDtype(t.dtype)) throw new SafetensorsError(`tensor '${name}': ${dtypeProblem(t.dtype)}; use one of ${SAFETENSORS_DTYPES.join(', ')}`);
    const shape = checkShape(t.shape, `tensor '${name}'`);
    const bytes = tensorBytes(name, t);
    const numel = shape.reduce((a, b) => a * b, 1);
    const length = bytes.length / DTYPES[t.dtype].bytes;
    if (length !== numel) {
      throw new SafetensorsError(`tensor '${name}': shape [${shape.join(', ')}] has ${numel} elements but its data has ${length}; fix the shape or the data`);
    }
    return { name, dtype: t.dtype, shape, bytes };
  });
  items.sort((a, b) => DTYPES[b.dtype].order - DTYPES[a.dtype].order || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let offset = 0;
  return items.map((item) => {
    const begin = offset;
    offset += item.bytes.length;
    return { ...item, begin, end: offset };
  });
}

/** The bytes of one tensor, converting F16/BF16 from float32 and I64 from int32 when given those. */
function tensorBytes(name: string, t: TensorInput): Uint8Array {
  const { dtype, data } = t;
  let view: ArrayBufferView | undefined;
  if ((dtype === 'F16' || dtype === 'BF16') && data instanceof Float32Array) {
    view = dtype === 'F16' ? float32ToFloat16Bits(data) : float32ToBfloat16Bits(data);
  } else if (dtype === 'I64' && data instanceof Int32Array) {
    view = BigInt64Array.from(data, (v) => BigInt(v));
  } else if (data instanceof DTYPES[dtype].array) {
    view = data;
  }
  if (!view) {
    const accepted = dtype === 'F16' || dtype === 'BF16' ? 'Uint16Array (bit patterns) or Float32Array' : dtype === 'I64' ? 'BigInt64Array or Int32Array' : DTYPES[dtype].array.name;
    throw new SafetensorsError(`tensor '${name}': dtype ${dtype} needs ${accepted} data, got ${describe(data)}`);
  }
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  if (dtype === 'BOOL') checkBool(bytes, `tensor '${name}'`);
  return bytes;
}

function headerBytes(laidOut: readonly LaidOutTensor[], metadata: Record<string, string> | undefined): Uint8Array {
  const parts: string[] = [];
  if (metadata !== undefined) {
    checkMetadata(metadata, 'metadata');
    if (Object.keys(metadata).length > 0) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  // Built piece by piece: a plain object would move integer-like names ("0", "12") to the front.
  for (const t of laidOut) {
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [t.begin, t.end] })}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

/** The file as a list of chunks (header, then each tensor's bytes) so it can be written without a copy. */
function serialize(tensors: Record<string, TensorInput>, metadata?: Record<string, string>): Uint8Array[] {
  assertLittleEndianHost();
  const laidOut = layOut(tensors);
  return [headerBytes(laidOut, metadata), ...laidOut.map((t) => t.bytes)];
}

/** A complete safetensors file in memory. Validates every tensor; throws SafetensorsError naming the bad one. */
export function encodeSafetensors(tensors: Record<string, TensorInput>, metadata?: Record<string, string>): Uint8Array {
  return concat(serialize(tensors, metadata));
}

// ───────────────────────────── decoding ─────────────────────────────

// The reference reader refuses headers over 100 MB; a bigger length field means "not this format".
const MAX_HEADER_BYTES = 100_000_000;

interface ParsedFile {
  dataStart: number;
  entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[]; // sorted by offset
  metadata: Record<string, string>;
}

/** `fileLength`: the whole file's size when `bytes` holds only its beginning (a header read alone). */
function parseFile(bytes: Uint8Array, source: string | undefined, fileLength = bytes.length): ParsedFile {
  assertLittleEndianHost();
  const fail = (message: string): never => {
    throw new SafetensorsError(source ? `${source}: ${message}` : message);
  };
  if (!(bytes instanceof Uint8Array)) fail(`expected the file's bytes as a Uint8Array, got ${describe(bytes)}`);
  if (bytes.length < 8) fail(`truncated file: it has ${bytes.length} bytes, but a safetensors file starts with an 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(`not a safetensors file: its first 8 bytes (${hex(bytes.subarray(0, 8))}) give a header length of ${headerLength} bytes, more than the format's limit of ${MAX_HEADER_BYTES}`);
  }
  const dataStart = 8 + Number(headerLength);
  if (dataStart > fileLength) fail(`truncated file: the header alone needs ${dataStart} bytes (8 + ${headerLength}), but the file has ${fileLength} bytes`);

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    fail('corrupt header: it is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(`corrupt header: it must be a JSON object starting with '{', but starts with ${JSON.stringify(text.slice(0, 20))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    fail(`corrupt header: invalid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('corrupt header: the JSON is not an object of tensors');
  const fields = header as Record<string, unknown>;

  let metadata: Record<string, string> = {};
  if ('__metadata__' in fields) {
    try {
      metadata = checkMetadata(fields.__metadata__, '__metadata__');
    } catch (err) {
      fail(`corrupt header: ${(err as Error).message}`);
    }
  }

  const entries: ParsedFile['entries'] = [];
  for (const [name, raw] of Object.entries(fields)) {
    if (name === '__metadata__') continue;
    const where = `tensor '${name}'`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${where}: header entry must be { dtype, shape, data_offsets }`);
    const { dtype, shape: rawShape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (!isDtype(dtype)) {
      fail(typeof dtype === 'string' && UNSUPPORTED_DTYPES.includes(dtype)
        ? `${where}: dtype ${dtype} is valid safetensors but not supported here; supported: ${SAFETENSORS_DTYPES.join(', ')}`
        : `${where}: ${dtypeProblem(dtype)}; safetensors dtypes are ${SAFETENSORS_DTYPES.join(', ')}`);
    }
    const dt = dtype as SafetensorsDtype;
    let shape: number[] = [];
    try {
      shape = checkShape(rawShape, where);
    } catch (err) {
      fail((err as Error).message);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      fail(`${where}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const needed = shape.reduce((a, b) => a * b, 1) * DTYPES[dt].bytes;
    if (end - begin !== needed) {
      fail(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape [${shape.join(', ')}] of ${dt} needs ${needed}`);
    }
    entries.push({ name, dtype: dt, shape, begin, end });
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataLength = fileLength - dataStart;
  const last = entries.reduce<ParsedFile['entries'][number] | undefined>((m, e) => (m === undefined || e.end > m.end ? e : m), undefined);
  const total = last?.end ?? 0;
  if (total > dataLength) {
    fail(`truncated file: tensor '${last!.name}' ends at byte ${total} of the data section, so the file should have ${dataStart + total} bytes, but it has ${fileLength}`);
  }
  let position = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.begin < position) {
      const prev = entries[i - 1]!;
      fail(`tensors '${prev.name}' (data_offsets [${prev.begin}, ${prev.end}]) and '${e.name}' ([${e.begin}, ${e.end}]) overlap`);
    }
    if (e.begin > position) fail(`tensor '${e.name}': bytes ${position}..${e.begin} of the data section before it belong to no tensor`);
    position = e.end;
  }
  if (total < dataLength) fail(`the file has ${dataLength - total} bytes after the last tensor that belong to no tensor (corrupt, or not one file)`);
  return { dataStart, entries, metadata };
}

/** Reads a safetensors file from memory, validating all of it. `source` (a path) prefixes errors. */
export function decodeSafetensors(bytes: Uint8Array, options: { source?: string } = {}): DecodedFile {
  const parsed = parseFile(bytes, options.source);
  const tensors = parsed.entries.map(({ name, dtype, shape, begin, end }) => {
    // Copy into a fresh buffer: aligned for the typed array, and independent of `bytes` (a Node
    // Buffer's slice() would share memory, often with a pool holding other files' bytes).
    const copy = new Uint8Array(end - begin);
    copy.set(bytes.subarray(parsed.dataStart + begin, parsed.dataStart + end));
    const buffer = copy.buffer;
    if (dtype === 'BOOL') checkBool(new Uint8Array(buffer), `${options.source ? options.source + ': ' : ''}tensor '${name}'`);
    const data = dtype === 'BF16' ? bfloat16BitsToFloat32(new Uint16Array(buffer)) : new DTYPES[dtype].array(buffer);
    return [name, { dtype, shape, data } as DecodedTensor] as const;
  });
  // fromEntries defines own properties, so even a tensor named "__proto__" is kept as data.
  return { tensors: Object.fromEntries(tensors), metadata: parsed.metadata };
}

/** A tensor's entry in a safetensors header: what it is, without its data. */
export interface SafetensorsHeaderEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Bytes of its data. */
  bytes: number;
}

/**
 * Reads and validates only the header of a safetensors file (its first 8 + N bytes; the file's size
 * is checked against the offsets), so names, dtypes and shapes of a large checkpoint can be checked
 * before its data is read. Errors name the file.
 */
export async function readSafetensorsHeader(path: string): Promise<{ tensors: Record<string, SafetensorsHeaderEntry>; metadata: Record<string, string> }> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SafetensorsError(`cannot read ${path}: ${code === 'ENOENT' ? 'file not found' : (err as Error).message}`, { cause: err });
  }
  try {
    const size = (await handle.stat()).size;
    const head = new Uint8Array(Math.min(size, 8));
    await handle.read(head, 0, head.length, 0);
    let bytes = head;
    if (size >= 8) {
      const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
      if (n <= BigInt(MAX_HEADER_BYTES) && 8 + Number(n) <= size) {
        bytes = new Uint8Array(8 + Number(n));
        await handle.read(bytes, 0, bytes.length, 0);
      }
    }
    const parsed = parseFile(bytes, path, size);
    const tensors: Record<string, SafetensorsHeaderEntry> = Object.fromEntries(parsed.entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape, bytes: e.end - e.begin }]));
    return { tensors, metadata: parsed.metadata };
  } finally {
    await handle.close();
  }
}

// ───────────────────────────── checks ─────────────────────────────

export interface ExpectedTensor {
  shape: readonly number[];
  dtype: SafetensorsDtype;
}

/**
 * Throws one SafetensorsError listing every difference between `tensors` and `expected`: missing
 * tensors, wrong shapes or dtypes (expected and actual), and tensors not expected (unless allowExtra).
 */
export function checkTensors(
  tensors: Record<string, { dtype: string; shape: readonly number[] }>,
  expected: Record<string, ExpectedTensor>,
  options: { allowExtra?: boolean; source?: string } = {},
): void {
  const show = (t: { dtype: string; shape: readonly number[] }) => `${t.dtype} [${t.shape.join(', ')}]`;
  const problems: string[] = [];
  for (const [name, want] of Object.entries(expected)) {
    const got = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
    if (!got) problems.push(`missing tensor '${name}' (expected ${show(want)})`);
    else if (got.dtype !== want.dtype || got.shape.length !== want.shape.length || got.shape.some((d, i) => d !== want.shape[i])) {
      problems.push(`tensor '${name}': expected ${show(want)}, found ${show(got)}`);
    }
  }
  if (!options.allowExtra) {
    for (const [name, got] of Object.entries(tensors)) {
      if (!Object.hasOwn(expected, name)) problems.push(`unexpected tensor '${name}' (${show(got)}); pass allowExtra: true to ignore extra tensors`);
    }
  }
  if (problems.length === 0) return;
  const shown = problems.slice(0, 20).map((p) => `  - ${p}`);
  if (problems.length > 20) shown.push(`  … and ${problems.length - 20} more`);
  throw new SafetensorsError(`${options.source ?? 'tensors'} do not match the expected tensors:\n${shown.join('\n')}`);
}

/**
 * Throws a SafetensorsError naming the first floating-point tensor (F64, F32, F16, BF16) that holds
 * a NaN or an infinity: the tensor, its dtype and shape, the first bad element and how many there
 * are. Weights like that come from a diverged run (or a damaged file) and make every step non-finite.
 * `advice` replaces the message's closing suggestion.
 */
export function checkFinite(tensors: Record<string, DecodedTensor>, options: { source?: string; advice?: string } = {}): void {
  for (const [name, t] of Object.entries(tensors)) {
    let finite: (i: number) => boolean;
    if (t.dtype === 'F16') {
      const bits = t.data;
      finite = (i) => (bits[i]! & 0x7c00) !== 0x7c00; // exponent all ones: ±Infinity or NaN
    } else if (t.dtype === 'F64' || t.dtype === 'F32' || t.dtype === 'BF16') {
      const values = t.data;
      finite = (i) => Number.isFinite(values[i]!);
    } else {
      continue; // integers and booleans are always finite
    }
    let first = -1;
    let count = 0;
    for (let i = 0; i < t.data.length; i++) {
      if (finite(i)) continue;
      if (count === 0) first = i;
      count++;
    }
    if (count === 0) continue;
    const value = t.dtype === 'F16' ? fromHalf(t.data[first]!) : (t.data[first] as number);
    throw new SafetensorsError(
      `${options.source ? `${options.source}: ` : ''}tensor '${name}' (${t.dtype} [${t.shape.join(', ')}]) holds ${count} non-finite ` +
        `value${count === 1 ? '' : 's'}, the first ${value} at element ${first}: ` +
        (options.advice ?? 'these weights come from a diverged run or a damaged file; use an earlier checkpoint'),
    );
  }
}

// ───────────────────────────── files ─────────────────────────────

/** Writes a safetensors file atomically. Invalid tensors throw before the disk is touched. */
export async function saveSafetensors(path: string, tensors: Record<string, TensorInput>, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, serialize(tensors, metadata));
}

export async function loadSafetensors(path: string): Promise<DecodedFile> {
  return decodeSafetensors(await readBytes(path), { source: path });
}

/** Loads and checks that every expected tensor exists with its shape and dtype (see checkTensors). */
export async function loadSafetensorsChecked(path: string, expected: Record<string, ExpectedTensor>, options: { allowExtra?: boolean } = {}): Promise<DecodedFile> {
  const file = await loadSafetensors(path);
  checkTensors(file.tensors, expected, { ...options, source: path });
  return file;
}

// ─────────────────────────── checkpoints ───────────────────────────
//
// A checkpoint is <dir>/<name>.safetensors (the weights, readable by any safetensors tool) plus
// <dir>/<name>.json (the config). Both carry checkpoint_id = sha256 of the tensor data section,
// in the JSON and in the safetensors metadata under CHECKPOINT_ID_KEY. A save writes and flushes
// both temp files, then renames the safetensors, then the JSON; a crash between the two renames
// leaves new weights beside an old config, which the differing ids reveal on load. The id is a
// content hash, so the same tensors give the same files (reproducible runs) and load can also
// detect tensor data changed after saving.

export const CHECKPOINT_ID_KEY = 'repirl.checkpoint_id';
const CHECKPOINT_FORMAT = 'repirl-checkpoint';

export interface CheckpointContent {
  tensors: Record<string, TensorInput>;
  /** Any JSON object: the model/training configuration needed to rebuild the model. */
  config: Record<string, unknown>;
  /** Extra string metadata for the safetensors header. */
  metadata?: Record<string, string>;
}

export interface LoadedCheckpoint {
  tensors: Record<string, DecodedTensor>;
  /** The .safetensors file the tensors came from, for messages about them. */
  path: string;
  config: Record<string, unknown>;
  /** The safetensors metadata, without CHECKPOINT_ID_KEY. */
  metadata: Record<string, string>;
  id: string;
}

export interface CheckpointPaths {
  id: string;
  safetensorsPath: string;
  configPath: string;
}

/** Writes <dir>/<name>.safetensors and <dir>/<name>.json (name defaults to 'model'), creating dir. */
export async function saveCheckpoint(dir: string, content: CheckpointContent, options: { name?: string } = {}): Promise<CheckpointPaths> {
  const { safetensorsPath, configPath, name } = checkpointPaths(dir, options.name);
  // Everything that can be wrong with the input is found here, before any file is touched.
  if (typeof content !== 'object' || content === null) throw new SafetensorsError('saveCheckpoint: content must be { tensors, config, metadata? }');
  const configJson = configToJson(content.config);
  const metadata = content.metadata ?? {};
  checkMetadata(metadata, 'metadata');
  if (Object.hasOwn(metadata, CHECKPOINT_ID_KEY)) throw new SafetensorsError(`metadata key '${CHECKPOINT_ID_KEY}' is reserved: saveCheckpoint writes it`);
  assertLittleEndianHost();
  const laidOut = layOut(content.tensors);
  const id = sha256(laidOut.map((t) => t.bytes));
  const header = headerBytes(laidOut, { ...metadata, [CHECKPOINT_ID_KEY]: id });
  const json = `${JSON.stringify({ format: CHECKPOINT_FORMAT, version: 1, checkpoint_id: id, safetensors: `${name}.safetensors`, config: JSON.parse(configJson) }, null, 2)}\n`;

  await mkdir(dir, { recursive: true });
  const weights = await stageFile(safetensorsPath, [header, ...laidOut.map((t) => t.bytes)]);
  try {
    const config = await stageFile(configPath, json);
    try {
      await weights.commit();
    } catch (err) {
      await config.discard();
      throw err;
    }
    try {
      await config.commit();
    } catch (err) {
      await config.discard();
      throw new SafetensorsError(
        `saveCheckpoint: wrote ${safetensorsPath} but could not replace ${configPath} (${(err as Error).message}); ` +
          'the pair is now inconsistent and loadCheckpoint will refuse it until a save succeeds',
        { cause: err },
      );
    }
  } finally {
    await weights.discard(); // no-op once committed
  }
  return { id, safetensorsPath, configPath };
}

/**
 * Loads a checkpoint written by saveCheckpoint, verifying that the two files belong to the same
 * save and that the tensor data is unchanged; with `expected`, also every tensor's shape and dtype.
 * A floating-point tensor holding NaN or ±Infinity is refused (see checkFinite): nothing can be
 * trained or sampled from it. `allowNonFinite` skips that check.
 */
export async function loadCheckpoint(
  dir: string,
  options: { name?: string; expected?: Record<string, ExpectedTensor>; allowExtra?: boolean; allowNonFinite?: boolean } = {},
): Promise<LoadedCheckpoint> {
  const { safetensorsPath, configPath, name } = checkpointPaths(dir, options.name);
  const where = `checkpoint ${join(dir, name)}`;
  const configFile = parseCheckpointJson(new TextDecoder().decode(await readBytes(configPath, where)), configPath);
  const bytes = await readBytes(safetensorsPath, where);
  const parsed = parseFile(bytes, safetensorsPath);

  const fileId = parsed.metadata[CHECKPOINT_ID_KEY];
  if (fileId === undefined) {
    throw new SafetensorsError(`${where}: ${safetensorsPath} has no '${CHECKPOINT_ID_KEY}' metadata, so it was not written by saveCheckpoint; load it with loadSafetensors`);
  }
  if (fileId !== configFile.checkpoint_id) {
    throw new SafetensorsError(
      `${where}: ${name}.safetensors (checkpoint_id ${fileId.slice(0, 12)}…) and ${name}.json (${configFile.checkpoint_id.slice(0, 12)}…) come from different saves. ` +
        'The last save was probably interrupted between writing the two files; save again, or use an earlier checkpoint',
    );
  }
  const dataId = sha256([bytes.subarray(parsed.dataStart)]);
  if (dataId !== fileId) {
    throw new SafetensorsError(`${where}: the tensor data in ${name}.safetensors does not match its checkpoint_id: the file was modified or corrupted after saving`);
  }

  const { tensors, metadata } = decodeSafetensors(bytes, { source: safetensorsPath });
  if (options.expected) checkTensors(tensors, options.expected, { allowExtra: options.allowExtra, source: safetensorsPath });
  if (!options.allowNonFinite) checkFinite(tensors, { source: safetensorsPath });
  const { [CHECKPOINT_ID_KEY]: _id, ...userMetadata } = metadata;
  return { tensors, path: safetensorsPath, config: configFile.config, metadata: userMetadata, id: fileId };
}

function checkpointPaths(dir: string, name = 'model'): { safetensorsPath: string; configPath: string; name: string } {
  if (typeof dir !== 'string' || dir === '') throw new SafetensorsError('checkpoint directory must be a non-empty string');
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) {
    throw new SafetensorsError(`checkpoint name ${JSON.stringify(name)} must be letters, digits, '.', '_' or '-' (not starting with '.'), e.g. 'model' or 'step-100'`);
  }
  return { safetensorsPath: join(dir, `${name}.safetensors`), configPath: join(dir, `${name}.json`), name };
}

function configToJson(config: unknown): string {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new SafetensorsError(`saveCheckpoint: config must be a JSON object, got ${describe(config)}`);
  }
  try {
    return JSON.stringify(config);
  } catch (err) {
    throw new SafetensorsError(`saveCheckpoint: config is not JSON-serializable (${(err as Error).message})`);
  }
}

function parseCheckpointJson(text: string, path: string): { checkpoint_id: string; config: Record<string, unknown> } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(`${path}: invalid JSON (${(err as Error).message})`);
  }
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null || v.format !== CHECKPOINT_FORMAT) {
    throw new SafetensorsError(`${path}: not a checkpoint config (expected "format": "${CHECKPOINT_FORMAT}")`);
  }
  if (v.version !== 1) throw new SafetensorsError(`${path}: checkpoint version ${JSON.stringify(v.version)} is not supported (this code reads version 1)`);
  if (typeof v.checkpoint_id !== 'string') throw new SafetensorsError(`${path}: "checkpoint_id" must be a string`);
  if (typeof v.config !== 'object' || v.config === null || Array.isArray(v.config)) throw new SafetensorsError(`${path}: "config" must be an object`);
  return { checkpoint_id: v.checkpoint_id, config: v.config as Record<string, unknown> };
}

// ───────────────────────────── helpers ─────────────────────────────

function checkShape(shape: unknown, where: string): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Number.isSafeInteger(shape.reduce((a: number, b: number) => a * b, 1))) throw new SafetensorsError(`${where}: shape [${shape.join(', ')}] is too large`);
  return [...shape];
}

function checkMetadata(metadata: unknown, where: string): Record<string, string> {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw new SafetensorsError(`${where} must be an object of strings`);
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') throw new SafetensorsError(`${where}['${key}'] must be a string (safetensors metadata is string → string), got ${describe(value)}`);
  }
  return { ...(metadata as Record<string, string>) };
}

function checkBool(bytes: Uint8Array, where: string): void {
  const i = bytes.findIndex((b) => b > 1);
  if (i >= 0) throw new SafetensorsError(`${where}: BOOL element ${i} is ${bytes[i]}; BOOL values must be 0 or 1`);
}

async function readBytes(path: string, where?: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new SafetensorsError(`${where ? where + ': ' : ''}cannot read ${path}: ${reason}`, { cause: err });
  }
}

function sha256(chunks: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const c of chunks) hash.update(c);
  return hash.digest('hex');
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
