"""How the processes of a run share one training step: the trainer's only distributed knowledge.

`monoscope.sae.Trainer` runs one loop; a strategy answers the questions on which one process and many
differ — which rows of each batch this rank reads, which latents it holds, how a flag, a statistic or a
gradient becomes global. Three strategies:

* `Local` — one process, the whole SAE (also what every strategy reduces to on one rank).
* `DataParallel` ("dp") — every rank holds the whole SAE inside `torch.nn.parallel.DistributedDataParallel`
  and reads a disjoint slice of each global batch (rank r: rows [r·B/W, (r+1)·B/W)); DDP averages the
  gradients of the local mean losses, which is the gradient of the global mean loss, so every rank takes the
  same Adam step. Per-token architectures only (an architecture that selects across the batch, like
  batchtopk, would select differently per rank). Training from the model, each rank runs the forward on its
  own contexts.
* `FeatureSharded` ("fs") — every rank sees the whole batch and holds n/W latents (`sharded.ShardedSAE`;
  topk and relu). Training from the model, rank 0 runs the forward and broadcasts each batch.

All three run the same recipe: a W-rank run equals a 1-rank run up to floating-point summation order
(tested with 2 gloo processes). CPU runs use gloo, GPUs nccl (`monoscope.comm`).
"""
from __future__ import annotations

import torch
import torch.distributed as dist

from .. import comm
from .config import SAEConfig, SAEError
from .sharded import SHARDABLE, ShardedSAE

STRATEGIES = ("local", "dp", "fs")


