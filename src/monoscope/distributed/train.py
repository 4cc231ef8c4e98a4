"""Entry point for torchrun: distributed SAE training on one activation store.

    torchrun --standalone --nproc-per-node 8 -m monoscope.distributed.train \
        --store /data/store --out /ckpt/sae-1m --mode fs --arch topk --n-latents 1048576 --k 64 \
        --steps 200000 --batch-size 4096

    # several nodes (run on each; node ranks 0..NNODES-1; MASTER = node 0's address)
    torchrun --nnodes 4 --nproc-per-node 8 --node-rank $NODE_RANK --rdzv-backend c10d \
        --rdzv-endpoint $MASTER:29500 --rdzv-id sae-1m -m monoscope.distributed.train ... --resume

`--resume` continues the run in --out (any world size; see monoscope.distributed.trainer). Rank 0 prints a
JSON summary on the last line.
"""
from __future__ import annotations

import argparse
import json
import sys

from . import comm


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m monoscope.distributed.train",
                                 description="distributed SAE training (run under torchrun)")
    ap.add_argument("--store", required=True, help="activation store directory")
    ap.add_argument("--out", required=True, help="output directory (checkpoints, metrics, the SAE)")
    ap.add_argument("--mode", choices=("dp", "fs"), default="dp",
                    help="dp: data parallel (replicated SAE); fs: feature sharded (latents split over ranks)")
    ap.add_argument("--hook", default=None)
    ap.add_argument("--arch", default="topk", help="topk | relu (both modes) | jumprelu (dp)")
    ap.add_argument("--n-latents", type=int, required=True)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--l1-coeff", type=float, default=5.0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=4096, help="global batch (rows per step, all ranks)")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint-every", type=int, default=1000)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--dead-tokens", type=int, default=10_000_000)
    ap.add_argument("--device", default="auto", help="auto (cuda:LOCAL_RANK if present) | cpu")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    from ..sae.config import SAEConfig
    from ..sae.trainer import TrainConfig
    from ..store.reader import ActivationStore
    from .trainer import DistributedTrainer

    env = comm.init_from_env(a.device)
    try:
        store = ActivationStore(a.store)
        cfg = SAEConfig(a.arch, d_in=store.d_model, n_latents=a.n_latents,
                        k=a.k if a.arch in ("topk", "batchtopk") else None, l1_coeff=a.l1_coeff)
        tcfg = TrainConfig(steps=a.steps, tokens=a.tokens, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                           checkpoint_every=a.checkpoint_every, log_every=a.log_every, dead_tokens=a.dead_tokens,
                           device=str(env.device), progress=not a.no_progress)
        res = DistributedTrainer(store, cfg, tcfg, a.out, mode=a.mode, resume=a.resume, hook=a.hook,
                                 env=env).run()
        if env.is_main:
            print(json.dumps({"out": str(res.out_dir), "steps": res.steps, "tokens": res.tokens,
                              "seconds": round(res.seconds, 3), "tokens_per_second": res.tokens_per_second,
                              "world": res.world, "mode": res.mode, "last": res.metrics}), flush=True)
    finally:
        comm.shutdown()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
