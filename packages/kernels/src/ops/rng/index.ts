// Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011; the Random123 library), in WGSL for the kernels and in TypeScript as the bit-exact
// reference. A counter-based generator: output = bijection(counter; key), so any element of any
// stream is computed directly, with no state to carry between invocations or launches.
//
// Stream layout used by every kernel in this folder: a (seed, offset) pair names a stream; the key
// is the seed split into two 32-bit words, counter words 2 and 3 are the offset split the same way,
// and counter words 0 and 1 address blocks of four 32-bit outputs within the stream:
//   flat arrays:  element e = lane e % 4 of Philox([⌊e/4⌋, 0, offLo, offHi], [seedLo, seedHi])
//   row kernels:  element (row n, column v) = lane v % 4 of Philox([⌊v/4⌋, n, offLo, offHi], …)
// Different offsets therefore never share a counter. Launches that must be independent need
// different (seed, offset) pairs (PyTorch likewise advances its Philox offset after every call).
//
// Counter-based random numbers on the GPU (Philox-4x32-10, see PHILOX_WGSL in program.ts for the stream layout):
// raw bits, uniform floats, normals (Box–Muller), dropout with its backward, and categorical
// sampling by the Gumbel-max trick. Every function has a TypeScript reference; bits and uniforms
// are bit-exact against it, normals agree to float32 accuracy of log/cos/sin.
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export { PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1, PHILOX_ROUNDS, PHILOX_WGSL } from './program.js';
export {
  randomBits,
  randomUniform,
  randomNormal,
  dropout,
  dropoutBackward,
  sampleCategorical,
  type DropoutResult,
} from './launcher.js';
export {
  mulhilo32,
  philox4x32,
  splitWords,
  philoxBlock,
  UNIT_24,
  gumbelFromBits,
  randomBitsReference,
  randomUniformReference,
  randomNormalReference,
  dropoutReference,
  dropoutBackwardReference,
  gumbelScoresReference,
  sampleCategoricalReference,
  type RandomOptions,
  type NormalOptions,
  type CategoricalOptions,
} from './reference.js';
