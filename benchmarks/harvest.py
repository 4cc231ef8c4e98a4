"""Harvest throughput vs a bare forward pass through the same layers, measured in the same run.

The harvester does more than the forward (tokenises the corpus, copies activations off the model,
writes and checksums shards), so the honest question is how much of the bare forward's speed survives.
Target: ratio ≥ 0.9.

    python benchmarks/harvest.py [--model smollm2-135m] [--tokens 32768] [--device cpu]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from monoscope.corpus import iter_contexts, iter_documents
from monoscope.models import load
from monoscope.store import harvest


def bare_forward_tok_s(lm, hook: str, contexts: list[np.ndarray], batch_size: int) -> float:
    """The same layers, no hooks, no copies: blocks [0..L] of the base model run on pre-tokenised ids."""
    layer = lm.hooked.parse(hook).layer
    parent_path, _, attr = lm.hooked.layers_path.rpartition(".")
    parent = lm.model.get_submodule(parent_path) if parent_path else lm.model
    full = getattr(parent, attr)
    base = lm.model.get_submodule(parent_path.rpartition(".")[0]) if "." in parent_path else parent
    setattr(parent, attr, torch.nn.ModuleList(list(full)[: layer + 1]))
    try:
        ids = torch.from_numpy(np.stack(contexts).astype(np.int64)).to(lm.device)
        with torch.no_grad():
            base(input_ids=ids[:batch_size], use_cache=False)  # warm-up
            t0 = time.perf_counter()
            for i in range(0, len(ids), batch_size):
                base(input_ids=ids[i:i + batch_size], use_cache=False)
            dt = time.perf_counter() - t0
    finally:
        setattr(parent, attr, full)
    return ids.numel() / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--hook", default=None)
    ap.add_argument("--tokens", type=int, default=32_768)
    ap.add_argument("--context-len", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dtype", default="bfloat16", help="storage dtype (the default store is bfloat16)")
    args = ap.parse_args()

    lm = load(args.model, device=args.device)
    hook = args.hook or lm.default_hook()
    n_ctx = args.tokens // args.context_len
    contexts = [c.tokens for _, c in zip(range(n_ctx), iter_contexts(iter_documents("default"), lm.tokenizer,
                                                                      args.context_len))]
    bare, ours = [], []
    for _ in range(args.repeats):  # interleave so drift in machine load hits both sides alike
        bare.append(bare_forward_tok_s(lm, hook, contexts, args.batch_size))
        with tempfile.TemporaryDirectory() as tmp:
            res = harvest(lm, tmp, hooks=hook, n_tokens=n_ctx * args.context_len, context_len=args.context_len,
                          batch_size=args.batch_size, progress=False, dtype=args.dtype)
            ours.append(res.tokens_per_second)
    b, o = max(bare), max(ours)
    import os

    print(f"device: {args.device} ({torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f})   "
          f"model: {args.model}   hook: {hook}   tokens: {n_ctx * args.context_len:,}   model dtype: "
          f"{next(lm.model.parameters()).dtype}   store dtype: {args.dtype}")
    print(f"bare forward through layers 0..{lm.hooked.parse(hook).layer}: {b:,.0f} tok/s")
    print(f"monoscope harvest (tokenise + forward + copy + write + checksum): {o:,.0f} tok/s")
    print(f"ratio harvest / bare forward: {o / b:.3f}   (target ≥ 0.9)")


if __name__ == "__main__":
    main()
