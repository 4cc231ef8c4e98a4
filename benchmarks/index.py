"""Indexing throughput vs the SAE encode alone, measured in the same run on the same store and batches.

The indexing pass must encode every token anyway; everything else it does (non-zero extraction, top-k
merge with windows, histograms, reservoirs, background windows, checkpoints) is overhead on top of that.
The honest question is how much of the bare encode's speed survives. Target: ratio ≥ 0.7.

Both passes read the same shards from the store (memory-mapped), in the same batches, on the same device;
they alternate (encode, index, encode, index, ...) so a machine whose load changes hurts both alike, and
the ratio of medians is reported. Per-feature post-processing (logit effects, neighbours, map) does not
depend on the number of tokens and is timed separately.

    python benchmarks/index.py [--model smollm2-135m] [--tokens 131072] [--n-latents 16384] [--density 0.004]
                               [--store DIR] [--sae DIR] [--device cpu] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def encode_only(sae, store, hook: str, batch_tokens: int, device: str) -> tuple[float, int]:
    """The baseline: read + convert + encode every row, nothing else."""
    from monoscope.store.reader import to_torch

    dtype = store.manifest.config.dtype
    n = 0
    t0 = time.perf_counter()
    for i in range(len(store.manifest.shards)):
        acts = store.shard_array(i, hook)
        for a in range(0, acts.shape[0], batch_tokens):
            x = to_torch(np.array(acts[a:a + batch_tokens]), dtype).to(device=device, dtype=torch.float32)
            with torch.no_grad():
                f = sae.encode(x)
            if f.is_cuda:
                torch.cuda.synchronize()
            n += x.shape[0]
    return time.perf_counter() - t0, n


def index_pass(sae, store, hook: str, batch_tokens: int, device: str, out: Path, update_threads: int | None = None):
    from monoscope.features.index import IndexConfig, run_pass

    res = run_pass(sae, store, hook, IndexConfig(), out / "state.pt", device=device, batch_tokens=batch_tokens,
                   progress=False, checkpoint_seconds=60.0, state_meta={"bench": True}, update_threads=update_threads)
    (out / "state.pt").unlink(missing_ok=True)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return res


def random_relu_sae(store, n_latents: int, hook: str, density: float, seed: int = 0, sample_rows: int = 4096):
    """A `monoscope.sae` ReLU SAE with random unit directions, each bias set so the feature fires on about
    `density` of a sample of the store's rows: an index-speed workload with a realistic sparsity (the
    index's cost depends on how many activations are non-zero, not on what they mean)."""
    import numpy as np

    from monoscope.sae import SAEConfig, build_sae

    sae = build_sae(SAEConfig("relu", d_in=store.d_model, n_latents=n_latents, hook=hook,
                              model=store.manifest.config.model, decoder_init_norm=1.0))
    sae.init_weights(torch.Generator().manual_seed(seed))
    rows = np.sort(np.random.default_rng(seed).choice(store.n_tokens, size=min(sample_rows, store.n_tokens),
                                                      replace=False))
    with torch.no_grad():
        pre = store.get(hook, rows) @ sae.W_enc.T
        k = min(pre.shape[0], max(1, int(round((1 - density) * pre.shape[0]))))
        sae.b_enc.copy_(-pre.kthvalue(k, dim=0).values)
    return sae.eval().requires_grad_(False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--tokens", type=int, default=131_072)
    ap.add_argument("--context-len", type=int, default=128)
    ap.add_argument("--n-latents", type=int, default=16_384)
    ap.add_argument("--density", type=float, default=0.004, help="per-feature firing rate of the toy SAE "
                    "(0.004 × 16384 ≈ L0 65)")
    ap.add_argument("--store", default=None, help="an existing activation store (default: harvest one)")
    ap.add_argument("--sae", default=None, help="an SAE directory (default: a toy ReLU SAE with --density)")
    ap.add_argument("--batch-tokens", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--update-threads", type=int, default=0, help="threads for the index's state update "
                    "(0: all, like the encode; 1 is faster on a machine shared with other jobs)")
    ap.add_argument("--postprocess", action="store_true", help="also build the full database once")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default); 1 is steadier "
                    "on a shared, loaded machine")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from monoscope.features.index import auto_batch_tokens, build_feature_db, load_sae
    from monoscope.store import ActivationStore, harvest

    tmp = Path(tempfile.mkdtemp(prefix="monoscope-bench-index-"))
    if args.store:
        store = ActivationStore(args.store)
    else:
        print(f"harvesting {args.tokens:,} tokens of {args.model} (not timed) ...", flush=True)
        store = harvest(args.model, tmp / "store", n_tokens=args.tokens, context_len=args.context_len,
                        progress=False).store
    hook = store.hooks[0]
    if args.sae:
        sae = load_sae(args.sae, device=args.device)
        hook = getattr(sae.cfg, "hook", hook)
    else:
        sae = random_relu_sae(store, args.n_latents, hook, args.density).to(args.device)
    n = int(sae.W_dec.shape[0])
    bt = args.batch_tokens or auto_batch_tokens(n, store.manifest.config.context_len)
    print(f"store: {store.n_tokens:,} tokens of {store.manifest.config.model} at {hook}, {store.manifest.config.dtype}; "
          f"SAE: {n} latents; batch {bt} rows; device {args.device}; torch threads {torch.get_num_threads()}")

    encode_only(sae, store, hook, bt, args.device)  # warm-up (page cache, kernels)
    enc_rates, idx_rates, ckpt, l0 = [], [], [], None
    for r in range(args.repeats):
        dt, rows = encode_only(sae, store, hook, bt, args.device)
        enc_rates.append(rows / dt)
        res = index_pass(sae, store, hook, bt, args.device, tmp, args.update_threads or None)
        idx_rates.append(res.new_tokens / res.seconds)
        ckpt.append(res.checkpoint_seconds / res.seconds)
        l0 = float(res.state.n_active.sum()) / max(1, res.state.n_tokens)
        print(f"  repeat {r + 1}: encode alone {enc_rates[-1]:,.0f} tok/s   index pass {idx_rates[-1]:,.0f} tok/s   "
              f"ratio {idx_rates[-1] / enc_rates[-1]:.3f}", flush=True)
    enc, idx = statistics.median(enc_rates), statistics.median(idx_rates)
    print(f"mean L0 {l0:.1f}; index state {res.state.nbytes() / 1e6:.0f} MB (bounded by features, not tokens)")
    print(f"encode alone: {enc:,.0f} tok/s (median of {args.repeats})")
    print(f"index pass:   {idx:,.0f} tok/s (median of {args.repeats})")
    print(f"ratio index / encode = {idx / enc:.3f}   (target ≥ 0.7); the pass includes its end-of-pass "
          f"checkpoint ({100 * statistics.median(ckpt):.1f}% of its time here; a fixed cost per run)")
    if args.postprocess:
        t0 = time.perf_counter()
        db = build_feature_db(sae, store, tmp / "db", progress=False, batch_tokens=bt, device=args.device)
        total = time.perf_counter() - t0
        print(f"full build: {total:.1f}s, of which post-processing (logit effects, neighbours, map, writing) "
              f"{db.manifest['stats']['postprocess_seconds']:.1f}s; {db}")


if __name__ == "__main__":
    main()
