"""Beyond one device with torch.distributed: data-parallel harvesting, and SAE training over many
processes with the one trainer (`monoscope.sae.Trainer` with strategy "dp" or "fs"). CPU runs use gloo,
GPUs nccl.

    torchrun --nproc-per-node 8 -m monoscope train --store S --out O --strategy fs \
        --arch topk --latents 1048576 --k 64 --steps 200000
    torchrun --nproc-per-node 8 -m monoscope train --model M --hooks resid_post.12 --out O --strategy dp ...
    torchrun --nproc-per-node 8 -m monoscope.distributed.harvest --model M --out S --tokens 100000000

Library use (inside a process that torchrun started; one process is world size 1):

    from monoscope.distributed import init_from_env, train_distributed
    init_from_env()
    res = train_distributed(ActivationStore(S), SAEConfig("topk", d, n, k=64), O, mode="fs", steps=...)

See docs/distributed.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..comm import DistEnv, barrier, current, init_from_env, init_with_file, shard_range, shutdown
from ..sae.checkpoint import load_rows, merge_checkpoint, read_checkpoint_manifest
from ..sae.sharded import ShardedSAE, init_rows


def train_distributed(data: Any, cfg, out_dir: str | Path | None = None, train_cfg=None, *, mode: str = "dp",
                      resume: bool = False, hook: str | None = None, **train_overrides):
    """`monoscope.sae.train_sae` on the current process group with strategy `mode` ("dp" or "fs"); call
    after `init_from_env()` (e.g. under torchrun)."""
    from ..sae.trainer import train_sae

    return train_sae(data, cfg, out_dir, train_cfg, resume=resume, hook=hook, strategy=mode, **train_overrides)


def __getattr__(name):  # harvesting imports the model stack; load it only when asked for
    if name in ("harvest_distributed", "DistHarvestResult"):
        from . import harvest as _h

        return getattr(_h, name)
    raise AttributeError(name)


__all__ = ["DistEnv", "ShardedSAE", "barrier", "current", "harvest_distributed", "init_from_env", "init_rows",
           "init_with_file", "load_rows", "merge_checkpoint", "read_checkpoint_manifest", "shard_range", "shutdown",
           "train_distributed"]
