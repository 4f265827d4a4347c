// softmax and log-softmax over the last axis (online max/sum, one workgroup per row), forward and
// backward, NaN-free on −inf entries and fully masked rows, with float64 references.
export {
  logSoftmax,
  logSoftmaxBackward,
  logSoftmaxBackwardReference,
  logSoftmaxReference,
  softmax,
  softmaxBackward,
  softmaxBackwardProgram,
  softmaxBackwardReference,
  softmaxForwardProgram,
  softmaxReference,
  type SoftmaxKind,
  type SoftmaxPath,
  type SoftmaxWidth,
} from './softmax.js';
