// The online PRM learners with `prm.lora` (issue 13 item 5): rePIRL's token-MLP PRM and PRIME's
// implicit PRM train through LoRA adapters — after a step the backbone (π_φ) weights are
// bit-identical, the adapters and (rePIRL) the head moved. Tiny random policy, one RL step each.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { DecoderLM, GpuBackend, type HostTensor, type LoraTargetModule } from '@repirl/autograd';
import { arithChain } from '@repirl/rl';
import { ImplicitPrm, TokenMlpPrm, createPrimeTrainer, createRepirlTrainer, resolveRepirlConfig } from '../src/index.js';
import { codec, decoder, difficulty, verify } from './helpers.js';

let gpu: GpuBackend;
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
});

const lora = { rank: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'] as LoraTargetModule[] };
const moved = (a: Record<string, HostTensor>, b: Record<string, HostTensor>, prefix: string) =>
  Object.keys(a).filter((n) => n.startsWith(prefix)).some((n) => a[n]!.data.some((x, i) => x !== b[n]!.data[i]));

describe('PRM learners through LoRA', () => {
  it('the prm.lora section: rank 0 (default) trains every backbone weight; lora with freezeBackbone is refused', () => {
    expect(resolveRepirlConfig({}).prm.lora.rank).toBe(0);
    expect(resolveRepirlConfig({ prm: { lora } }).prm.lora).toEqual({ ...lora, dropout: 0 });
    const policy = new DecoderLM(gpu, decoder, { seed: 1 });
    expect(() => TokenMlpPrm.fromPolicy(policy, { freezeBackbone: true, lora: { ...lora, dropout: 0 } })).toThrow(/freezeBackbone .* and lora .* exclude each other/);
    policy.dispose();
  });

  it('rePIRL: the backbone stays put, the adapters and the head learn', async () => {
    const run = await createRepirlTrainer({
      policy: new DecoderLM(gpu, decoder, { seed: 4 }), train: arithChain.generate(6, 8, difficulty), verify, codec,
      config: {
        rl: { seed: 1, steps: 1, rollout: { promptsPerStep: 2, k: 3, maxNewTokens: 6 }, filter: { enabled: false }, advantage: { cGt: 0 }, validation: { k: 0, beforeTraining: false } },
        prm: { weightMode: 'uniform', groups: 'batch', hidden: 8, optim: { lr: 1e-2 }, lora },
      },
    });
    const prm = run.learner.prm as TokenMlpPrm;
    expect(prm.lora).not.toBeNull();
    const before = await prm.stateDict();
    await run.trainer.run();
    const after = await prm.stateDict();
    expect(moved(before, after, 'backbone.')).toBe(false);
    expect(moved(before, after, 'lora.')).toBe(true);
    expect(moved(before, after, 'head.')).toBe(true);
    run.learner.dispose();
  });

  it('PRIME: π_φ stays put and π_ref too, the adapters learn', async () => {
    const run = await createPrimeTrainer({
      policy: new DecoderLM(gpu, decoder, { seed: 5 }), train: arithChain.generate(7, 8, difficulty), verify, codec,
      config: {
        rl: { seed: 2, steps: 1, rollout: { promptsPerStep: 2, k: 4, maxNewTokens: 6 }, filter: { enabled: false }, validation: { k: 0, beforeTraining: false } },
        prm: { optim: { lr: 1e-2 }, lora },
      },
    });
    const prm = run.learner.prm as ImplicitPrm;
    expect(prm.lora).not.toBeNull();
    const before = await prm.stateDict();
    await run.trainer.run();
    const after = await prm.stateDict();
    expect(moved(before, after, 'lm.')).toBe(false);
    expect(moved(before, after, 'reference.')).toBe(false);
    expect(moved(before, after, 'lora.')).toBe(true);
    run.learner.dispose();
  });
});
