#!/usr/bin/env python3
"""A LoRA adapter in PEFT's layout for the tiny Qwen2 fixture, and the float64 goldens of the adapted model.

Writes packages/autograd/test/fixtures/hf/qwen2-lora/:
  adapter_config.json        PEFT's keys: peft_type LORA, r 4, lora_alpha 8, all seven projections
  adapter_model.safetensors  base_model.model.model.layers.N.{self_attn,mlp}.<proj>.lora_{A,B}.weight,
                             A [r, in], B [out, r], F32, values from a SplitMix64 stream (B non-zero,
                             as after training), so the bytes do not depend on library versions
  goldens.json               for the qwen2 fixture's sequences: next-token log-probs and last logits of
                             the adapted model, W' = W + (lora_alpha / r) * B @ A per target (PEFT's
                             LoRA with lora_dropout off), computed in float64 by reference.py's
                             path A (torch) and path B (NumPy loops), which must agree to 1e-10;
                             and how far two likely mistakes move them (scaling by lora_alpha instead
                             of lora_alpha / r; the k_proj and v_proj adapters swapped), each > 1e-2

Run:
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 scripts/hf/lora-reference.py
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402  (the fixtures' independent float64 implementation)

R, ALPHA = 4, 8
TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']
OUT = os.path.join(ref.FIXTURES, 'qwen2-lora')
MASK = (1 << 64) - 1


def splitmix64(seed):
    state = seed & MASK
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def uniform(stream, n, bound):
    """n float32 values uniform in [-bound, bound) from the top 53 bits of each draw."""
    vals = [(2 * ((next(stream) >> 11) / 2 ** 53) - 1) * bound for _ in range(n)]
    return np.array(vals, dtype=np.float32)


def write_safetensors_f32(path, tensors):
    header, blobs, offset = {'__metadata__': {'format': 'pt'}}, [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(tensors[name].shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))


def shapes(a):
    q, kv = a.nh * a.hd, a.nkv * a.hd
    inter = a.cfg['intermediate_size']
    return {'q_proj': (q, a.H), 'k_proj': (kv, a.H), 'v_proj': (kv, a.H), 'o_proj': (a.H, q),
            'gate_proj': (inter, a.H), 'up_proj': (inter, a.H), 'down_proj': (a.H, inter)}


def module(i, target):
    return f'model.layers.{i}.{"self_attn" if target in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"}.{target}'


def adapted(a, W, lora, scale, swap_kv=False):
    """The base weights with every adapter merged in float64 (PEFT: W + scaling * B @ A)."""
    out = dict(W)
    for i in range(a.L):
        for t in TARGETS:
            src = {'k_proj': 'v_proj', 'v_proj': 'k_proj'}.get(t, t) if swap_kv else t
            A = lora[f'base_model.model.{module(i, src)}.lora_A.weight']
            B = lora[f'base_model.model.{module(i, src)}.lora_B.weight']
            out[f'{module(i, t)}.weight'] = W[f'{module(i, t)}.weight'] + scale * (B @ A)
    return out


def main():
    base = os.path.join(ref.FIXTURES, 'qwen2')
    cfg, W, _ = ref.load_fixture(base)
    a = ref.Arch(cfg)
    os.makedirs(OUT, exist_ok=True)
    stream = splitmix64(0x10AA)
    tensors = {}
    for i in range(a.L):
        for t in TARGETS:
            out_f, in_f = shapes(a)[t]
            tensors[f'base_model.model.{module(i, t)}.lora_A.weight'] = uniform(stream, R * in_f, 1 / np.sqrt(in_f)).reshape(R, in_f)
            tensors[f'base_model.model.{module(i, t)}.lora_B.weight'] = uniform(stream, out_f * R, 0.05).reshape(out_f, R)
    write_safetensors_f32(os.path.join(OUT, 'adapter_model.safetensors'), tensors)
    config = {
        'peft_type': 'LORA', 'task_type': 'CAUSAL_LM', 'base_model_name_or_path': '../qwen2', 'r': R, 'lora_alpha': ALPHA,
        'lora_dropout': 0.0, 'target_modules': TARGETS, 'bias': 'none', 'fan_in_fan_out': False, 'use_rslora': False,
        'use_dora': False, 'modules_to_save': None, 'layers_to_transform': None, 'rank_pattern': {}, 'alpha_pattern': {},
        'init_lora_weights': True, 'inference_mode': True,
    }
    ref.dump_json(os.path.join(OUT, 'adapter_config.json'), config)

    lora, _ = ref.read_safetensors(os.path.join(OUT, 'adapter_model.safetensors'))  # the float32 values as written
    scale = ALPHA / R
    Wl = adapted(a, W, lora, scale)
    goldens = json.load(open(os.path.join(base, 'goldens.json')))
    seqs, worst = [], 0.0
    for s in goldens['sequences']:
        ids = s['input_ids']
        la, lb = ref.forward_a(a, Wl, ids), ref.forward_b(a, Wl, ids)
        diff = float(np.max(np.abs(la - lb)))
        worst = max(worst, diff)
        if not diff < ref.AGREE:
            raise SystemExit(f'{s["name"]}: paths A and B differ by {diff:.3e}')
        lp = ref.log_softmax(la)
        base_lp = np.array(s['next_token_logprobs'])
        nxt = [float(lp[t, ids[t + 1]]) for t in range(len(ids) - 1)]
        moved = float(np.max(np.abs(np.array(nxt) - base_lp)))
        if moved < 1e-2:
            raise SystemExit(f'{s["name"]}: the adapter moves the log-probs by only {moved:.2e}')
        seqs.append({'name': s['name'], 'input_ids': ids, 'next_token_logprobs': nxt, 'last_logits': [float(v) for v in la[-1]]})
    sensitivity = {}
    for name, W2 in [('scale_by_alpha', adapted(a, W, lora, ALPHA)), ('swap_k_v_adapters', adapted(a, W, lora, scale, swap_kv=True))]:
        m = 0.0
        for s in seqs:
            ids = s['input_ids']
            lp = ref.log_softmax(ref.forward_a(a, W2, ids))
            m = max(m, float(np.max(np.abs(np.array([lp[t, ids[t + 1]] for t in range(len(ids) - 1)]) - np.array(s['next_token_logprobs'])))))
        if m < 1e-2:
            raise SystemExit(f'mutation {name} moves the log-probs by only {m:.2e}')
        sensitivity[name] = m
    ref.dump_json(os.path.join(OUT, 'goldens.json'), {
        'base': 'qwen2', 'computed_in': 'float64', 'r': R, 'lora_alpha': ALPHA, 'target_modules': TARGETS,
        'reference': 'scripts/hf/lora-reference.py (reference.py paths A and B on W + (lora_alpha/r)·B·A, agreeing to 1e-10)',
        'paths_max_abs_diff': worst, 'sensitivity': sensitivity, 'sequences': seqs,
    })
    print(f'qwen2-lora: paths agree to {worst:.2e}; sensitivity {sensitivity}')


if __name__ == '__main__':
    main()
