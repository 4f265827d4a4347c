#!/usr/bin/env python3
"""Writes the tiny Hugging Face decoder checkpoints under packages/autograd/test/fixtures/hf/.

Each fixture directory has the exact Hugging Face layout (config.json, generation_config.json,
model.safetensors or model-0000k-of-0000n.safetensors + model.safetensors.index.json,
tokenizer.json, tokenizer_config.json) with the architecture's real config keys and tensor names.
The weights are random but deterministic: a SplitMix64 stream with Box-Muller normals in pure
Python (no NumPy/torch RNG, so the bytes do not depend on library versions), seeded per fixture.
Values are drawn in float64, rounded to float32 (what a torch model holds), then to the fixture's
storage dtype (BF16 / F16 round to nearest even). The goldens (scripts/hf/reference.py) are
computed from the stored values, so the rounding is part of the fixture, not an error.

The tokenizer is a byte-level BPE written here: 256 byte tokens (id = byte value), merges learned
from a few sentences of this file's own text, then three special tokens. No real tokenizer or
dataset text is copied.

Run (see docs/hf-goldens.md):
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 scripts/hf/make-tiny-checkpoints.py
"""
import json
import math
import os
import struct
import sys

import numpy as np
import regex

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT = os.path.join(ROOT, 'packages', 'autograd', 'test', 'fixtures', 'hf')
TRANSFORMERS_VERSION = '4.51.3'

# ----------------------------------------------------------------------------------------------
# Deterministic random numbers (SplitMix64 + Box-Muller), independent of any library version.


class Rng:
    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed & self.MASK
        self.spare = None

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def uniform(self):
        """In (0, 1): 53 random bits, never 0."""
        return ((self.next_u64() >> 11) + 0.5) / float(1 << 53)

    def normal(self):
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        u1, u2 = self.uniform(), self.uniform()
        r = math.sqrt(-2.0 * math.log(u1))
        self.spare = r * math.sin(2 * math.pi * u2)
        return r * math.cos(2 * math.pi * u2)

    def normals(self, shape, std, mean=0.0):
        n = int(np.prod(shape))
        return np.array([mean + std * self.normal() for _ in range(n)], dtype=np.float64).reshape(shape)

    def randint(self, n):
        return self.next_u64() % n


# ----------------------------------------------------------------------------------------------
# safetensors, written by hand: u64 little-endian header length N, N bytes of JSON
# {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}} padded with spaces
# to a multiple of 8, then the raw little-endian tensor bytes (offsets relative to their start).

