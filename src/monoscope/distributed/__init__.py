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
from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    'DistEnv': 'monoscope.comm',
    'barrier': 'monoscope.comm',
    'current': 'monoscope.comm',
    'init_from_env': 'monoscope.comm',
    'init_with_file': 'monoscope.comm',
    'shard_range': 'monoscope.comm',
    'shutdown': 'monoscope.comm',
    'load_rows': 'monoscope.sae.checkpoint',
    'merge_checkpoint': 'monoscope.sae.checkpoint',
    'read_checkpoint_manifest': 'monoscope.sae.checkpoint',
    'ShardedSAE': 'monoscope.sae.sharded',
    'init_rows': 'monoscope.sae.sharded',
    'train_distributed': 'train',
    'harvest_distributed': 'harvest',
})
