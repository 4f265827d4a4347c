#!/usr/bin/env python3
"""PyTorch CUDA peer of the GPU benchmark (scripts/gpu-bench.sh): the cases whose figures the script
prints for our WebGPU path, at the same sizes and in the same units, timed with CUDA events (median of
the timed runs after warm-up runs; each run synchronised):

  matmul n^3          fp32 (TF32 off: the fp32 peak is the comparison), and TF32 for reference; GFLOP/s = 2n^3/t
  attention fwd+bwd   B4 H4 T1024 D32 causal, F.scaled_dot_product_attention; GFLOP/s = 7*B*H*T^2*D/t
                      (the convention of packages/kernels/bench/attention.bench.ts)
  logprob fwd+bwd     N2048 V32768: log_softmax + gather, backward to the logits; Melem/s = N*V/t
  train step          the d128 L4 H4 decoder (RMSNorm, RoPE, SwiGLU, tied embeddings: the Decoder of
                      torch-decoder.py), T128 B4, cross-entropy + backward + AdamW over all parameters; tokens/s
  decode              that model, batch 8, 16-token prompts, 128 new tokens sampled with a KV cache; tokens/s

Writes one JSON report (--out) and prints a line per case. Without torch or without CUDA it writes
{"skipped": reason} and exits 0, so the GPU script goes on.
  python3 scripts/bench/torch-gpu.py --out bench-results/gpu/torch-cuda.json [--quick] [--matmul-sizes 1024,4096]
"""
import argparse
import importlib.util
import json
import math
import os
import statistics
import sys
import time


