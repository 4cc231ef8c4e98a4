"""Beyond one device with torch.distributed: data-parallel harvesting and SAE training, and a
feature-sharded SAE for dictionaries too large for one device. CPU runs use gloo, GPUs nccl.

    torchrun --nproc-per-node 8 -m monoscope.distributed.train --store S --out O --mode fs \
        --arch topk --n-latents 1048576 --k 64 --steps 200000
    torchrun --nproc-per-node 8 -m monoscope.distributed.harvest --model M --out S --tokens 100000000

Library use (inside a process that torchrun started; one process is world size 1):

    from monoscope.distributed import init_from_env, train_distributed
    init_from_env()
    res = train_distributed(ActivationStore(S), SAEConfig("topk", d, n, k=64), O, mode="fs", steps=...)

See docs/distributed.md.
"""
from .comm import DistEnv, barrier, current, init_from_env, init_with_file, shard_range, shutdown
from .sharded import ShardedSAE, init_rows
from .trainer import (DistributedTrainer, DistTrainResult, load_rows, merge_checkpoint, read_checkpoint_manifest,
                      train_distributed)


def __getattr__(name):  # harvesting imports the model stack; load it only when asked for
    if name in ("harvest_distributed", "DistHarvestResult"):
        from . import harvest as _h

        return getattr(_h, name)
    raise AttributeError(name)


__all__ = ["DistEnv", "DistTrainResult", "DistributedTrainer", "ShardedSAE", "barrier", "current",
           "harvest_distributed", "init_from_env", "init_rows", "init_with_file", "load_rows",
           "merge_checkpoint", "read_checkpoint_manifest", "shard_range", "shutdown", "train_distributed"]
