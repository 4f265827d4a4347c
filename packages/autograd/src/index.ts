// @repirl/autograd — tensors over GPU buffers, a tape with one table of gradient rules, nn modules,
// optimizers, safetensors checkpoints and KV-cache generation, built on @repirl/kernels.
// So far: safetensors checkpoints (atomic), tokenizers (byte-level; Hugging Face tokenizer directories with chat templates), LR schedules.
export * from './io/atomic.js';
export * from './io/safetensors.js';
export * from './tokenizer/tokenizer.js';
export * from './tokenizer/byte.js';
export * from './tokenizer/hf.js';
export * from './optim/schedule.js';
export * from './core/index.js';
export { GpuBackend } from './backends/gpu.js';
export { CpuBackend } from './backends/cpu.js';
export type { CpuStorage } from './backends/cpu.js';
export { AdamW } from './optim/adamw.js';
export type { AdamWConfig, StepReport } from './optim/adamw.js';
export * from './nn/index.js';
export * from './generate/index.js';
export * from './hf/index.js';
export * from './lora/index.js';