def write(path, report):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(report, f, indent=2)
        f.write('\n')
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--quick', action='store_true', help="the bench suites' quick sizes (a smoke run)")
    ap.add_argument('--matmul-sizes', default='1024,4096')
    ap.add_argument('--device', default='cuda', help='cuda, or cpu to test this script without a GPU')
    args = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(f'torch-gpu: skipped, torch is not importable ({e})')
        write(args.out, {'skipped': f'torch not importable: {e}'})
        return
    if args.device == 'cuda' and not torch.cuda.is_available():
        print(f'torch-gpu: skipped, torch {torch.__version__} sees no CUDA device')
        write(args.out, {'skipped': f'torch {torch.__version__}: no CUDA device', 'torch': torch.__version__})
        return
    dev = torch.device(args.device)
    cuda = dev.type == 'cuda'

    def timed(fn, iterations, warmup=2):
        for _ in range(warmup):
            fn()
        samples = []
        for _ in range(iterations):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                torch.cuda.synchronize()
                start.record()
                fn()
                end.record()
                torch.cuda.synchronize()
                samples.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - t0) * 1000)
        return statistics.median(samples)

    results = []

    def record(case, ms, work, unit, **params):
        throughput = work / (ms / 1000) / {'GFLOP/s': 1e9, 'Melem/s': 1e6, 'tokens/s': 1}[unit]
        results.append({'case': case, 'median_ms': ms, 'throughput': throughput, 'unit': unit, 'params': params})
        print(f'  {case:44s} {ms:9.3f} ms {throughput:12.1f} {unit}', flush=True)

    q = args.quick
    gen = torch.Generator(device=dev).manual_seed(0)
    print(f'torch {torch.__version__} on {torch.cuda.get_device_name(dev) if cuda else "cpu"}', flush=True)

    # matmul, fp32 (no TF32) and TF32
    sizes = [256] if q else [int(n) for n in args.matmul_sizes.split(',')]
    for n in sizes:
        a = torch.randn(n, n, device=dev, generator=gen)
        b = torch.randn(n, n, device=dev, generator=gen)
        for tf32 in ([False] if not cuda else [False, True]):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            ms = timed(lambda: a @ b, 3 if q else 20)
            record(f'matmul {n}x{n}x{n}' + (' tf32' if tf32 else ''), ms, 2 * n ** 3, 'GFLOP/s', M=n, K=n, N=n, tf32=tf32)
        torch.backends.cuda.matmul.allow_tf32 = False

    # attention forward + backward
    B, H, T, D = (4, 4, 64, 32) if q else (4, 4, 1024, 32)
    qkv = [torch.randn(B, H, T, D, device=dev, generator=gen, requires_grad=True) for _ in range(3)]
    dout = torch.randn(B, H, T, D, device=dev, generator=gen)

    mask = torch.full((T, T), float('-inf'), device=dev).triu(1)

    def attention():
        if hasattr(F, 'scaled_dot_product_attention'):  # torch >= 2.0 (the fused kernels)
            out = F.scaled_dot_product_attention(*qkv, is_causal=True)
        else:
            out = torch.softmax(qkv[0] @ qkv[1].transpose(-1, -2) / math.sqrt(D) + mask, -1) @ qkv[2]
        torch.autograd.grad(out, qkv, dout)
    record(f'attention fwd+bwd B{B} H{H} T{T} D{D}', timed(attention, 3 if q else 20), 7 * B * H * T * T * D, 'GFLOP/s', B=B, H=H, T=T, D=D, causal=True)

    # log-probs forward + backward
    N, V = (256, 32768) if q else (2048, 32768)
    logits = torch.randn(N, V, device=dev, generator=gen, requires_grad=True)
    targets = torch.randint(0, V, (N,), device=dev, generator=gen)
    dlogp = torch.randn(N, device=dev, generator=gen)

    def logprob():
        lp = torch.log_softmax(logits, -1).gather(1, targets[:, None])[:, 0]
        torch.autograd.grad(lp, logits, dlogp)
    record(f'logprob fwd+bwd N={N} V={V}', timed(logprob, 3 if q else 20), N * V, 'Melem/s', N=N, V=V)

    # the model bench's model: train step and decode
    spec = importlib.util.spec_from_file_location('torch_decoder', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'torch-decoder.py'))
    td = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(td)
    shape = {'vocabSize': 259, 'dModel': 128, 'nLayers': 4, 'nHeads': 4, 'nKvHeads': 4, 'headDim': 32, 'dFF': 512,
             'qkvBias': False, 'ropeBase': 10000.0, 'normEps': 1e-6}
    torch.manual_seed(0)
    model = td.Decoder(shape).to(dev)
    Vm = shape['vocabSize']
    Tt, Bt = (32, 4) if q else (128, 4)
    ids = torch.randint(0, Vm, (Bt, Tt), device=dev, generator=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train():
        out = model(ids)
        loss = F.cross_entropy(out[:, :-1].reshape(-1, Vm), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    record(f'train step d128 L4 H4 T{Tt} B{Bt}', timed(train, 3 if q else 10), Bt * Tt, 'tokens/s', T=Tt, batch=Bt)

    Bd, P, Nd = 8, 16, (16 if q else 128)
    prompt = torch.randint(0, Vm, (Bd, P), device=dev, generator=gen)

    def decode():
        with torch.no_grad():
            cache = [(torch.zeros(Bd, shape['nKvHeads'], P + Nd, shape['headDim'], device=dev),
                      torch.zeros(Bd, shape['nKvHeads'], P + Nd, shape['headDim'], device=dev)) for _ in range(shape['nLayers'])]
            out = model(prompt, cache, 0)[:, -1]
            past = P
            for _ in range(Nd):
                nxt = torch.multinomial(torch.softmax(out, -1), 1, generator=gen)
                out = model(nxt, cache, past)[:, -1]
                past += 1
    record(f'generate {Nd} tokens B{Bd} with KV cache', timed(decode, 2 if q else 5, warmup=1), Bd * Nd, 'tokens/s', newTokens=Nd, batch=Bd, prompt=P)

    write(args.out, {'suite': 'torch-cuda' if cuda else 'torch-cpu', 'date': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                     'torch': torch.__version__, 'device': torch.cuda.get_device_name(dev) if cuda else 'cpu',
                     'command': ' '.join([os.path.basename(sys.executable)] + sys.argv), 'results': results})


if __name__ == '__main__':
    main()
