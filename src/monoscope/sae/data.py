"""Where training batches come from, with an exact, resumable position.

The trainer counts batches it has drawn (including skipped NaN/inf ones) and, on resume, asks the source
for an iterator that starts at that count. Supported sources:

* an activation store (`monoscope.store.ActivationStore`, duck-typed: `.batches`, `.manifest`): shuffled
  epochs with the store's normalisation scalar; epoch e uses seed (seed, e), so position p is epoch
  p // batches_per_epoch, batch p % batches_per_epoch.
* a factory `f(start_batch) -> iterator of tensors` (e.g. `SyntheticData.factory`): exact.
* a re-iterable (list, tuple, dataset object): epochs repeat it; exact if iteration is deterministic.
* a one-shot iterator: consumed in order; resuming skips the first `start_batch` items of the iterator
  you pass, so pass a fresh, identical iterator to resume exactly. It ends training when exhausted.

Training straight from a model (no store) is `monoscope.sae.streaming.ActivationStream`, which keeps its own
cursor. `part=(lo, hi)` makes every batch rows [lo, hi) of the global batch (a data-parallel rank's slice; a
store then reads only those rows).
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any, Callable

import torch

from .config import SAEError


def is_store(obj: Any) -> bool:
    return hasattr(obj, "batches") and hasattr(obj, "manifest") and hasattr(obj, "norm_scalar")


class DataSource:
    def __init__(self, data: Any, batch_size: int, hook: str | None = None, seed: int = 0,
                 skip_special: bool = True, skip_first: bool = True, part: tuple[int, int] | None = None):
        self.data, self.batch_size, self.seed, self.skip_special = data, batch_size, seed, skip_special
        self.skip_first = skip_first
        self.part = None if part is None or tuple(part) == (0, batch_size) else tuple(part)
        if self.part is not None and not 0 <= self.part[0] <= self.part[1] <= batch_size:
            raise SAEError(f"bad batch slice {self.part} of a batch of {batch_size}")
        self.hook = hook
        self.store_norm_scalar: float | None = None
        self.d_in: int | None = None
        self.model: str | None = None
        self.kind: str
        self._iterator_used = False
        if is_store(data):
            self.kind = "store"
            hooks = list(data.manifest.hooks)
            if hook is None:
                if len(hooks) != 1:
                    raise SAEError(f"the store holds several hooks ({', '.join(hooks)}); say which one (hook=...)")
                self.hook = hooks[0]
            elif hook not in hooks:
                raise SAEError(f"hook {hook!r} is not in the store; it holds {', '.join(hooks)}")
            self.d_in = int(data.manifest.d_model)
            self.store_norm_scalar = float(data.norm_scalar(self.hook))
            try:
                self.model = data.manifest.config.model
            except AttributeError:
                self.model = None
            n_rows = _store_rows(data, skip_special, skip_first)
            self.batches_per_epoch = n_rows // batch_size
            if self.batches_per_epoch == 0:
                raise SAEError(f"the store has {n_rows:,} usable rows, fewer than one batch of {batch_size:,}")
        elif callable(data) and not isinstance(data, Iterable):
            self.kind = "factory"
        elif isinstance(data, Iterator):
            self.kind = "iterator"
        elif isinstance(data, Iterable):
            self.kind = "iterable"
        else:
            raise SAEError(f"cannot train on a {type(data).__name__}: pass an ActivationStore, an iterable of "
                           f"[batch, d_in] tensors, or a factory start_batch -> iterator")

    def describe(self) -> str:
        if self.kind == "store":
            return f"store {getattr(self.data, 'path', '?')} hook {self.hook}"
        return self.kind

    def identity(self) -> dict:
        """What a resumed run must read again (compared on resume; a store may move, so no path)."""
        if self.kind != "store":
            return {"kind": self.kind}
        cfg = getattr(self.data.manifest, "config", None)
        fp = cfg.fingerprint() if hasattr(cfg, "fingerprint") else None
        content = self.data.manifest.content_id() if hasattr(self.data.manifest, "content_id") else None
        return {"kind": "store", "model": self.model, "corpus": getattr(cfg, "corpus", None), "fingerprint": fp,
                "store_id": content, "tokens": getattr(self.data.manifest, "n_tokens", None),
                "skip_special": self.skip_special, "skip_first": self.skip_first}

    def excluded(self) -> list[str]:
        """What training skips, in words (for the SAE config)."""
        if self.kind != "store":
            return []
        return (["the first token of every context"] if self.skip_first else []) + \
            (["special tokens (BOS/EOS/padding)"] if self.skip_special else [])

    def iterate(self, start_batch: int = 0) -> Iterator[torch.Tensor]:
        """Batches from position `start_batch` on (raw, as float32 [B, d]); stores yield normalised rows."""
        it = self._global_iter(start_batch) if self.kind != "store" else self._store_iter(start_batch)
        if self.part is None or self.kind == "store":
            return it
        lo, hi = self.part
        return (b[lo:hi] for b in it)

    def _global_iter(self, start_batch: int) -> Iterator[torch.Tensor]:
        if self.kind == "factory":
            return (_as_batch(b) for b in self.data(start_batch))
        if self.kind == "iterator":
            if self._iterator_used:
                raise SAEError("a one-shot iterator can only be read once; pass a factory or a list to allow "
                               "several passes")
            self._iterator_used = True
            return (_as_batch(b) for b in itertools.islice(self.data, start_batch, None))
        return self._iterable_iter(start_batch)

    def _store_iter(self, start: int) -> Iterator[torch.Tensor]:
        epoch, within = divmod(start, self.batches_per_epoch)
        while True:
            n = 0
            kw: dict[str, Any] = {"skip_first": self.skip_first}
            if self.part is not None:
                kw["part"] = self.part
            for b in self.data.batches(self.hook, self.batch_size, seed=self.seed, epoch=epoch,
                                       start_batch=within, skip_special=self.skip_special, normalize=True, **kw):
                n += 1
                yield _as_batch(b)
            if n == 0 and within == 0:
                return
            epoch, within = epoch + 1, 0

    def _iterable_iter(self, start: int) -> Iterator[torch.Tensor]:
        if hasattr(self.data, "__len__") and len(self.data):
            start %= len(self.data)
        return (_as_batch(b) for b in itertools.islice(self._cycle(), start, None))

    def _cycle(self) -> Iterator[Any]:
        while True:
            got = False
            for b in self.data:
                got = True
                yield b
            if not got:
                return

    def peek_batches(self, n: int) -> list[torch.Tensor]:
        """The first n batches (for estimating a normalisation scalar); does not consume an iterator."""
        if self.kind == "iterator":
            first = list(itertools.islice(self.data, n))
            self.data = itertools.chain(first, self.data)
            return [_as_batch(b) for b in first]
        if self.kind == "store":
            return list(itertools.islice(self._store_iter(0), n))
        return list(itertools.islice(self._global_iter(0), n))


def _store_rows(store: Any, skip_special: bool, skip_first: bool) -> int:
    if not hasattr(store, "n_rows"):
        return int(store.n_tokens)
    try:
        return int(store.n_rows(skip_special, skip_first))
    except TypeError:                       # a store-like object without the skip_first option
        return int(store.n_rows(skip_special))


def _as_batch(b: Any) -> torch.Tensor:
    if isinstance(b, (tuple, list)) and b and isinstance(b[0], torch.Tensor):
        b = b[0]
    if not isinstance(b, torch.Tensor):
        try:
            b = torch.as_tensor(b)
        except Exception as e:  # noqa: BLE001
            raise SAEError(f"a training batch must be a tensor [batch, d_in], got {type(b).__name__}") from e
    if b.ndim == 1:
        b = b[None]
    if b.ndim > 2:
        b = b.reshape(-1, b.shape[-1])
    return b if b.dtype == torch.float32 else b.float()


Factory = Callable[[int], Iterator[torch.Tensor]]
