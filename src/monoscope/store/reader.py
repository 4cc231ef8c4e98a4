"""Reading an activation store: memory-mapped random access and bounded-memory shuffled batches.

SAE training wants i.i.d. rows from a store that may be far larger than RAM. The shuffled iterator
therefore never holds more than `buffer_tokens` rows (plus one batch of carry-over): it visits shards in a
seeded random order, loads a group of shards that fits the buffer, permutes rows inside the group, and
yields batches. The order is a pure function of (seed, epoch), which is what makes trainer resume exact.

Rows that training should not see are skipped by default, as SAELens and sparsify do: special tokens
(BOS/EOS/padding: `special.npy`) and the first token of every context (with no BOS it is the attention
sink, whose norm is many times the others'; with a BOS it is the BOS). `skip_special=False` /
`skip_first=False` keep them. `keep_rows` is the one definition every reader of a store uses.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..fileio import sha256_file
from .manifest import StoreError, StoreManifest, training_mask

SHARDS_DIR = "shards"


def hook_file(hook: str) -> str:
    return f"act.{hook}.npy"


def to_torch(arr: np.ndarray, stored_dtype: str) -> torch.Tensor:
    """numpy has no bfloat16: bf16 rows are stored as their uint16 bit patterns and reinterpreted here."""
    if stored_dtype == "bfloat16":
        return torch.from_numpy(np.ascontiguousarray(arr).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(arr))


class ActivationStore:
    """A harvested store on disk (see `monoscope.store.harvest`)."""

    def __init__(self, path: str | Path, verify: bool = True):
        self.path = Path(path)
        self.manifest = StoreManifest.load(self.path)
        self.verify = verify
        self._verified: set[str] = set()

    def __repr__(self) -> str:
        m = self.manifest
        return (f"ActivationStore({str(self.path)!r}: {m.n_tokens:,} tokens × {m.d_model} of {m.config.model} "
                f"at {', '.join(m.hooks)}, {len(m.shards)} shards, {m.config.dtype})")

    # ---- metadata ---------------------------------------------------------------------------------
    @property
    def hooks(self) -> list[str]:
        return self.manifest.hooks

    @property
    def d_model(self) -> int:
        return self.manifest.d_model

    @property
    def n_tokens(self) -> int:
        return self.manifest.n_tokens

    def norm_scalar(self, hook: str) -> float:
        return self.manifest.norm_scalar(hook)

    def _check_hook(self, hook: str) -> None:
        if hook not in self.manifest.hooks:
            raise StoreError(f"hook {hook!r} is not in store {self.path}; it holds {', '.join(self.hooks)}")

    @cached_property
    def _offsets(self) -> np.ndarray:
        return np.cumsum([0] + [s.n_tokens for s in self.manifest.shards])

    # ---- shard access -----------------------------------------------------------------------------
    def _shard_file(self, i: int, name: str) -> Path:
        info = self.manifest.shards[i]
        path = self.path / SHARDS_DIR / info.name / name
        if not path.exists():
            raise StoreError(f"shard {info.name} is missing {name} ({path}); the store is incomplete or corrupt")
        if self.verify and str(path) not in self._verified:
            if sha256_file(path) != info.files[name]:
                raise StoreError(f"shard {info.name}: checksum mismatch in {name} ({path}); the file is corrupt. "
                                 f"Delete shards/{info.name} and its manifest entry, or re-harvest")
            self._verified.add(str(path))
        return path

    def shard_array(self, i: int, name: str) -> np.ndarray:
        """A read-only memory map of one shard file (`tokens`, `doc_ids`, `special`, or a hook name)."""
        fname = hook_file(name) if name in self.manifest.hooks else f"{name}.npy"
        return np.load(self._shard_file(i, fname), mmap_mode="r")

    def verify_all(self) -> int:
        """Checksum every file of every shard; returns the number of files checked."""
        n = 0
        for i, info in enumerate(self.manifest.shards):
            for fname in info.files:
                self._shard_file(i, fname)
                n += 1
        return n

    def _locate(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= self.n_tokens):
            raise IndexError(f"token index out of range [0, {self.n_tokens})")
        shard = np.searchsorted(self._offsets, index, side="right") - 1
        return shard, index - self._offsets[shard]

    def get(self, hook: str, index, normalize: bool = False) -> torch.Tensor:
        """Rows at global token indices (random access through memory maps), as float32."""
        self._check_hook(hook)
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        out = self._gather(hook, *self._locate(index))
        return out * self.norm_scalar(hook) if normalize else out

    def tokens(self, index) -> np.ndarray:
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        shard, local = self._locate(index)
        return np.array([self.shard_array(int(s), "tokens")[int(j)] for s, j in zip(shard, local)], dtype=np.int64)

    def iter_shards(self, hook: str) -> Iterator[tuple[int, torch.Tensor, np.ndarray]]:
        """(shard index, float32 activations [n, d], token ids) in store order: for passes that need
        context. Activations are decoded here because a bf16 shard's raw memmap holds bit patterns."""
        self._check_hook(hook)
        for i in range(len(self.manifest.shards)):
            acts = to_torch(self.shard_array(i, hook), self.manifest.config.dtype).float()
            yield i, acts, self.shard_array(i, "tokens")

    # ---- shuffled batches -------------------------------------------------------------------------
    def keep_rows(self, i: int, skip_special: bool = True, skip_first: bool = True) -> np.ndarray:
        """Local row indices of shard i that training reads (see the module docstring)."""
        if not skip_special and not skip_first:
            return np.arange(self.manifest.shards[i].n_tokens)
        return np.nonzero(training_mask(self.shard_array(i, "special"), self.manifest.config.context_len,
                                        skip_special, skip_first))[0]

    def n_rows(self, skip_special: bool = True, skip_first: bool = True) -> int:
        if not skip_special and not skip_first:
            return self.n_tokens
        return int(sum(len(self.keep_rows(i, skip_special, skip_first)) for i in range(len(self.manifest.shards))))

    def batches(self, hook: str, batch_size: int, seed: int = 0, skip_special: bool = True,
                normalize: bool = True, start_batch: int = 0, buffer_tokens: int = 1 << 20,
                shuffle: bool = True, epoch: int = 0, device: str | torch.device = "cpu",
                skip_first: bool = True, part: tuple[int, int] | None = None) -> Iterator[torch.Tensor]:
        """One epoch of float32 batches [batch_size, d_model]; the last partial batch is dropped.

        `start_batch` skips batches without reading their activations, so a resumed trainer continues on
        exactly the rows it would have seen. `part=(lo, hi)` yields rows [lo, hi) of every batch and reads
        only those (a data-parallel rank's slice of the global batch). Peak memory ≈ (buffer_tokens +
        batch_size) × d_model × 4 bytes.
        """
        self._check_hook(hook)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        lo, hi = part if part is not None else (0, batch_size)
        if not 0 <= lo <= hi <= batch_size:
            raise ValueError(f"bad batch slice [{lo}, {hi}) of a batch of {batch_size}")
        width = hi - lo
        rng = np.random.default_rng([seed, epoch])
        n_shards = len(self.manifest.shards)
        order = rng.permutation(n_shards) if shuffle else np.arange(n_shards)
        groups: list[list[int]] = []
        for s in order:
            if groups and sum(self.manifest.shards[j].n_tokens for j in groups[-1]) \
                    + self.manifest.shards[s].n_tokens <= buffer_tokens:
                groups[-1].append(int(s))
            else:
                groups.append([int(s)])
        scale = self.norm_scalar(hook) if normalize else 1.0
        # Rows are handled as references (shard, local row) until a batch is actually due, so skipping
        # batches on resume reads only the cheap `special` masks, never activation files.
        carry = (np.empty(0, np.int64), np.empty(0, np.int64))
        emitted = 0
        for group in groups:
            keep = [self.keep_rows(s, skip_special, skip_first) for s in group]
            shard_ids = np.concatenate([np.full(len(k), s, np.int64) for s, k in zip(group, keep)])
            local = np.concatenate(keep).astype(np.int64)
            perm = rng.permutation(len(local)) if shuffle else np.arange(len(local))
            refs = (np.concatenate([carry[0], shard_ids[perm]]), np.concatenate([carry[1], local[perm]]))
            n_full = len(refs[0]) // batch_size
            if emitted + n_full > start_batch and width > 0:
                # gather at most buffer_tokens rows at a time: a shard larger than the buffer forms a group of
                # its own, and reading all of it at once would break the memory bound
                per_read = max(1, buffer_tokens // width)
                for b0 in range(max(0, start_batch - emitted), n_full, per_read):
                    b1 = min(n_full, b0 + per_read)
                    idx = (np.arange(b0, b1)[:, None] * batch_size + np.arange(lo, hi)[None, :]).reshape(-1)
                    rows = self._gather(hook, refs[0][idx], refs[1][idx])
                    for b in range(b1 - b0):
                        batch = rows[b * width:(b + 1) * width]
                        yield (batch * scale if scale != 1.0 else batch).to(device)
            emitted += n_full
            carry = (refs[0][n_full * batch_size:], refs[1][n_full * batch_size:])

    def _gather(self, hook: str, shard_ids: np.ndarray, local: np.ndarray) -> torch.Tensor:
        out = torch.empty(len(local), self.d_model, dtype=torch.float32)
        for s in np.unique(shard_ids):
            sel = np.nonzero(shard_ids == s)[0]
            order = np.argsort(local[sel], kind="stable")
            arr = self.shard_array(int(s), hook)
            rows = to_torch(arr[local[sel][order]], self.manifest.config.dtype).float()
            out[torch.from_numpy(sel[order])] = rows
        return out
