// A runnable tour of @repirl/kernels: upload, run a few kernels, read back, check against the
// float64 reference, time on the GPU. Run: npx tsx --conditions=source examples/quickstart.ts
import {
  cpuTensor, getRuntime, matmul, matmulReference, tokenLogProbs, tokenLogProbsReference, computeAdvantages,
} from '../src/index.js';

const rt = await getRuntime();
console.log(`device: ${rt.describe().description} (${rt.backend}), features: ${[...rt.features].join(', ') || 'none'}`);

// 1. A matmul, checked against its float64 reference.
const [M, K, N] = [64, 48, 80];
const aHost = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i));
const bHost = Float32Array.from({ length: K * N }, (_, i) => Math.cos(i));
const a = rt.upload(aHost, [M, K]);
const b = rt.upload(bHost, [K, N]);
const c = matmul(rt, a, b);
const want = matmulReference(cpuTensor(aHost, [M, K]), cpuTensor(bHost, [K, N]));
const got = await rt.read(c);
let maxErr = 0;
for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i]! - want.data[i]!));
console.log(`matmul [${M}×${K}]·[${K}×${N}]: max |GPU − float64| = ${maxErr.toExponential(2)}`);

// 2. Log-probabilities of sampled tokens, fused over the vocabulary (no [N, V] softmax in memory).
const V = 1000;
const logitsHost = Float32Array.from({ length: 4 * V }, (_, i) => Math.sin(i * 0.37) * 5);
const targetsHost = Int32Array.from([3, 999, 0, 512]);
const logits = rt.upload(logitsHost, [4, V]);
const targets = rt.upload(targetsHost, [4]);
const lp = tokenLogProbs(rt, logits, targets, { entropy: true });
await lp.check(); // throws if a target id were outside [0, V)
const ref = tokenLogProbsReference(cpuTensor(logitsHost, [4, V]), targetsHost, { entropy: true });
console.log('log p(target):', [...(await rt.read(lp.logp))].map((x) => x.toFixed(4)).join(' '), ' reference:', [...ref.logp].map((x) => x.toFixed(4)).join(' '));

// 3. GRPO advantages for two prompts with three samples each (reward on the last token).
const rewards = rt.upload([0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1], [6, 3]); // scores 1,0,1 | 0,0,1
const mask = rt.upload(new Float32Array(18).fill(1), [6, 3]);
const groups = rt.upload(Int32Array.from([0, 0, 0, 1, 1, 1]), [6]);
const { advantages } = computeAdvantages(rt, 'grpo', { rewards, mask, groups });
console.log('GRPO advantages (first token of each sample):', [...(await rt.read(advantages))].filter((_, i) => i % 3 === 0).map((x) => x.toFixed(3)).join(' '));

// 4. GPU time per kernel (timestamp queries when the device has them).
const profile = await rt.profile(() => {
  for (let i = 0; i < 10; i++) matmul(rt, a, b).dispose();
});
console.log(`10 matmuls: ${profile.gpuMs.toFixed(2)} ms GPU (${profile.source}), pool live bytes ${rt.memory().liveBytes}`);
