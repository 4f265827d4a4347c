// The advantage estimators for trainers: one call, either backend. On the GPU backend it runs the
// WGSL kernels of @repirl/kernels (ops/advantages); on the CPU backend the float64 references that
// define them. Either way the results are autograd Tensors without gradient on the caller's backend.
//
// The registry itself (names, formulas, options, verl conventions) lives with the kernels; this
// module only adapts Tensors in and out, so the two can never disagree about what an estimator is.
import { GpuBackend, tensor, wrap, type Backend, type Tensor } from '@repirl/autograd';
import {
  ADVANTAGE_ESTIMATORS,
  ADVANTAGE_ESTIMATOR_NAMES,
  advantagesReference,
  computeAdvantages,
  type AdvantageEstimatorName,
  type AdvantageInputName,
  type AdvantageOptions,
  type CpuTensor,
  type GpuArray,
} from '@repirl/kernels';

export type { AdvantageEstimatorName, AdvantageOptions };
export { ADVANTAGE_ESTIMATOR_NAMES };

/** Inputs of an estimator; token tensors are f32 [B, T] on the backend the call names. */
export interface AdvantageTensorInputs {
  /** Token rewards [B, T] (outcome scores on each row's last valid token; see buildTokenRewards). */
  rewards: Tensor;
  /** [B, T], non-zero = valid response token. */
  mask: Tensor;
  /** One group id per sample (the prompt it answers), any integers in any order. */
  groups?: ArrayLike<number>;
  /** Critic values [B, T] (gae). */
  values?: Tensor;
  /** Outcome score per sample [B] (prime-rloo-*, repirl-loo). */
  outcome?: ArrayLike<number>;
}

export interface AdvantageTensors {
  /** [B, T], 0 at masked tokens. */
  advantages: Tensor;
  /** [B, T], where the estimator defines returns apart from the advantages (reinforce++, gae, prime-rloo-*). */
  returns?: Tensor;
}

export interface AdvantageEstimatorInfo {
  readonly name: AdvantageEstimatorName;
  readonly doc: string;
  /** Optional inputs it requires. */
  readonly needs: readonly AdvantageInputName[];
  /** The AdvantageOptions it reads. */
  readonly options: readonly (keyof AdvantageOptions)[];
}

/** Every estimator by name: its formula, required inputs and options (from the kernel registry). */
export const ADVANTAGES: Readonly<Record<AdvantageEstimatorName, AdvantageEstimatorInfo>> = Object.freeze(
  Object.fromEntries(
    ADVANTAGE_ESTIMATOR_NAMES.map((name) => {
      const { doc, needs, options } = ADVANTAGE_ESTIMATORS[name];
      return [name, { name, doc, needs, options }];
    }),
  ) as Record<AdvantageEstimatorName, AdvantageEstimatorInfo>,
);

function checkInputs(name: string, inputs: AdvantageTensorInputs): AdvantageEstimatorInfo {
  if (!Object.prototype.hasOwnProperty.call(ADVANTAGES, name)) {
    throw new Error(`unknown advantage estimator "${name}" (known: ${ADVANTAGE_ESTIMATOR_NAMES.join(', ')})`);
  }
  const info = ADVANTAGES[name as AdvantageEstimatorName];
  const { rewards, mask } = inputs;
  if (rewards.rank !== 2) throw new Error(`advantages/${name}: rewards must be [B, T], got [${rewards.shape.join(', ')}]`);
  const [rows, cols] = [rewards.shape[0]!, rewards.shape[1]!];
  const same = (t: Tensor) => t.rank === 2 && t.shape[0] === rows && t.shape[1] === cols;
  if (!same(mask)) throw new Error(`advantages/${name}: mask [${mask.shape.join(', ')}] must have the shape of rewards [${rows}, ${cols}]`);
  for (const t of [mask, inputs.values]) {
    if (t && t.backend !== rewards.backend) throw new Error(`advantages/${name}: all tensors must live on one backend`);
  }
  for (const need of info.needs) {
    const value = inputs[need];
    if (value === undefined) throw new Error(`advantages/${name}: needs ${need} (${need === 'values' ? `[${rows}, ${cols}] critic values` : `one per sample, ${rows}`})`);
    if (need === 'values' && !same(value as Tensor)) throw new Error(`advantages/${name}: values must be [${rows}, ${cols}]`);
    if (need !== 'values' && (value as ArrayLike<number>).length !== rows) {
      throw new Error(`advantages/${name}: ${need} has ${(value as ArrayLike<number>).length} entries for ${rows} samples`);
    }
  }
  return info;
}

/**
 * Runs the named estimator on `backend` (GPU kernels or float64 references). Inputs an estimator
 * does not need are ignored. The outputs are new tensors without gradient; the caller owns them.
 */
export function estimateAdvantages(backend: Backend, name: string, inputs: AdvantageTensorInputs, options?: AdvantageOptions): AdvantageTensors {
  const info = checkInputs(name, inputs);
  if (inputs.rewards.backend !== backend) throw new Error(`advantages/${name}: the inputs live on the ${inputs.rewards.backend.name} backend, not on the one given`);
  const wanted = (k: AdvantageInputName) => info.needs.includes(k);

  if (backend instanceof GpuBackend) {
    const uploads: GpuArray[] = [];
    const upload = (data: ArrayLike<number>, dtype: 'i32' | 'f32') => {
      const a = backend.rt.upload(data, [data.length], dtype);
      uploads.push(a);
      return a;
    };
    try {
      const result = computeAdvantages(
        backend.rt,
        name,
        {
          rewards: inputs.rewards.storage as GpuArray,
          mask: inputs.mask.storage as GpuArray,
          ...(wanted('groups') ? { groups: upload(inputs.groups!, 'i32') } : {}),
          ...(wanted('values') ? { values: inputs.values!.storage as GpuArray } : {}),
          ...(wanted('outcome') ? { outcome: upload(inputs.outcome!, 'f32') } : {}),
        },
        options,
      );
      // wrap() hands ownership of the kernel's output buffers to the new tensors.
      return {
        advantages: wrap(backend, result.advantages),
        ...(result.returns ? { returns: wrap(backend, result.returns) } : {}),
      };
    } finally {
      for (const a of uploads) a.dispose();
    }
  }

  if (backend.name === 'cpu') {
    // The CPU backend's storage is a float64 host tensor, exactly what the references take.
    const host = (t: Tensor) => t.storage as CpuTensor;
    const result = advantagesReference(
      name,
      {
        rewards: host(inputs.rewards),
        mask: host(inputs.mask),
        ...(wanted('groups') ? { groups: inputs.groups! } : {}),
        ...(wanted('values') ? { values: host(inputs.values!) } : {}),
        ...(wanted('outcome') ? { outcome: inputs.outcome! } : {}),
      },
      options,
    );
    const toTensor = (t: CpuTensor) => tensor(backend, t.data, t.shape);
    return { advantages: toTensor(result.advantages), ...(result.returns ? { returns: toTensor(result.returns) } : {}) };
  }
  throw new Error(`advantages/${name}: unsupported backend "${(backend as Backend).name}"`);
}
