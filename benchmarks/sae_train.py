"""Top-k SAE training speed: our trainer vs two plain PyTorch loops of the same architecture, same run.

All three train the same top-k SAE (unit-norm decoder, Adam, grad clip 1) on the same batches.
  * dense loop   what one writes first: dense encoder, top-k, scatter into a dense [B, n] matrix, dense
                 decoder matmul, autograd
  * sparse loop  the fair baseline: the same, but decoding with `F.embedding_bag` over the k active latents
                 (what eai-sparsify's eager path does), autograd through it
  * ours         dense encoder, then the sparse decoder and sparse backward (Triton on CUDA, embedding_bag on
                 CPU), inside the real `Trainer` (schedules, dead-latent tracking, metrics included)

Roofline: the matmul peak is measured in this run (fp32 on CPU, bf16 on GPU); the ideal top-k cost is
2·d·n (encoder) + 8·d·k (sparse decode, its two gradients, sparse encoder gradient) FLOP per token.

    python benchmarks/sae_train.py                  # CPU: d=256, n=8192, k=32, batch 4096
    python benchmarks/sae_train.py --device cuda    # GPU: d=2304, n=65536, k=64, batch 4096
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from monoscope.sae import SAEConfig, TrainConfig, Trainer


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(B, d, n, device, dtype, reps=5) -> float:
    """FLOP/s of the best of: the encoder-shaped matmul, and a large square matmul."""
    best = 0.0
    for (m, kk, nn) in ((B, d, n), (4096, 4096, 4096) if device.type == "cuda" else (2048, 2048, 2048)):
        a = torch.randn(m, kk, device=device, dtype=dtype)
        b = torch.randn(kk, nn, device=device, dtype=dtype)
        a @ b
        sync(device)
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = max(best, 2 * m * kk * nn * reps / (time.perf_counter() - t))
    return best


def plain_loop(batches, d, n, k, lr, device, autocast, steps, warmup):
    """The straightforward implementation (dense decode, autograd), same recipe and init."""
    g = torch.Generator().manual_seed(0)
    W = torch.randn(n, d, generator=g)
    W /= W.norm(dim=1, keepdim=True)
    W_enc = W.clone().to(device).requires_grad_()
    W_dec = W.clone().to(device).requires_grad_()
    b_enc = torch.zeros(n, device=device, requires_grad=True)
    b_dec = torch.zeros(d, device=device, requires_grad=True)
    params = [W_enc, b_enc, W_dec, b_dec]
    opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
    t0 = None
    for s in range(warmup + steps):
        if s == warmup:
            sync(device)
            t0 = time.perf_counter()
        x = batches[s % len(batches)].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            z = F.linear(x, W_enc, b_enc)
            v, i = z.topk(k, dim=-1)
            f = torch.zeros_like(z).scatter(-1, i, v.relu())
            xh = f @ W_dec.to(f.dtype) + b_dec.to(f.dtype)
            loss = (x - xh.float()).pow(2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            W_dec.grad -= (W_dec.grad * W_dec).sum(1, keepdim=True) * W_dec
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            W_dec /= W_dec.norm(dim=1, keepdim=True)
    sync(device)
    return steps * batches[0].shape[0] / (time.perf_counter() - t0)


def sparse_loop(batches, d, n, k, lr, device, autocast, steps, warmup):
    """The plain loop with a sparse decoder: x̂ = embedding_bag(indices, W_dec, weights=values) + b_dec."""
    g = torch.Generator().manual_seed(0)
    W = torch.randn(n, d, generator=g)
    W /= W.norm(dim=1, keepdim=True)
    W_enc = W.clone().to(device).requires_grad_()
    W_dec = W.clone().to(device).requires_grad_()
    b_enc = torch.zeros(n, device=device, requires_grad=True)
    b_dec = torch.zeros(d, device=device, requires_grad=True)
    params = [W_enc, b_enc, W_dec, b_dec]
    opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
    t0 = None
    for s in range(warmup + steps):
        if s == warmup:
            sync(device)
            t0 = time.perf_counter()
        x = batches[s % len(batches)].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            z = F.linear(x, W_enc, b_enc)
        v, i = z.float().topk(k, dim=-1)
        xh = F.embedding_bag(i, W_dec, per_sample_weights=v.relu(), mode="sum") + b_dec
        loss = (x - xh).pow(2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            W_dec.grad -= (W_dec.grad * W_dec).sum(1, keepdim=True) * W_dec
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            W_dec /= W_dec.norm(dim=1, keepdim=True)
    sync(device)
    return steps * batches[0].shape[0] / (time.perf_counter() - t0)


def ours(batches, d, n, k, lr, device, steps, warmup):
    cfg = SAEConfig("topk", d_in=d, n_latents=n, k=k)
    # the baselines' optimiser work exactly (Adam 0.9/0.999, clip 1), whatever the package's top-k recipe
    tc = TrainConfig(steps=warmup + steps + 1, batch_size=batches[0].shape[0], lr=lr, device=str(device),
                     norm_scalar=None, progress=False, log_every=10 ** 9, checkpoint_every=0, lr_decay_frac=0.0,
                     betas=(0.9, 0.999), grad_clip=1.0, b_dec_init="zeros")
    tr = Trainer(batches, cfg, tc)
    tr.run(stop_after=warmup)
    sync(device)
    t = time.perf_counter()
    tr.run(stop_after=steps)
    sync(device)
    return steps * batches[0].shape[0] / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--d", type=int, default=0)
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--k", type=int, default=0)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="alternate plain/ours this many times; report medians")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    device = torch.device(a.device)
    gpu = device.type == "cuda"
    d = a.d or (2304 if gpu else 256)
    n = a.n or (65536 if gpu else 8192)
    k = a.k or (64 if gpu else 32)
    steps = a.steps or (20 if gpu else 4)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    batches = [torch.randn(a.batch, d) for _ in range(4)]
    if gpu:
        batches = [b.to(device) for b in batches]
    lr = 2e-4
    dtype = torch.bfloat16 if gpu else torch.float32
    peak = matmul_peak(a.batch, d, n, device, dtype)
    plain_r, sparse_r, ours_r = [], [], []
    for _ in range(a.rounds):
        plain_r.append(plain_loop(batches, d, n, k, lr, device, gpu, steps, a.warmup))
        sparse_r.append(sparse_loop(batches, d, n, k, lr, device, gpu, steps, a.warmup))
        ours_r.append(ours(batches, d, n, k, lr, device, steps, a.warmup))
    p, sp, o = statistics.median(plain_r), statistics.median(sparse_r), statistics.median(ours_r)
    ideal = 2 * d * n + 8 * d * k
    roof = peak / ideal
    dense_flop = 10 * d * n                                     # what the plain loop's matmuls cost
    print(f"device {device} ({torch.get_num_threads()} threads)" if not gpu else f"device {torch.cuda.get_device_name()}")
    print(f"top-k SAE d={d} n={n:,} k={k} batch={a.batch}, {steps} timed steps × {a.rounds} rounds")
    print(f"matmul peak measured: {peak / 1e9:,.1f} GFLOP/s ({str(dtype).replace('torch.', '')})")
    print(f"ideal cost {ideal / 1e6:.2f} MFLOP/token → roofline {roof:,.0f} tokens/s "
          f"(plain loop's matmuls: {dense_flop / 1e6:.2f} MFLOP/token)")
    print(f"plain PyTorch loop : {p:>12,.0f} tokens/s   (rounds: {', '.join(f'{x:,.0f}' for x in plain_r)})")
    print(f"sparse-decoder loop: {sp:>12,.0f} tokens/s   (rounds: {', '.join(f'{x:,.0f}' for x in sparse_r)})")
    print(f"monoscope trainer  : {o:>12,.0f} tokens/s   (rounds: {', '.join(f'{x:,.0f}' for x in ours_r)})")
    print(f"speed-up ours/plain: {o / p:.2f}×, ours/sparse-decoder loop: {o / sp:.2f}×")
    print(f"fraction of roofline: ours {o / roof:.1%}, sparse loop {sp / roof:.1%}, plain {p / roof:.1%}")


if __name__ == "__main__":
    main()
