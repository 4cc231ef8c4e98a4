"""Training straight from the model: its throughput against its two halves, and N SAEs per pass vs N runs.

All figures come from one process, interleaved over `--repeats` rounds (best of each), so machine load
hits every side alike:

    forward alone    the stream's forward passes (contexts through the layers up to the deepest hook,
                     stopping there), activations copied off the model: tokens/s
    train alone      the same SAE's optimizer steps on batches already in memory: tokens/s
    streaming        `Trainer` on an `ActivationStream` (forward + mixing buffer + step, prefetching in a
                     background thread so the two overlap): tokens/s in steady state (after warm-up steps)
    ratio            streaming / min(forward alone, train alone)        target ≥ 0.85
    N per pass       N SAEs trained from one stream vs N separate streaming runs: the wall-time ratio, and
                     what SAEs 2..N add to the first one's run as a fraction of their own separate runs

    python benchmarks/streaming.py                                  # SmolLM2 middle layer, CPU-sized
    python benchmarks/streaming.py --device cuda --tokens 1048576 --batch 4096 --latents 16384
    python benchmarks/streaming.py --tokens 8192 --batch 512 --latents 1024 --repeats 1   # a quick check
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from monoscope.sae import ActivationStream, SAEConfig, SAESpec, TrainConfig, Trainer


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, load average "
            f"{os.getloadavg()[0]:.2f} (torch {torch.__version__})")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def forward_alone(st: ActivationStream, n_ctx: int) -> float:
    """Tokens/s of the forward passes the stream runs (pre-tokenised, same batching, same early stop)."""
    from itertools import islice

    from monoscope.corpus import iter_contexts, iter_documents

    ctxs = [c.tokens for c in islice(iter_contexts(iter_documents(st.corpus), st.lm.tokenizer, st.context_len),
                                     n_ctx)]
    ids = torch.from_numpy(np.stack(ctxs).astype(np.int64)).to(st.device)
    mb = st.model_batch
    st.lm.hooked.run_to(st.points, input_ids=ids[:mb])               # warm-up
    sync(st.device)
    t0 = time.perf_counter()
    for i in range(0, len(ids), mb):
        cache = st.lm.hooked.run_to(st.points, input_ids=ids[i:i + mb])
        torch.stack([cache[p].reshape(-1, cache[p].shape[-1]) for p in st.points], 1).to(torch.bfloat16)
    sync(st.device)
    return ids.numel() / (time.perf_counter() - t0)


def tcfg(a, steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=a.batch, lr=1e-3, progress=False, log_every=10 ** 9,
                       checkpoint_every=0, lr_decay_frac=0.0, device=a.device)


def timed(tr: Trainer, warm: int, steps: int, device) -> float:
    tr.run(stop_after=warm)
    sync(device)
    t0 = time.perf_counter()
    tr.run(stop_after=steps)
    sync(device)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--hooks", default="", help="default: the middle resid_post")
    ap.add_argument("--corpus", default="default")
    ap.add_argument("--tokens", type=int, default=65_536, help="timed tokens per measurement")
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--latents", type=int, default=8192)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--n-saes", type=int, default=3, help="SAEs per pass (all of --latents, unless --widths)")
    ap.add_argument("--widths", default="", help="comma-separated widths of the N SAEs (default: N × --latents)")
    ap.add_argument("--context-len", type=int, default=128)
    ap.add_argument("--model-batch", type=int, default=16)
    ap.add_argument("--buffer-tokens", type=int, default=1 << 16)
    ap.add_argument("--warmup-steps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", default="", help="also write the figures here")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    mk = dict(hooks=a.hooks or None, context_len=a.context_len, model_batch=a.model_batch,
              buffer_tokens=a.buffer_tokens, norm_tokens=min(a.buffer_tokens, 4 * a.batch), device=a.device)
    st = ActivationStream(a.model, a.corpus, **mk)
    d = st.d_in
    steps = max(1, a.tokens // a.batch)
    n_ctx = -(-a.tokens // a.context_len)
    cfg = SAEConfig("topk", d, a.latents, k=a.k, hook=st.hooks[0])
    # batches for "train alone", drawn once from the stream itself
    it = st.open(None, a.batch, prefetch=0)
    mem = [next(it)[st.hooks[0]].to(device) for _ in range(min(steps + a.warmup_steps, 16))]
    fwd, train, stream, together, separate = [], [], [], [], []
    widths = [int(w) for w in a.widths.split(",")] if a.widths else [a.latents] * a.n_saes
    a.n_saes = len(widths)
    for _ in range(a.repeats):
        fwd.append(forward_alone(st, n_ctx))
        tr = Trainer(mem, cfg, tcfg(a, 10 ** 9))
        train.append(steps * a.batch / timed(tr, a.warmup_steps, steps, device))
        tr = Trainer(ActivationStream(st.lm, a.corpus, **{**mk, "hooks": st.hooks}), cfg, tcfg(a, 10 ** 9))
        stream.append(steps * a.batch / timed(tr, a.warmup_steps, steps, device))
        specs = [SAESpec(SAEConfig("topk", d, n, k=a.k, hook=st.hooks[0]), name=f"sae{i}")
                 for i, n in enumerate(widths)]
        together.append(timed(Trainer(ActivationStream(st.lm, a.corpus, **{**mk, "hooks": st.hooks}), specs,
                                      tcfg(a, 10 ** 9)), a.warmup_steps, steps, device))
        separate.append([timed(Trainer(ActivationStream(st.lm, a.corpus, **{**mk, "hooks": st.hooks}), s.cfg,
                                       tcfg(a, 10 ** 9)), a.warmup_steps, steps, device) for s in specs])
    f, t, s = max(fwd), max(train), max(stream)
    tog = min(together)
    sep = [min(x[i] for x in separate) for i in range(a.n_saes)]
    res = {"machine": machine(device), "model": a.model, "hooks": st.hooks, "d": d, "latents": a.latents, "k": a.k,
           "batch": a.batch, "timed_tokens": steps * a.batch, "forward_tok_s": f, "train_tok_s": t,
           "stream_tok_s": s, "ratio_vs_slower": s / min(f, t), "n_saes": a.n_saes, "widths": widths,
           "together_s": tog, "separate_s": sep, "together_over_separate": tog / sum(sep),
           "extra_sae_cost": (tog - sep[0]) / max(sum(sep[1:]), 1e-9)}
    print(f"machine: {res['machine']}")
    print(f"model {a.model} at {', '.join(st.hooks)} (d={d}); top-k SAE n={a.latents:,} k={a.k}, batch {a.batch}, "
          f"{steps * a.batch:,} timed tokens, best of {a.repeats}")
    print(f"forward alone   : {f:>12,.0f} tokens/s")
    print(f"train alone     : {t:>12,.0f} tokens/s")
    print(f"streaming       : {s:>12,.0f} tokens/s   ratio to the slower: {res['ratio_vs_slower']:.2f}  (target ≥ 0.85)")
    print(f"{a.n_saes} SAEs (n = {', '.join(f'{w:,}' for w in widths)}) from one stream: {tog:.2f} s; "
          f"{a.n_saes} separate runs: {' + '.join(f'{x:.2f}' for x in sep)} = {sum(sep):.2f} s; "
          f"ratio {res['together_over_separate']:.2f}")
    print(f"cost of the extra SAEs: {res['extra_sae_cost']:.2f} × their separate runs (0 = free, 1 = no saving)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