class Local:
    """One process holds the whole SAE and reads whole batches."""

    name = "local"
    replicated_stream = False          # True: rank 0 reads the model stream and broadcasts its batches

    def __init__(self, device: str | torch.device | None = None):
        env = comm.current(comm.pick_device(str(device) if device is not None else "auto", comm.current().local_rank))
        self.env = env
        self.rank, self.world, self.device = env.rank, env.world, env.device

    def describe(self) -> str:
        return f"{self.name}×{self.world}" if self.world > 1 else "1 process"

    # ---- data -------------------------------------------------------------------------------------
    def batch_part(self, batch_size: int) -> tuple[int, int] | None:
        """Rows of each global batch this rank reads (None: all of them)."""
        return None

    def stream_part(self) -> tuple[int, int]:
        """(part, parts) of a model stream's contexts this rank forwards."""
        return 0, 1

    def global_rows(self, local_rows: int) -> int:
        return local_rows

    # ---- the SAE ----------------------------------------------------------------------------------
    def check(self, cfg: SAEConfig, batch_size: int) -> None:
        pass

    def latent_rows(self, cfg: SAEConfig) -> tuple[int, int]:
        return 0, cfg.n_latents

    def build(self, cfg: SAEConfig, seed: int | None):
        """The module this rank trains, initialised from `seed` (None: left for a checkpoint to fill)."""
        from .formats import build_sae

        sae = build_sae(cfg)
        if seed is not None:
            sae.init_weights(torch.Generator().manual_seed(seed))
        return sae.to(self.device)

    def wrap(self, module):
        """What the trainer calls for the forward pass (DDP for data parallelism)."""
        return module

    # ---- collectives of one step ------------------------------------------------------------------
    def all_ok(self, ok: bool) -> bool:
        return ok

    def batch_mean(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(0)

    def count_dead(self, n_local: int) -> int:
        return n_local

    def after_backward(self, module) -> None:
        pass

    def clip(self, module, max_norm: float) -> None:
        torch.nn.utils.clip_grad_norm_(module.parameters(), max_norm)

    def reduce_step(self, stats: torch.Tensor, fired: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return stats, fired

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """Sum over ranks that read different data (dp); the identity where every rank reads the same."""
        return t

    # ---- checkpoints and export -------------------------------------------------------------------
    def writes_rows(self) -> bool:
        return self.rank == 0

    def gather_full(self, module, cfg: SAEConfig):
        """The whole SAE (training space) on rank 0; None elsewhere. Every rank of a data-parallel run holds
        it already."""
        return module if self.rank == 0 else None


class DataParallel(Local):
    """Replicated SAE in DistributedDataParallel; each rank reads B/W rows of every batch."""

    name = "dp"

    def check(self, cfg: SAEConfig, batch_size: int) -> None:
        from .architectures import ARCHITECTURE_CLASSES

        if getattr(ARCHITECTURE_CLASSES[cfg.architecture], "selects_across_batch", False):
            raise SAEError(f"data-parallel training needs an architecture that encodes each token on its own; "
                           f"{cfg.architecture} selects latents across the whole batch, which would differ per "
                           f"rank (use strategy fs with topk/relu, or one process)")
        if batch_size % self.world:
            raise SAEError(f"the batch size {batch_size} must be divisible by the world size {self.world} (each rank "
                           f"takes B/W rows of every batch)")

    def batch_part(self, batch_size: int) -> tuple[int, int] | None:
        if self.world == 1:
            return None
        return self.rank * batch_size // self.world, (self.rank + 1) * batch_size // self.world

    def stream_part(self) -> tuple[int, int]:
        return self.rank, self.world

    def global_rows(self, local_rows: int) -> int:
        return local_rows * self.world

    def wrap(self, module):
        if self.world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)

    def all_ok(self, ok: bool) -> bool:
        if self.world == 1:
            return ok
        t = torch.tensor([0.0 if ok else 1.0], device=self.device)
        return float(comm.all_reduce_(t, "max")[0]) == 0.0

    def batch_mean(self, x: torch.Tensor) -> torch.Tensor:
        s = comm.all_reduce_(x.sum(0, dtype=torch.float32), "sum")
        return s / self.global_rows(x.shape[0])

    def reduce_step(self, stats, fired):
        if self.world == 1:
            return stats, fired
        packed = comm.all_reduce_(torch.cat([stats, fired.float()]), "sum")
        n = stats.numel()
        return packed[:n] / self.world, packed[n:] > 0

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        return comm.all_reduce_(t, "sum")


class FeatureSharded(Local):
    """Each rank holds n/W latents and reads the whole batch (see `sharded.ShardedSAE`)."""

    name = "fs"
    replicated_stream = True

    def check(self, cfg: SAEConfig, batch_size: int) -> None:
        if cfg.architecture not in SHARDABLE:
            raise SAEError(f"feature sharding supports {', '.join(SHARDABLE)}, not {cfg.architecture!r}")
        if cfg.n_latents < self.world:
            raise SAEError(f"{cfg.n_latents} latents cannot be split over {self.world} ranks")

    def latent_rows(self, cfg: SAEConfig) -> tuple[int, int]:
        return comm.shard_range(cfg.n_latents, self.world, self.rank)

    def build(self, cfg: SAEConfig, seed: int | None):
        lo, hi = self.latent_rows(cfg)
        sae = ShardedSAE(cfg, lo, hi)
        if seed is not None:
            sae.init_weights(seed)
        return sae.to(self.device)

    def count_dead(self, n_local: int) -> int:
        if self.world == 1:
            return n_local
        return int(comm.all_reduce_(torch.tensor([n_local], device=self.device), "sum")[0])

    @torch.no_grad()
    def after_backward(self, module) -> None:
        g = module.b_dec.grad                       # the same on every rank; averaged for safety
        if self.world > 1 and g is not None:
            comm.all_reduce_(g, "sum").div_(self.world)

    @torch.no_grad()
    def clip(self, module, max_norm: float) -> None:
        """torch.nn.utils.clip_grad_norm_ over the *global* parameter set."""
        if self.world == 1:
            return super().clip(module, max_norm)
        sq = torch.zeros((), dtype=torch.float32, device=self.device)
        for p in module.sharded_parameters():
            if p.grad is not None:
                sq += p.grad.float().pow(2).sum()
        comm.all_reduce_(sq.reshape(1), "sum")
        for p in module.replicated_parameters():
            if p.grad is not None:
                sq += p.grad.float().pow(2).sum()
        coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
        for p in module.parameters():
            if p.grad is not None:
                p.grad.mul_(coef.to(p.grad.dtype))

    def writes_rows(self) -> bool:
        return True

    @torch.no_grad()
    def gather_full(self, module, cfg: SAEConfig, chunk_rows: int = 1 << 16):
        """fs shards are sent to rank 0 in row chunks, so no device ever holds more than its shard plus one
        chunk per rank."""
        from .formats import build_sae

        n, d, W = cfg.n_latents, cfg.d_in, self.world
        ranges = [comm.shard_range(n, W, r) for r in range(W)]
        max_rows = max(h - l for l, h in ranges)
        full_t = {"W_enc": torch.empty(n, d), "b_enc": torch.empty(n), "W_dec": torch.empty(n, d)} \
            if self.rank == 0 else None
        for name in ("W_enc", "b_enc", "W_dec"):
            local = getattr(module, name).detach()
            for c in range(0, max_rows, chunk_rows):
                m = min(chunk_rows, max_rows - c)
                piece = torch.zeros((m,) + tuple(local.shape[1:]), dtype=local.dtype, device=local.device)
                have = max(0, min(m, local.shape[0] - c))
                if have:
                    piece[:have] = local[c:c + have]
                if W > 1:
                    bucket = [torch.empty_like(piece) for _ in range(W)] if self.rank == 0 else None
                    dist.gather(piece, bucket, dst=0)
                else:
                    bucket = [piece]
                if self.rank == 0:
                    for r, (lo, hi) in enumerate(ranges):
                        take = max(0, min(m, hi - lo - c))
                        if take:
                            full_t[name][lo + c:lo + c + take] = bucket[r][:take].cpu()
        if self.rank != 0:
            return None
        full = build_sae(cfg)
        full_t["b_dec"] = module.b_dec.detach().cpu()
        full.load_state_dict(full_t)
        return full


def make_strategy(name: str = "local", device: str | torch.device | None = None) -> Local:
    """A strategy by name, on the current process group (world size 1 without one: "dp" and "fs" then
    reduce to one process running the same code)."""
    classes = {"local": Local, "dp": DataParallel, "fs": FeatureSharded}
    if name not in classes:
        raise SAEError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    return classes[name](device)
