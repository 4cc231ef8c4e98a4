"""Process-group plumbing (torch.distributed): one place that knows about torchrun's environment and the backends.

Every function here also works without a process group (a plain `python` run is world size 1), so the
1-rank path of each distributed algorithm is the same code as the W-rank path, and tests compare them.

    torchrun --nproc-per-node 2 -m monoscope train ...     # env:// rendezvous
    init_from_env()        # reads RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT

Backend: nccl when the rank's device is CUDA, gloo otherwise (CPU runs and tests).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def backend(self) -> str | None:
        return dist.get_backend() if is_initialized() else None


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def pick_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    if device == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    d = torch.device(device)
    if d.type == "cuda" and d.index is None:
        d = torch.device(f"cuda:{local_rank}")
    return d


def init_from_env(device: str = "auto", timeout_s: float = 600.0) -> DistEnv:
    """Join the process group torchrun describes in the environment (or stay single-process if there is
    none). Idempotent: a second call returns the current environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    dev = pick_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        kw = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s), **kw)
    return current(dev)


def init_with_file(rank: int, world: int, rdv_file: str, device: str = "cpu",
                   timeout_s: float = 120.0) -> DistEnv:
    """Join a process group through a shared file (spawned test workers: no ports to collide)."""
    dev = pick_device(device, rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"file://{rdv_file}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=timeout_s))
    return current(dev)


def current(device: torch.device | str | None = None) -> DistEnv:
    if is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    dev = torch.device(device) if device is not None else pick_device("auto", local_rank)
    return DistEnv(rank=rank, world=world, local_rank=local_rank, device=dev)


def shutdown() -> None:
    if is_initialized():
        dist.destroy_process_group()


# ---- collectives that degrade to no-ops on one process ------------------------------------------
def barrier() -> None:
    if is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def all_reduce_(t: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """In-place all-reduce (sum | max | min); returns t."""
    if is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX,
                               "min": dist.ReduceOp.MIN}[op])
    return t


def broadcast_(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    """In-place broadcast of rank `src`'s tensor; returns t."""
    if is_initialized() and dist.get_world_size() > 1:
        dist.broadcast(t, src)
    return t


def all_gather_cat(t: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Concatenate equally-shaped tensors from all ranks along `dim` (rank order)."""
    if not (is_initialized() and dist.get_world_size() > 1):
        return t
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=dim)


def broadcast_object(obj, src: int = 0):
    if not (is_initialized() and dist.get_world_size() > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_objects(obj) -> list:
    if not (is_initialized() and dist.get_world_size() > 1):
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


class _SumPartials(torch.autograd.Function):
    """Forward: all-reduce-sum partial results. Backward: identity.

    Used where every rank then computes the *same* loss from the summed tensor (feature sharding: the
    decoder's partial reconstructions). dL/d(partial_r) = dL/d(sum) on every rank, which each rank already
    holds, so no collective is needed on the way back.
    """

    @staticmethod
    def forward(ctx, t):
        out = t.clone()
        return all_reduce_(out, "sum")

    @staticmethod
    def backward(ctx, g):
        return g


def sum_partials(t: torch.Tensor) -> torch.Tensor:
    if not (is_initialized() and dist.get_world_size() > 1):
        return t
    return _SumPartials.apply(t)


def shard_range(n: int, world: int, rank: int) -> tuple[int, int]:
    """Contiguous, near-equal split of range(n): the first n % world ranks get one extra."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)
