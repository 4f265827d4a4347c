#!/usr/bin/env python3
"""Independent float64 reference for the Hugging Face decoder fixtures; writes their goldens.

For each fixture directory under packages/autograd/test/fixtures/hf/ (made by
make-tiny-checkpoints.py) this reads config.json and the safetensors file(s) itself, and runs the
architecture (LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM) written from the math of
transformers' modeling code, entirely in float64:

  path A (torch, batched): whole sequence at once; RoPE as x*cos + rotate_half(x)*sin with
    cos/sin of cat(freqs, freqs); GQA by repeat_kv (expand + reshape); causal mask added to the
    T x T score matrix; softmax over the last axis.
  path B (NumPy, loops): token by token with a KV cache; every head in its own loop, reading
    kv head h // (heads / kv_heads); RoPE as a rotation of the pairs (x[i], x[i + d/2]) by
    pos * inv_freq[i], with inv_freq computed by scalar Python per frequency (the llama3 bands
    by if/else); softmax by hand over the cached positions.

Both must agree to 1e-10 on every logit of every position (and on the greedy tokens), or the
script fails: the goldens are then not one implementation's bug. It writes <fixture>/goldens.json
and tokenizer-goldens.json (the byte-level BPE and the chat template, same tokenizer in all
fixtures). Format: docs/hf-goldens.md.

Run:
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 scripts/hf/reference.py [fixture ...]
"""
import json
import math
import os
import struct
import sys

import jinja2
import numpy as np
import regex
import torch

torch.set_default_dtype(torch.float64)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FIXTURES = os.path.join(ROOT, 'packages', 'autograd', 'test', 'fixtures', 'hf')
NAMES = ['llama', 'llama-linear', 'qwen2', 'qwen3', 'smollm2']
AGREE = 1e-10
N_GREEDY = 8

# ----------------------------------------------------------------------------------------------
# safetensors reader (its own, not the writer's code).

DTYPES = {'F32': ('<f4', 4), 'F16': ('<f2', 2), 'BF16': ('<u2', 2), 'F64': ('<f8', 8)}


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    base = 8 + n
    out, dtypes = {}, set()
    for name, info in header.items():
        if name == '__metadata__':
            continue
        np_dtype, size = DTYPES[info['dtype']]
        begin, end = info['data_offsets']
        count = int(np.prod(info['shape'])) if info['shape'] else 1
        assert end - begin == count * size, name
        arr = np.frombuffer(raw[base + begin:base + end], dtype=np_dtype)
        if info['dtype'] == 'BF16':
            arr = (arr.astype(np.uint32) << 16).view(np.float32)  # bf16 = high half of an f32
        out[name] = arr.astype(np.float64).reshape(info['shape'])
        dtypes.add(info['dtype'])
    return out, dtypes


def load_fixture(d):
    with open(os.path.join(d, 'config.json')) as f:
        cfg = json.load(f)
    index = os.path.join(d, 'model.safetensors.index.json')
    weights, dtypes = {}, set()
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)['weight_map'].values()))
    else:
        files = ['model.safetensors']
    for fname in files:
        w, dt = read_safetensors(os.path.join(d, fname))
        assert not (set(w) & set(weights))
        weights.update(w)
        dtypes |= dt
    return cfg, weights, dtypes


class Arch:
    """The config facts both paths need, read the way transformers reads them."""

    def __init__(self, cfg):
        self.cfg = cfg
        arch = cfg['architectures'][0]
        assert arch in ('LlamaForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM'), arch
        assert cfg['hidden_act'] == 'silu'
        self.arch = arch
        self.H = cfg['hidden_size']
        self.nh = cfg['num_attention_heads']
        self.nkv = cfg.get('num_key_value_heads') or self.nh
        self.hd = cfg.get('head_dim') or self.H // self.nh
        self.L = cfg['num_hidden_layers']
        self.V = cfg['vocab_size']
        self.eps = cfg['rms_norm_eps']
        self.theta = cfg.get('rope_theta', 10000.0)
        self.scaling = cfg.get('rope_scaling')
        self.tied = cfg.get('tie_word_embeddings', False)
        self.qk_norm = arch == 'Qwen3ForCausalLM'
        # Qwen2: q/k/v always have a bias, o_proj never. Llama/Qwen3: attention_bias on all four.
        self.qkv_bias = arch == 'Qwen2ForCausalLM' or cfg.get('attention_bias', False)
        self.o_bias = arch != 'Qwen2ForCausalLM' and cfg.get('attention_bias', False)
        assert not cfg.get('mlp_bias', False)
        if arch != 'LlamaForCausalLM':
            assert not cfg.get('use_sliding_window', False), 'sliding window not modelled'
        assert self.nh % self.nkv == 0
        self.rep = self.nh // self.nkv


