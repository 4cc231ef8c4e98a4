"""Global batches and per-rank slices of them, reproducing the single-process trainer's order exactly.

Data parallelism splits every *global* batch of B rows into W disjoint slices of B/W rows (rank r takes
rows [r·B/W, (r+1)·B/W)); the global batch sequence is the one `monoscope.sae.Trainer` would draw from
the same store and seed, so a W-rank run sees exactly the rows of a 1-rank run, step for step.

For an activation store, each rank reads only its own rows: `StoreSlices` replays the store reader's
shuffle (a pure function of seed and epoch, see `ActivationStore.batches`) and gathers just the slice.
Other sources (factories, iterables; e.g. synthetic data) produce the global batch and slice it.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from ..sae.config import SAEError
from ..sae.data import DataSource, is_store


def _reader_default(name: str, fallback: Any) -> Any:
    """A default of ActivationStore.batches (buffer size), read from its signature so the replay stays in
    step with the reader if that default changes."""
    try:
        from ..store.reader import ActivationStore

        p = inspect.signature(ActivationStore.batches).parameters[name]
        return p.default if p.default is not inspect.Parameter.empty else fallback
    except Exception:  # noqa: BLE001
        return fallback


def store_slice_batches(store, hook: str, batch_size: int, lo: int, hi: int, seed: int = 0, epoch: int = 0,
                        start_batch: int = 0, skip_special: bool = True, normalize: bool = True,
                        buffer_tokens: int | None = None) -> Iterator[torch.Tensor]:
    """Rows [lo, hi) of each batch that `store.batches(hook, batch_size, seed=seed, epoch=epoch, …)` would
    yield, reading only those rows. Mirrors the reader's shard grouping and in-group permutation."""
    if buffer_tokens is None:
        buffer_tokens = _reader_default("buffer_tokens", 1 << 20)
    m = store.manifest
    rng = np.random.default_rng([seed, epoch])
    n_shards = len(m.shards)
    order = rng.permutation(n_shards)
    groups: list[list[int]] = []
    for s in order:
        if groups and sum(m.shards[j].n_tokens for j in groups[-1]) + m.shards[s].n_tokens <= buffer_tokens:
            groups[-1].append(int(s))
        else:
            groups.append([int(s)])
    scale = store.norm_scalar(hook) if normalize else 1.0
    carry = (np.empty(0, np.int64), np.empty(0, np.int64))
    emitted = 0
    width = hi - lo
    for group in groups:
        keep = [np.nonzero(~np.asarray(store.shard_array(s, "special")))[0] if skip_special
                else np.arange(m.shards[s].n_tokens) for s in group]
        shard_ids = np.concatenate([np.full(len(k), s, np.int64) for s, k in zip(group, keep)])
        local = np.concatenate(keep).astype(np.int64)
        perm = rng.permutation(len(local))
        refs = (np.concatenate([carry[0], shard_ids[perm]]), np.concatenate([carry[1], local[perm]]))
        n_full = len(refs[0]) // batch_size
        if emitted + n_full > start_batch and width > 0:
            first = max(0, start_batch - emitted)
            idx = (np.arange(first, n_full)[:, None] * batch_size + np.arange(lo, hi)[None, :]).reshape(-1)
            rows = store._gather(hook, refs[0][idx], refs[1][idx])
            for b in range(n_full - first):
                batch = rows[b * width:(b + 1) * width]
                yield batch * scale if scale != 1.0 else batch
        emitted += n_full
        carry = (refs[0][n_full * batch_size:], refs[1][n_full * batch_size:])


class BatchStream:
    """The global batch sequence of a run, as seen by one rank: the whole batch, or rows [lo, hi)."""

    def __init__(self, data: Any, batch_size: int, hook: str | None = None, seed: int = 0,
                 lo: int = 0, hi: int | None = None):
        self.source = DataSource(data, batch_size, hook=hook, seed=seed)
        self.batch_size, self.seed = batch_size, seed
        self.lo, self.hi = lo, (batch_size if hi is None else hi)
        if not 0 <= self.lo <= self.hi <= batch_size:
            raise SAEError(f"bad batch slice [{self.lo}, {self.hi}) of a batch of {batch_size}")
        self.kind = self.source.kind
        self.d_in, self.hook, self.model = self.source.d_in, self.source.hook, self.source.model
        self.store_norm_scalar = self.source.store_norm_scalar
        # Reading only our rows needs the concrete reader's internals; anything else slices the batch.
        self._native_slices = self.kind == "store" and all(
            hasattr(data, a) for a in ("_gather", "shard_array", "norm_scalar"))

    @property
    def full(self) -> bool:
        return self.lo == 0 and self.hi == self.batch_size

    def describe(self) -> str:
        return self.source.describe()

    def peek_global(self, n: int) -> list[torch.Tensor]:
        return self.source.peek_batches(n)

    def iterate(self, start_batch: int = 0) -> Iterator[torch.Tensor]:
        if self.full or not self._native_slices:
            it = self.source.iterate(start_batch)
            if self.full:
                return it
            return (b[self.lo:self.hi] for b in it)
        return self._store_slices(start_batch)

    def _store_slices(self, start: int) -> Iterator[torch.Tensor]:
        bpe = self.source.batches_per_epoch
        epoch, within = divmod(start, bpe)
        while True:
            n = 0
            for b in store_slice_batches(self.source.data, self.hook, self.batch_size, self.lo, self.hi,
                                         seed=self.seed, epoch=epoch, start_batch=within,
                                         skip_special=self.source.skip_special, normalize=True):
                n += 1
                yield b if b.dtype == torch.float32 else b.float()
            if n == 0 and within == 0:
                return
            epoch, within = epoch + 1, 0


def auto_norm_scalar(peek: list[torch.Tensor], d_in: int) -> float:
    """The trainer's estimate for non-store data: c with E‖c·x‖² = d over the first batches."""
    if not peek:
        raise SAEError("the training data yielded no batches")
    xs = torch.cat([b for b in peek if torch.isfinite(b).all()] or [peek[0]])
    if xs.shape[-1] != d_in:
        raise SAEError(f"activations have width {xs.shape[-1]}, but the SAE has d_in={d_in}")
    ms = float(xs.double().pow(2).sum(-1).mean())
    if not (ms > 0 and math.isfinite(ms)):
        raise SAEError("cannot estimate a normalisation scalar: the first batches are all zero or non-finite; "
                       "pass norm_scalar=1.0 (or a value) explicitly")
    return math.sqrt(d_in / ms)


__all__ = ["BatchStream", "auto_norm_scalar", "is_store", "store_slice_batches"]