def to_storage_bytes(x32, dtype):
    x32 = np.ascontiguousarray(x32, dtype=np.float32)
    if dtype == 'F32':
        return x32.astype('<f4').tobytes()
    if dtype == 'F16':
        return x32.astype('<f2').tobytes()  # IEEE round to nearest even
    if dtype == 'BF16':
        bits = x32.view(np.uint32).astype(np.uint64)
        assert np.all(np.isfinite(x32))
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
        return rounded.astype('<u2').tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype):
    """tensors: list of (name, float32 array), written in name order."""
    header, blobs, offset = {}, [], 0
    for name, arr in sorted(tensors, key=lambda t: t[0]):
        data = to_storage_bytes(arr, dtype)
        header[name] = {'dtype': dtype, 'shape': list(arr.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header['__metadata__'] = {'format': 'pt'}
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    return offset


# ----------------------------------------------------------------------------------------------
# Byte-level BPE tokenizer.

# GPT-2's byte-to-unicode table: printable Latin-1 bytes map to themselves, the other 68 bytes to
# code points 256, 257, ... in byte order.
def byte_to_unicode():
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, nxt = {}, 256
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(nxt)
            nxt += 1
    return table


BYTE_CHARS = byte_to_unicode()
GPT2_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']
TOKENIZER_VOCAB = 320  # 256 bytes + 61 merges + 3 specials
N_MERGES = TOKENIZER_VOCAB - 256 - len(SPECIAL_TOKENS)
ENDOFTEXT, IM_START, IM_END = 317, 318, 319

# Written for this project (arithmetic chains like repirl's tasks, chat roles): the merge corpus.
CORPUS = """
system
You are a careful assistant. Think step by step, then give the answer.
user
What is 12 + 7 - 3? Show each step.
assistant
Step 1: 12 + 7 = 19.
Step 2: 19 - 3 = 16.
The answer is 16.
user
Start at 5, add 9, then multiply by 2. What is the result?
assistant
Step 1: 5 + 9 = 14.
Step 2: 14 * 2 = 28.
The answer is 28.
user
Add 48 and 37 with carries. Then subtract 20.
assistant
Step 1: 8 + 7 = 15, write 5 and carry 1.
Step 2: 4 + 3 + 1 = 8, so the sum is 85.
Step 3: 85 - 20 = 65.
The answer is 65.
"""


def pretokenize(text):
    return GPT2_PATTERN.findall(text)


def learn_merges(text, n_merges):
    words = {}
    for piece in pretokenize(text):
        sym = tuple(BYTE_CHARS[b] for b in piece.encode('utf-8'))
        words[sym] = words.get(sym, 0) + 1
    merges = []
    for _ in range(n_merges):
        counts = {}
        for sym, c in words.items():
            for a, b in zip(sym, sym[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + c
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent, ties: smallest pair
        merges.append(best)
        new_words = {}
        for sym, c in words.items():
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + c
        words = new_words
    return merges


# Qwen-style ChatML template, written for these fixtures: a default system turn when the first
# message is not a system message, each message as <|im_start|>role\ncontent<|im_end|>\n, and
# '<|im_start|>assistant\n' when add_generation_prompt is set.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a careful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)


def build_tokenizer():
    merges = learn_merges(CORPUS, N_MERGES)
    assert len(merges) == N_MERGES, len(merges)
    vocab = {BYTE_CHARS[b]: b for b in range(256)}
    for a, b in merges:
        assert a + b not in vocab, (a, b)
        vocab[a + b] = len(vocab)
    assert len(vocab) == 256 + N_MERGES
    added = []
    for i, tok in enumerate(SPECIAL_TOKENS):
        added.append({'id': len(vocab) + i, 'content': tok, 'single_word': False, 'lstrip': False,
                      'rstrip': False, 'normalized': False, 'special': True})
    assert [a['id'] for a in added] == [ENDOFTEXT, IM_START, IM_END]
    byte_level = {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': True}
    tokenizer = {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': added,
        'normalizer': None,
        'pre_tokenizer': byte_level,
        'post_processor': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': True},
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
        'model': {
            'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': '',
            'end_of_word_suffix': '', 'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
            'vocab': vocab,
            'merges': [f'{a} {b}' for a, b in merges],
        },
    }
    return tokenizer


def tokenizer_config(tokenizer_class, bos_token):
    added = {}
    for tok_id, tok in zip([ENDOFTEXT, IM_START, IM_END], SPECIAL_TOKENS):
        added[str(tok_id)] = {'content': tok, 'lstrip': False, 'normalized': False, 'rstrip': False,
                              'single_word': False, 'special': True}
    return {
        'add_bos_token': False,
        'add_eos_token': False,
        'add_prefix_space': False,
        'added_tokens_decoder': added,
        'additional_special_tokens': ['<|im_start|>', '<|im_end|>'],
        'bos_token': bos_token,
        'chat_template': CHAT_TEMPLATE,
        'clean_up_tokenization_spaces': False,
        'eos_token': '<|im_end|>',
        'errors': 'replace',
        'extra_special_tokens': {},
        'model_max_length': 512,
        'pad_token': '<|endoftext|>',
        'split_special_tokens': False,
        'tokenizer_class': tokenizer_class,
        'unk_token': None,
    }


# ----------------------------------------------------------------------------------------------
# The fixtures. config.json holds the keys transformers writes for the architecture (v4.4x/4.5x
# layout: rope_theta and rope_scaling at the top level, as the checkpoints on the Hub have them).

def llama_config(**over):
    cfg = {
        'architectures': ['LlamaForCausalLM'],
        'attention_bias': False,
        'attention_dropout': 0.0,
        'bos_token_id': ENDOFTEXT,
        'eos_token_id': ENDOFTEXT,
        'hidden_act': 'silu',
        'initializer_range': 0.02,
        'mlp_bias': False,
        'model_type': 'llama',
        'pretraining_tp': 1,
        'transformers_version': TRANSFORMERS_VERSION,
        'use_cache': True,
    }
    cfg.update(over)
    return cfg


def qwen_config(arch, model_type, **over):
    cfg = {
        'architectures': [arch],
        'attention_dropout': 0.0,
        'bos_token_id': ENDOFTEXT,
        'eos_token_id': IM_END,
        'hidden_act': 'silu',
        'initializer_range': 0.02,
        'model_type': model_type,
        'transformers_version': TRANSFORMERS_VERSION,
        'use_cache': True,
        'use_sliding_window': False,
    }
    cfg.update(over)
    return cfg


FIXTURES = [
    {
        # Llama 3.x: rope_scaling llama3 (all three frequency bands hit: see docs), GQA 4/2,
        # explicit head_dim, untied lm_head, BF16 weights.
        'name': 'llama', 'seed': 1001, 'dtype': 'BF16', 'shards': 1,
        'config': llama_config(
            hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, vocab_size=320, max_position_embeddings=512,
            rms_norm_eps=1e-05, rope_theta=500000.0,
            rope_scaling={'factor': 8.0, 'high_freq_factor': 4.0, 'low_freq_factor': 1.0,
                          'original_max_position_embeddings': 64, 'rope_type': 'llama3'},
            tie_word_embeddings=False, torch_dtype='bfloat16'),
        'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': '<|endoftext|>',
    },
    {
        # Llama 2 style with linear RoPE scaling written with the legacy key "type" (older
        # checkpoints; transformers reads "type" when "rope_type" is absent). No head_dim key:
        # it is hidden_size / num_attention_heads = 8. Multi-head (kv heads = heads). F32.
        'name': 'llama-linear', 'seed': 1002, 'dtype': 'F32', 'shards': 1,
        'config': llama_config(
            hidden_size=32, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=4, vocab_size=320, max_position_embeddings=4096,
            rms_norm_eps=1e-06, rope_theta=10000.0,
            rope_scaling={'factor': 2.0, 'type': 'linear'},
            tie_word_embeddings=False, torch_dtype='float32'),
        'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': '<|endoftext|>',
    },
    {
        # Qwen2 / Qwen2.5: q/k/v biases (no o_proj bias), GQA 4/2, tied embeddings (no
        # lm_head.weight in the file), sliding_window present but use_sliding_window false (as
        # Qwen2.5 ships it: full attention), vocab larger than the tokenizer's. F16 weights.
        'name': 'qwen2', 'seed': 1003, 'dtype': 'F16', 'shards': 1,
        'config': qwen_config(
            'Qwen2ForCausalLM', 'qwen2',
            hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=384, max_position_embeddings=32768,
            max_window_layers=2, sliding_window=32768, rms_norm_eps=1e-06, rope_theta=1000000.0,
            rope_scaling=None, tie_word_embeddings=True, torch_dtype='float16'),
        'tokenizer_class': 'Qwen2Tokenizer', 'bos_token': None,
    },
    {
        # Qwen3: q_norm/k_norm (RMSNorm over head_dim, per head, before RoPE), head_dim 16 with
        # hidden 48 and 4 heads (q_proj is 48 -> 64, o_proj 64 -> 48), GQA 4/2, untied, F32,
        # sharded in two files (layer 1 split across them).
        'name': 'qwen3', 'seed': 1004, 'dtype': 'F32', 'shards': 2,
        'config': qwen_config(
            'Qwen3ForCausalLM', 'qwen3',
            attention_bias=False, head_dim=16,
            hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=384, max_position_embeddings=40960,
            max_window_layers=2, sliding_window=None, rms_norm_eps=1e-06, rope_theta=1000000.0,
            rope_scaling=None, tie_word_embeddings=False, torch_dtype='float32'),
        'tokenizer_class': 'Qwen2Tokenizer', 'bos_token': None,
    },
    {
        # SmolLM2 / Mistral-like Llama-shaped model without sliding window: multi-query
        # attention (3 heads, 1 kv head: each kv head serves 3 query heads), tied embeddings,
        # rope_scaling null, SmolLM2's extra keys (rope_interleaved false, is_llama_config).
        'name': 'smollm2', 'seed': 1005, 'dtype': 'F32', 'shards': 1,
        'config': llama_config(
            hidden_size=48, intermediate_size=128, num_hidden_layers=2, num_attention_heads=3,
            num_key_value_heads=1, vocab_size=320, max_position_embeddings=2048,
            rms_norm_eps=1e-05, rope_theta=100000.0, rope_scaling=None, rope_interleaved=False,
            is_llama_config=True, pad_token_id=ENDOFTEXT,
            tie_word_embeddings=True, torch_dtype='float32'),
        'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': '<|endoftext|>',
    },
]


def make_weights(cfg, rng):
    """Random weights with the architecture's tensor names, float32. Scales are chosen so the
    attention is far from uniform and the logits spread over several nats (a wrong RoPE, GQA
    grouping or norm shows up far above 1e-4)."""
    H = cfg['hidden_size']
    nh, nkv = cfg['num_attention_heads'], cfg['num_key_value_heads']
    hd = cfg.get('head_dim') or H // nh
    inter, V = cfg['intermediate_size'], cfg['vocab_size']
    mt = cfg['model_type']
    qkv_bias = mt == 'qwen2' or cfg.get('attention_bias', False)
    w = []

    def lin(name, out_f, in_f, gain=1.0):
        w.append((name, rng.normals((out_f, in_f), gain / math.sqrt(in_f))))

    def norm(name, n):
        w.append((name, rng.normals((n,), 0.2, mean=1.0)))

    # Tied models read logits off the embedding: a smaller one keeps the token's own embedding
    # from dominating (greedy decoding would just repeat the last token).
    embed = rng.normals((V, H), 0.3 if cfg['tie_word_embeddings'] else 0.7)
    # Token ids 1 and 2 get near-zero embeddings (rms ~2e-3, mean square ~4e-6, the size of
    # rms_norm_eps): the first input_layernorm of those positions then depends on eps, so the
    # goldens pin rms_norm_eps (elsewhere 1e-5 vs 1e-6 moves log-probs by less than 1e-4).
    embed[1:3] *= 0.003
    w.append(('model.embed_tokens.weight', embed))
    for i in range(cfg['num_hidden_layers']):
        p = f'model.layers.{i}.'
        norm(p + 'input_layernorm.weight', H)
        lin(p + 'self_attn.q_proj.weight', nh * hd, H, 1.6)
        lin(p + 'self_attn.k_proj.weight', nkv * hd, H, 1.6)
        lin(p + 'self_attn.v_proj.weight', nkv * hd, H)
        if qkv_bias:
            w.append((p + 'self_attn.q_proj.bias', rng.normals((nh * hd,), 0.5)))
            w.append((p + 'self_attn.k_proj.bias', rng.normals((nkv * hd,), 0.5)))
            # small: a v bias adds the same vector to every position's attention output
            w.append((p + 'self_attn.v_proj.bias', rng.normals((nkv * hd,), 0.15)))
        if mt == 'qwen3':
            norm(p + 'self_attn.q_norm.weight', hd)
            norm(p + 'self_attn.k_norm.weight', hd)
        lin(p + 'self_attn.o_proj.weight', H, nh * hd)
        norm(p + 'post_attention_layernorm.weight', H)
        lin(p + 'mlp.gate_proj.weight', inter, H, 1.5)
        lin(p + 'mlp.up_proj.weight', inter, H)
        lin(p + 'mlp.down_proj.weight', H, inter)
    norm('model.norm.weight', H)
    if not cfg['tie_word_embeddings']:
        lin('lm_head.weight', V, H, 2.5)
    return [(n, a.astype(np.float32)) for n, a in w]


def dump_json(path, obj):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write('\n')


def write_fixture(fx, tokenizer):
    d = os.path.join(OUT, fx['name'])
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):  # stale shards from an earlier layout
        if f.endswith('.safetensors') or f == 'model.safetensors.index.json':
            os.remove(os.path.join(d, f))
    cfg = fx['config']
    dump_json(os.path.join(d, 'config.json'), cfg)
    dump_json(os.path.join(d, 'generation_config.json'), {
        'bos_token_id': ENDOFTEXT,
        'do_sample': False,
        'eos_token_id': [IM_END, ENDOFTEXT],
        'pad_token_id': ENDOFTEXT,
        'transformers_version': TRANSFORMERS_VERSION,
    })
    dump_json(os.path.join(d, 'tokenizer.json'), tokenizer)
    dump_json(os.path.join(d, 'tokenizer_config.json'), tokenizer_config(fx['tokenizer_class'], fx['bos_token']))

    weights = make_weights(cfg, Rng(fx['seed']))
    if fx['shards'] == 1:
        write_safetensors(os.path.join(d, 'model.safetensors'), weights, fx['dtype'])
        return
    # Two shards, split in the middle of layer 1 (its attention in the first file, its MLP,
    # norms and the head in the second), the way size-based sharding splits layers.
    n = fx['shards']
    assert n == 2
    first = [t for t in weights if t[0].startswith('model.embed_tokens') or t[0].startswith('model.layers.0.')
             or (t[0].startswith('model.layers.1.self_attn.'))]
    second = [t for t in weights if t not in first]
    weight_map, total = {}, 0
    for k, part in enumerate([first, second]):
        fname = f'model-{k + 1:05d}-of-{n:05d}.safetensors'
        total += write_safetensors(os.path.join(d, fname), part, fx['dtype'])
        for name, _ in part:
            weight_map[name] = fname
    dump_json(os.path.join(d, 'model.safetensors.index.json'),
              {'metadata': {'total_size': total}, 'weight_map': dict(sorted(weight_map.items()))})


def main():
    only = set(sys.argv[1:])
    tokenizer = build_tokenizer()
    for fx in FIXTURES:
        if only and fx['name'] not in only:
            continue
        write_fixture(fx, tokenizer)
        size = sum(os.path.getsize(os.path.join(OUT, fx['name'], f)) for f in os.listdir(os.path.join(OUT, fx['name'])))
        print(f"{fx['name']}: {fx['config']['architectures'][0]}, {fx['dtype']}, {size} bytes")


if __name__ == '__main__':
    main()
