// @repirl/autograd — tensors over GPU buffers, a tape with one table of gradient rules, nn modules,
// optimizers, safetensors checkpoints and KV-cache generation, built on @repirl/kernels.
// Nothing is exported yet: the engine arrives with the autograd issue (DESIGN.md §3).
export {};
