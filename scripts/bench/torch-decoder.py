#!/usr/bin/env python3
"""PyTorch CPU peer of the real-shape model benchmarks (packages/autograd/bench/hf-shapes.bench.ts).

The same decoder as repirl's DecoderLM in Llama / Qwen2 form (RMSNorm, RoPE rotate-half, grouped-query
attention, SwiGLU, optional q/k/v biases, tied embeddings), float32, random weights (std 0.02),
written here from the math (no transformers). One case per run, timed here, one JSON line out:

  {"case": ..., "threads": n, "median_ms": ..., "samples": [...], "tokens": ..., "torch": "1.13.1"}

Cases (the shapes and batch the TypeScript bench uses, passed in as JSON):
  prefill  one forward over [batch, T] ids to logits (no grad)
  decode   batch sequences of `prompt` ids, then `new_tokens` steps of one token with a KV cache,
           sampling each token from softmax(logits) (torch.multinomial, seeded)
  train    one LoRA step: forward + token cross-entropy + backward + AdamW on the adapters only
           (rank r on q/k/v/o, the base frozen), as packages/autograd/src/lora does; without
           loraRank in the shape (or 0), one full step: AdamW over every parameter
Shape keys besides the model's: tiedEmbeddings (default true; false gives the LM head its own
[vocab, d] weight, as repirl's DecoderLM without tied embeddings).

Run with Debian's interpreter and OpenBLAS, the two OpenBLAS variables unset for this process only:
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 scripts/bench/torch-decoder.py \
      --case prefill --threads 1 --iterations 2 --shape '{"dModel": 576, ...}'
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F


class Decoder(torch.nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        d, h, kv, hd, ff, v = s['dModel'], s['nHeads'], s['nKvHeads'], s['headDim'], s['dFF'], s['vocabSize']
        std = 0.02
        self.embed = torch.nn.Parameter(torch.randn(v, d) * std)
        self.head = None if s.get('tiedEmbeddings', True) else torch.nn.Parameter(torch.randn(v, d) * std)
        self.layers = torch.nn.ModuleList()
        for _ in range(s['nLayers']):
            layer = torch.nn.Module()
            layer.norm1 = torch.nn.Parameter(torch.ones(d))
            layer.q = torch.nn.Linear(d, h * hd, bias=s['qkvBias'])
            layer.k = torch.nn.Linear(d, kv * hd, bias=s['qkvBias'])
            layer.v = torch.nn.Linear(d, kv * hd, bias=s['qkvBias'])
            layer.o = torch.nn.Linear(h * hd, d, bias=False)
            layer.norm2 = torch.nn.Parameter(torch.ones(d))
            layer.gate = torch.nn.Linear(d, ff, bias=False)
            layer.up = torch.nn.Linear(d, ff, bias=False)
            layer.down = torch.nn.Linear(ff, d, bias=False)
            for lin in (layer.q, layer.k, layer.v, layer.o, layer.gate, layer.up, layer.down):
                torch.nn.init.normal_(lin.weight, std=std)
                if lin.bias is not None:
                    torch.nn.init.zeros_(lin.bias)
            self.layers.append(layer)
        self.normf = torch.nn.Parameter(torch.ones(d))
        inv = 1.0 / (s['ropeBase'] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        self.register_buffer('inv_freq', inv.float(), persistent=False)
        self.lora = None

    def rms(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.s['normEps']))

    def rope(self, x, pos):  # x [B, H, T, D], pos [T]
        f = pos[:, None].float() * self.inv_freq[None, :]
        emb = torch.cat((f, f), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        half = x.shape[-1] // 2
        rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rot * sin

    def proj(self, i, name, x):
        y = getattr(self.layers[i], name)(x)
        if self.lora is not None and (i, name) in self.lora:
            a, b, scale = self.lora[(i, name)]
            y = y + (x @ a.t()) @ b.t() * scale
        return y

    def forward(self, ids, cache=None, past=0):
        s = self.s
        B, T = ids.shape
        h, kv, hd = s['nHeads'], s['nKvHeads'], s['headDim']
        x = self.embed[ids]
        pos = torch.arange(past, past + T, device=ids.device)
        for i, layer in enumerate(self.layers):
            a = self.rms(x, layer.norm1)
            q = self.proj(i, 'q', a).view(B, T, h, hd).transpose(1, 2)
            k = self.proj(i, 'k', a).view(B, T, kv, hd).transpose(1, 2)
            v = self.proj(i, 'v', a).view(B, T, kv, hd).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if cache is not None:
                cache[i][0][:, :, past:past + T] = k
                cache[i][1][:, :, past:past + T] = v
                k, v = cache[i][0][:, :, :past + T], cache[i][1][:, :, :past + T]
            # Grouped-query attention: query head j reads kv head j // (h / kv).
            rep = h // kv
            k = k[:, :, None].expand(B, kv, rep, k.shape[2], hd).reshape(B, h, k.shape[2], hd)
            v = v[:, :, None].expand(B, kv, rep, v.shape[2], hd).reshape(B, h, v.shape[2], hd)
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
            if T > 1:
                S = k.shape[2]
                mask = torch.full((T, S), float('-inf'), device=ids.device).triu(S - T + 1)
                scores = scores + mask
            att = torch.softmax(scores, dim=-1) @ v
            x = x + self.proj(i, 'o', att.transpose(1, 2).reshape(B, T, h * hd))
            m = self.rms(x, layer.norm2)
            x = x + self.proj(i, 'down', F.silu(self.proj(i, 'gate', m)) * self.proj(i, 'up', m))
        return self.rms(x, self.normf) @ (self.embed if self.head is None else self.head).t()


def timed(fn, iterations):
    fn(warmup=True)  # untimed: full size for prefill and train (first allocations), 2 steps for decode
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn(warmup=False)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--case', choices=['prefill', 'decode', 'train'], required=True)
    ap.add_argument('--shape', required=True, help='JSON: the model shape and the case sizes')
    ap.add_argument('--threads', type=int, default=0, help='torch.set_num_threads (0: the default)')
    ap.add_argument('--iterations', type=int, default=2)
    args = ap.parse_args()
    s = json.loads(args.shape)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Decoder(s)
    model.requires_grad_(False)
    gen = torch.Generator().manual_seed(1)
    V = s['vocabSize']

    if args.case == 'prefill':
        B, T = s['batch'], s['T']
        ids = torch.randint(0, V, (B, T), generator=gen)

        def run(warmup):
            with torch.no_grad():
                model(ids)
        tokens = B * T
    elif args.case == 'decode':
        B, P, N = s['batch'], s['prompt'], s['newTokens']
        prompt = torch.randint(0, V, (B, P), generator=gen)

        def run(warmup):
            steps = 2 if warmup else N
            with torch.no_grad():
                cache = [(torch.zeros(B, s['nKvHeads'], P + steps, s['headDim']), torch.zeros(B, s['nKvHeads'], P + steps, s['headDim'])) for _ in range(s['nLayers'])]
                logits = model(prompt, cache, 0)[:, -1]
                past = P
                for _ in range(steps):
                    nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)
                    logits = model(nxt, cache, past)[:, -1]
                    past += 1
        tokens = B * N
    else:
        B, T = s['batch'], s['T']
        if s.get('loraRank'):
            r, alpha = s['loraRank'], s['loraAlpha']
            d, hd = s['dModel'], s['headDim']
            outs = {'q': s['nHeads'] * hd, 'k': s['nKvHeads'] * hd, 'v': s['nKvHeads'] * hd, 'o': d}
            ins = {'q': d, 'k': d, 'v': d, 'o': s['nHeads'] * hd}
            lora, params = {}, []
            for i in range(s['nLayers']):
                for name in s['loraTargets']:
                    a = torch.empty(r, ins[name]).uniform_(-1 / math.sqrt(ins[name]), 1 / math.sqrt(ins[name])).requires_grad_()
                    b = torch.zeros(outs[name], r).requires_grad_()
                    lora[(i, name)] = (a, b, alpha / r)
                    params += [a, b]
            model.lora = lora
        else:  # a full step: every parameter trains
            model.requires_grad_(True)
            params = list(model.parameters())
        opt = torch.optim.AdamW(params, lr=1e-4)
        ids = torch.randint(0, V, (B, T), generator=gen)

        def run(warmup):
            logits = model(ids)
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        tokens = B * T

    samples = timed(run, args.iterations)
    print(json.dumps({'case': args.case, 'threads': torch.get_num_threads(), 'median_ms': statistics.median(samples),
                      'samples': samples, 'tokens': tokens, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
