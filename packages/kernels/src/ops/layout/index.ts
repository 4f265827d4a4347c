// Layout kernels: one strided copy serves permute, slice, broadcast-expand, concat and writes into
// a slice of an existing array (KV-cache appends). A view is (shape, strides, offset) in elements
// over a flat buffer, as in NumPy; stride 0 repeats an element (broadcast).
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export { MAX_LAYOUT_RANK } from './program.js';
export {
  stridedCopy,
  permutedView,
  sliceView,
  broadcastView,
  permute,
  slice,
  writeSlice,
  concat,
  broadcastTo,
} from './launcher.js';
export { contiguousView, stridedCopyReference, viewReference, type View } from './reference.js';