# ----------------------------------------------------------------------------------------------
# Path A: torch, batched.

def rope_inv_freq_a(a, mut=frozenset()):
    dim = a.hd
    inv = 1.0 / (a.theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    s = a.scaling
    if s is None or 'no_rope_scaling' in mut:
        return inv
    kind = s.get('rope_type', s.get('type'))
    if kind == 'default':
        return inv
    if kind == 'linear':
        return inv / s['factor']
    if kind == 'llama3':
        factor, lo, hi = s['factor'], s['low_freq_factor'], s['high_freq_factor']
        old = s['original_max_position_embeddings']
        lo_wl, hi_wl = old / lo, old / hi
        wl = 2 * math.pi / inv
        out = torch.where(wl > lo_wl, inv / factor, inv)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = (wl >= hi_wl) & (wl <= lo_wl)
        if 'llama3_no_smoothing' in mut:
            return out
        return torch.where(medium, smoothed, out)
    raise ValueError(f'rope_scaling {kind} not modelled')


def rms_norm_a(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def repeat_kv(x, n):  # [kv, T, d] -> [kv * n, T, d], kv head j serves query heads j*n .. j*n+n-1
    kv, T, d = x.shape
    return x[:, None].expand(kv, n, T, d).reshape(kv * n, T, d)


def rotate_interleaved(x):  # the GPT-J / original Meta layout: pairs (2i, 2i+1). Wrong for HF.
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def forward_a(a, W, ids, mut=frozenset()):
    """Logits [T, V] for the whole sequence. `mut` switches on deliberate mistakes (MUTATIONS),
    only to measure how far each moves the goldens."""
    T = len(ids)
    t = {k: torch.from_numpy(v) for k, v in W.items()}
    eps = (1e-6 if a.eps != 1e-6 else 1e-5) if 'wrong_eps' in mut else a.eps
    x = t['model.embed_tokens.weight'][torch.tensor(ids)]
    inv = rope_inv_freq_a(a, mut)
    freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    if 'rope_interleaved' in mut:
        emb = torch.stack((freqs, freqs), dim=-1).flatten(-2)
        rot = rotate_interleaved
    else:
        emb = torch.cat((freqs, freqs), dim=-1)
        rot = rotate_half
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float('-inf')).triu(1)
    if 'no_causal_mask' in mut:
        mask = torch.zeros((T, T))
    scale = (a.H // a.nh if 'scale_by_hidden_over_heads' in mut else a.hd) ** -0.5
    for i in range(a.L):
        p = f'model.layers.{i}.'
        h = rms_norm_a(x, t[p + 'input_layernorm.weight'], eps)

        def proj(name, inp):
            y = inp @ t[p + name + '.weight'].T
            b = t.get(p + name + '.bias')
            return y + b if b is not None and 'no_bias' not in mut else y

        q = proj('self_attn.q_proj', h).view(T, a.nh, a.hd).transpose(0, 1)
        k = proj('self_attn.k_proj', h).view(T, a.nkv, a.hd).transpose(0, 1)
        v = proj('self_attn.v_proj', h).view(T, a.nkv, a.hd).transpose(0, 1)
        if a.qk_norm and 'qk_norm_after_rope' not in mut:
            q = rms_norm_a(q, t[p + 'self_attn.q_norm.weight'], eps)
            k = rms_norm_a(k, t[p + 'self_attn.k_norm.weight'], eps)
        q = q * cos + rot(q) * sin
        k = k * cos + rot(k) * sin
        if a.qk_norm and 'qk_norm_after_rope' in mut:
            q = rms_norm_a(q, t[p + 'self_attn.q_norm.weight'], eps)
            k = rms_norm_a(k, t[p + 'self_attn.k_norm.weight'], eps)
        if 'gqa_modulo' in mut:  # query head j reads kv head j % kv_heads (torch.repeat / tile)
            k, v = k.repeat(a.rep, 1, 1), v.repeat(a.rep, 1, 1)
        else:
            k, v = repeat_kv(k, a.rep), repeat_kv(v, a.rep)
        scores = q @ k.transpose(1, 2) * scale + mask
        attn = torch.softmax(scores, dim=-1) @ v  # [nh, T, hd]
        o = proj('self_attn.o_proj', attn.transpose(0, 1).reshape(T, a.nh * a.hd))
        x = x + o
        h = rms_norm_a(x, t[p + 'post_attention_layernorm.weight'], eps)
        g = h @ t[p + 'mlp.gate_proj.weight'].T
        u = h @ t[p + 'mlp.up_proj.weight'].T
        x = x + (torch.nn.functional.silu(g) * u) @ t[p + 'mlp.down_proj.weight'].T
    x = rms_norm_a(x, t['model.norm.weight'], eps)
    tied = a.tied != ('swap_tied' in mut)
    head = t['model.embed_tokens.weight'] if tied else t['lm_head.weight']
    return (x @ head.T).numpy()


def mutations(a, W):
    """The mistakes that apply to this fixture (docs/hf-goldens.md)."""
    m = ['rope_interleaved', 'no_causal_mask', 'wrong_eps']
    if a.rep > 1 and a.nkv > 1:  # with one kv head every grouping is the same
        m.append('gqa_modulo')
    if a.scaling is not None:
        m.append('no_rope_scaling')
        if a.scaling.get('rope_type', a.scaling.get('type')) == 'llama3':
            m.append('llama3_no_smoothing')
    if a.qk_norm:
        m.append('qk_norm_after_rope')
    if a.hd != a.H // a.nh:
        m.append('scale_by_hidden_over_heads')
    if any(k.endswith('.bias') for k in W):
        m.append('no_bias')
    if not a.tied:
        m.append('swap_tied')  # reading logits off the embedding, ignoring lm_head
    return m


# ----------------------------------------------------------------------------------------------
# Path B: NumPy, token by token with a KV cache, per-head loops, pair rotation.

def rope_inv_freq_b(a):
    d = a.hd
    s = a.scaling or {}
    kind = s.get('rope_type', s.get('type', 'default'))
    out = []
    for i in range(d // 2):
        f = a.theta ** (-(2.0 * i) / d)
        if kind == 'linear':
            f = f / s['factor']
        elif kind == 'llama3':
            wavelength = 2 * math.pi / f
            old = s['original_max_position_embeddings']
            if wavelength < old / s['high_freq_factor']:
                pass  # high frequency: unchanged
            elif wavelength > old / s['low_freq_factor']:
                f = f / s['factor']  # low frequency: interpolated by factor
            else:
                r = (old / wavelength - s['low_freq_factor']) / (s['high_freq_factor'] - s['low_freq_factor'])
                f = (1 - r) * f / s['factor'] + r * f
        else:
            assert kind == 'default', kind
        out.append(f)
    return out


def rms_norm_b(v, w, eps):
    ms = sum(float(e) * float(e) for e in v) / len(v)
    return w * (v / math.sqrt(ms + eps))


def rotate_pairs(v, pos, inv):
    h = len(v) // 2
    out = v.copy()
    for i in range(h):
        c, s = math.cos(pos * inv[i]), math.sin(pos * inv[i])
        out[i] = v[i] * c - v[i + h] * s
        out[i + h] = v[i + h] * c + v[i] * s
    return out


class Decoder:
    def __init__(self, a, W):
        self.a, self.W = a, W
        self.inv = rope_inv_freq_b(a)
        self.cache = [([], []) for _ in range(a.L)]  # per layer: lists of [nkv, hd] per position

    def lin(self, name, x):
        y = self.W[name + '.weight'].dot(x)
        b = self.W.get(name + '.bias')
        return y + b if b is not None else y

    def step(self, token, pos):
        a, W = self.a, self.W
        x = W['model.embed_tokens.weight'][token].copy()
        for i in range(a.L):
            p = f'model.layers.{i}.'
            h = rms_norm_b(x, W[p + 'input_layernorm.weight'], a.eps)
            q = self.lin(p + 'self_attn.q_proj', h).reshape(a.nh, a.hd)
            k = self.lin(p + 'self_attn.k_proj', h).reshape(a.nkv, a.hd)
            v = self.lin(p + 'self_attn.v_proj', h).reshape(a.nkv, a.hd)
            for j in range(a.nh):
                if a.qk_norm:
                    q[j] = rms_norm_b(q[j], W[p + 'self_attn.q_norm.weight'], a.eps)
                q[j] = rotate_pairs(q[j], pos, self.inv)
            for j in range(a.nkv):
                if a.qk_norm:
                    k[j] = rms_norm_b(k[j], W[p + 'self_attn.k_norm.weight'], a.eps)
                k[j] = rotate_pairs(k[j], pos, self.inv)
            ks, vs = self.cache[i]
            ks.append(k)
            vs.append(v)
            heads = []
            for j in range(a.nh):
                g = j // a.rep  # the kv head this query head reads
                scores = [float(q[j].dot(kk[g])) / math.sqrt(a.hd) for kk in ks]
                m = max(scores)
                e = [math.exp(s - m) for s in scores]
                z = sum(e)
                heads.append(sum((ei / z) * vv[g] for ei, vv in zip(e, vs)))
            x = x + self.lin(p + 'self_attn.o_proj', np.concatenate(heads))
            h = rms_norm_b(x, W[p + 'post_attention_layernorm.weight'], a.eps)
            g = W[p + 'mlp.gate_proj.weight'].dot(h)
            u = W[p + 'mlp.up_proj.weight'].dot(h)
            act = np.array([gi / (1.0 + math.exp(-gi)) * ui for gi, ui in zip(g, u)])
            x = x + W[p + 'mlp.down_proj.weight'].dot(act)
        x = rms_norm_b(x, W['model.norm.weight'], a.eps)
        head = W['model.embed_tokens.weight'] if a.tied else W['lm_head.weight']
        return head.dot(x)


def forward_b(a, W, ids):
    dec = Decoder(a, W)
    return np.stack([dec.step(tok, pos) for pos, tok in enumerate(ids)])


def greedy_b(a, W, prompt, n):
    dec = Decoder(a, W)
    for pos, tok in enumerate(prompt):
        logits = dec.step(tok, pos)
    out = []
    for _ in range(n):
        nxt = int(np.argmax(logits))
        out.append(nxt)
        logits = dec.step(nxt, len(prompt) + len(out) - 1)
    return out


# ----------------------------------------------------------------------------------------------

def log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def greedy_a(a, W, prompt, n):
    ids, margins = list(prompt), []
    for _ in range(n):
        last = forward_a(a, W, ids)[-1]
        order = np.argsort(-last, kind='stable')
        margins.append(float(last[order[0]] - last[order[1]]))
        ids.append(int(order[0]))
    return ids[len(prompt):], margins


class Splitmix:
    def __init__(self, seed):
        self.s = seed

    def next(self, n):
        self.s = (self.s + 0x9E3779B97F4A7C15) & ((1 << 64) - 1)
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
        return (z ^ (z >> 31)) % n


# ----------------------------------------------------------------------------------------------
# Tokenizer reference: byte-level BPE read from tokenizer.json, chat template from
# tokenizer_config.json rendered by Jinja2 (as transformers' apply_chat_template does).

GPT2_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def byte_chars():
    printable = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    out, nxt = [], 256
    for b in range(256):
        if b in printable:
            out.append(chr(b))
        else:
            out.append(chr(nxt))
            nxt += 1
    return out


class Bpe:
    def __init__(self, tok):
        m = tok['model']
        assert m['type'] == 'BPE' and tok['pre_tokenizer']['type'] == 'ByteLevel'
        assert tok['pre_tokenizer']['use_regex'] and not tok['pre_tokenizer']['add_prefix_space']
        self.vocab = m['vocab']
        self.ranks = {tuple(s.split(' ')): r for r, s in enumerate(m['merges'])}
        self.added = {t['content']: t['id'] for t in tok['added_tokens']}
        self.bc = byte_chars()

    def word(self, piece):
        syms = [self.bc[b] for b in piece.encode('utf-8')]
        while len(syms) > 1:
            pairs = [(self.ranks.get((syms[i], syms[i + 1]), math.inf), i) for i in range(len(syms) - 1)]
            r, i = min(pairs)
            if r == math.inf:
                break
            syms = syms[:i] + [syms[i] + syms[i + 1]] + syms[i + 2:]
        return [self.vocab[s] for s in syms]

    def encode(self, text, allow_special):
        ids = []
        parts = [text]
        if allow_special:
            pat = '(' + '|'.join(regex.escape(t) for t in sorted(self.added, key=len, reverse=True)) + ')'
            parts = regex.split(pat, text)
        for part in parts:
            if allow_special and part in self.added:
                ids.append(self.added[part])
                continue
            for piece in GPT2_PATTERN.findall(part):
                ids.extend(self.word(piece))
        return ids

    def decode(self, ids):
        inv = {v: k for k, v in self.vocab.items()}
        inv_added = {v: k for k, v in self.added.items()}
        back = {c: b for b, c in enumerate(self.bc)}
        out = b''
        for i in ids:
            if i in inv_added:
                out += inv_added[i].encode('utf-8')
            else:
                out += bytes(back[c] for c in inv[i])
        return out.decode('utf-8', errors='replace')


CHAT = [{'role': 'user', 'content': 'What is 3 + 4? Show each step.'}]
CHAT_WITH_SYSTEM = [
    {'role': 'system', 'content': 'Answer with one number.'},
    {'role': 'user', 'content': 'Add 12 and 30.'},
    {'role': 'assistant', 'content': 'The answer is 42.'},
]
TEXTS = [
    'Step 1: 12 + 7 = 19.',
    'The answer is 65.',
    "Hello world, it's 2025!\n\n  indented\ttab",
    'caf\u00e9 \u4e2d\u6587 \U0001F600',
    '<|im_start|>user\nhi<|im_end|>',
]


def render_chat(tcfg, messages, add_generation_prompt):
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(tcfg['chat_template']).render(messages=messages, add_generation_prompt=add_generation_prompt)


def tokenizer_goldens(d):
    with open(os.path.join(d, 'tokenizer.json')) as f:
        tok = json.load(f)
    with open(os.path.join(d, 'tokenizer_config.json')) as f:
        tcfg = json.load(f)
    bpe = Bpe(tok)
    texts = []
    for t in TEXTS:
        ids = bpe.encode(t, allow_special=False)
        assert bpe.decode(ids) == t
        texts.append({'text': t, 'ids': ids, 'ids_allow_special': bpe.encode(t, allow_special=True)})
    chats = []
    for messages, agp in [(CHAT, True), (CHAT_WITH_SYSTEM, False)]:
        rendered = render_chat(tcfg, messages, agp)
        chats.append({'messages': messages, 'add_generation_prompt': agp, 'rendered': rendered,
                      'ids': bpe.encode(rendered, allow_special=True)})
    return bpe, tcfg, {'texts': texts, 'chat': chats,
                       'special_tokens': dict(sorted(bpe.added.items(), key=lambda kv: kv[1])),
                       'tokenizer_vocab_size': len(bpe.vocab) + len(bpe.added)}


# ----------------------------------------------------------------------------------------------

def to_json(obj, ind=0):
    """Objects indented, lists of numbers on one line; floats as Python's repr (17 significant
    digits at most: a float64 round-trips exactly)."""
    pad = '  ' * (ind + 1)
    if isinstance(obj, dict):
        if not obj:
            return '{}'
        items = [f'{pad}{json.dumps(k)}: {to_json(v, ind + 1)}' for k, v in obj.items()]
        return '{\n' + ',\n'.join(items) + '\n' + '  ' * ind + '}'
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        return '[\n' + ',\n'.join(pad + to_json(v, ind + 1) for v in obj) + '\n' + '  ' * ind + ']'
    if isinstance(obj, float):
        assert math.isfinite(obj)
    return json.dumps(obj, ensure_ascii=False, separators=(', ', ': '))


def dump_json(path, obj):
    text = to_json(obj) + '\n'
    assert json.loads(text) == obj
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def run_fixture(name, chat_ids, seed):
    d = os.path.join(FIXTURES, name)
    cfg, W, dtypes = load_fixture(d)
    a = Arch(cfg)
    rng = Splitmix(seed)
    r13 = [rng.next(a.V) for _ in range(13)]
    r13[4], r13[9] = 1, 2  # the ids with near-zero embeddings: they pin rms_norm_eps
    seqs = [
        ('random-7', [rng.next(a.V) for _ in range(7)]),
        ('random-13', r13),
        ('chat', chat_ids),
    ]
    out_seqs, worst = [], 0.0
    for sname, ids in seqs:
        assert all(0 <= i < a.V for i in ids)
        la, lb = forward_a(a, W, ids), forward_b(a, W, ids)
        diff = float(np.max(np.abs(la - lb)))
        worst = max(worst, diff)
        if not diff < AGREE:
            raise SystemExit(f'{name}/{sname}: paths A and B differ by {diff:.3e} (> {AGREE})')
        lp = log_softmax(la)
        next_lp = [float(lp[t, ids[t + 1]]) for t in range(len(ids) - 1)]
        out_seqs.append({
            'name': sname,
            'input_ids': ids,
            'last_logits': [float(v) for v in la[-1]],
            'next_token_logprobs': next_lp,
            'sum_logprob': float(sum(next_lp)),
            'first_logits_head': [float(v) for v in la[0][:8]],
        })
    prompt = chat_ids
    greedy, margins = greedy_a(a, W, prompt, N_GREEDY)
    greedy_b_ids = greedy_b(a, W, prompt, N_GREEDY)
    if greedy != greedy_b_ids:
        raise SystemExit(f'{name}: greedy tokens differ between paths: {greedy} vs {greedy_b_ids}')
    sensitivity = {}
    for m in mutations(a, W):
        worst_m = 0.0
        for (sname, ids), good in zip(seqs, out_seqs):
            lp = log_softmax(forward_a(a, W, ids, frozenset([m])))
            nxt = np.array([lp[t, ids[t + 1]] for t in range(len(ids) - 1)])
            worst_m = max(worst_m, float(np.max(np.abs(nxt - np.array(good['next_token_logprobs'])))),
                          float(np.max(np.abs(lp[-1] - log_softmax(np.array(good['last_logits']))))))
        sensitivity[m] = worst_m
        if worst_m < 1e-2:
            raise SystemExit(f'{name}: mutation {m} moves the log-probs by only {worst_m:.2e}')
    inv_a = rope_inv_freq_a(a).numpy()
    inv_b = np.array(rope_inv_freq_b(a))
    assert np.max(np.abs(inv_a - inv_b) / inv_a) < 1e-14
    golden = {
        'fixture': name,
        'architecture': a.arch,
        'computed_in': 'float64',
        'reference': 'scripts/hf/reference.py (paths A and B, agreeing to 1e-10)',
        'weights_dtype': sorted(dtypes)[0] if len(dtypes) == 1 else sorted(dtypes),
        'vocab_size': a.V,
        'head_dim': a.hd,
        'rope_inv_freq': [float(v) for v in inv_a],
        'paths_max_abs_diff': worst,
        'sensitivity': sensitivity,
        'sequences': out_seqs,
        'greedy': {
            'prompt': 'chat',
            'prompt_ids': prompt,
            'new_token_ids': greedy,
            'margins': margins,
            'min_margin': min(margins),
        },
    }
    dump_json(os.path.join(d, 'goldens.json'), golden)
    return worst, greedy, min(margins), sensitivity


def main():
    names = sys.argv[1:] or NAMES
    bpe_dir = os.path.join(FIXTURES, NAMES[0])
    bpe, tcfg, tok_golden = tokenizer_goldens(bpe_dir)
    for n in NAMES[1:]:  # the same tokenizer in every fixture
        for f in ('tokenizer.json', 'tokenizer_config.json'):
            with open(os.path.join(FIXTURES, n, f)) as fh:
                other = json.load(fh)
            if f == 'tokenizer.json':
                assert other == json.load(open(os.path.join(bpe_dir, f))), n
            else:
                assert other['chat_template'] == tcfg['chat_template'], n
    dump_json(os.path.join(FIXTURES, 'tokenizer-goldens.json'), tok_golden)
    chat_ids = tok_golden['chat'][0]['ids']
    for k, name in enumerate(NAMES):
        if name not in names:
            continue
        worst, greedy, margin, sens = run_fixture(name, chat_ids, 0xC0FFEE + k)
        print(f'{name}: paths agree to {worst:.2e}; greedy {greedy} (min top-2 margin {margin:.3f})')
        print('  max |d logprob| per mistake: ' + ', '.join(f'{m} {v:.3g}' for m, v in sens.items()))


if __name__ == '__main__':
    main()
