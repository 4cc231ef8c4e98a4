"""Harvest: run a model over a corpus and write the activations at chosen hook points to a store.

Design choices, each for a reason:
- one forward per batch serves every requested hook, and the forward stops right after the deepest one
  (a middle-layer harvest costs half a model, not a whole one);
- shards are written by a background thread into a temp directory and renamed into place, then the
  manifest is replaced atomically, so a killed run leaves only complete shards and resumes after the last;
- the context stream is a pure function of (corpus, tokenizer, context_len), so resume is "skip the first
  n_contexts contexts" and a store of a different configuration is refused rather than mixed;
- activations are stored in bfloat16 by default (half the disk of float32; SAE training upcasts each batch,
  and the FVU cost is measured in docs/distributed.md); `dtype="float32"` keeps full precision;
- before the first forward, the bytes the harvest will write are compared with the free disk, and a harvest
  that cannot fit is refused (nothing is written).
"""
from __future__ import annotations

import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import __version__
from ..fileio import sha256_file
from ..models import LoadedModel, load
from ..resources import DTYPE_BYTES, free_disk, human_bytes
from .manifest import HarvestConfig, ShardInfo, StoreError, StoreManifest, training_mask
from .reader import SHARDS_DIR, ActivationStore, hook_file

DEFAULT_DTYPE = "bfloat16"
STORAGE_DTYPES = ("bfloat16", "float32")
ROW_META_BYTES = 4 + 8 + 1        # tokens (int32) + doc_ids (int64) + special (bool), per token


@dataclass
class HarvestResult:
    store: ActivationStore
    seconds: float
    new_tokens: int
    resumed_from: int

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else float("nan")


def _to_storage(x: torch.Tensor, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        return x.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    return x.float().numpy()


def _write_shard(root: Path, name: str, arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """Write one shard's files into a temp dir, checksum them, and rename the dir into place."""
    shards = root / SHARDS_DIR
    tmp = shards / f"{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    files = {}
    for fname, arr in arrays.items():
        path = tmp / fname
        np.save(path, arr)
        files[fname] = sha256_file(path)
    final = shards / name
    if final.exists():  # a previous run wrote it but died before recording it in the manifest
        shutil.rmtree(final)
    os.rename(tmp, final)
    return files


@dataclass
class HarvestPlan:
    """What a harvest will write, and whether it fits on the disk."""

    new_tokens: int
    n_hooks: int
    d_model: int
    dtype: str
    free_bytes: int
    path: Path

    @property
    def bytes(self) -> int:
        return self.new_tokens * (self.n_hooks * self.d_model * DTYPE_BYTES[self.dtype] + ROW_META_BYTES)

    def describe(self) -> str:
        return (f"harvest plan: {self.new_tokens:,} tokens × {self.n_hooks} hook(s) × d={self.d_model} × "
                f"{DTYPE_BYTES[self.dtype]} B ({self.dtype}) + {ROW_META_BYTES} B/token of ids = "
                f"{human_bytes(self.bytes)} to {self.path}; free disk {human_bytes(self.free_bytes)}")

    def check(self) -> None:
        if self.bytes > self.free_bytes:
            raise StoreError(f"refusing to harvest: it needs {human_bytes(self.bytes)} ({self.new_tokens:,} tokens × "
                             f"{self.n_hooks} hook(s) × {self.d_model} × {DTYPE_BYTES[self.dtype]} B + ids) but "
                             f"{self.path} has {human_bytes(self.free_bytes)} free; harvest fewer --tokens or hooks, "
                             f"store bfloat16, free space, or train from the model with `monoscope train --model`")


def plan_harvest(out: str | Path, new_tokens: int, n_hooks: int, d_model: int, dtype: str) -> HarvestPlan:
    return HarvestPlan(max(0, int(new_tokens)), n_hooks, d_model, dtype, free_disk(out), Path(out))


def check_dtype(dtype: str) -> None:
    if dtype not in STORAGE_DTYPES:
        raise StoreError(f"storage dtype must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")


def _batched(it: Iterable, n: int) -> Iterator[list]:
    it = iter(it)
    while chunk := list(islice(it, n)):
        yield chunk


def harvest(model: str | LoadedModel, out: str | Path, hooks: Iterable[str] | str | None = None,
            corpus: str = "default", n_tokens: int = 100_000, context_len: int = 128, batch_size: int = 16,
            shard_tokens: int = 1 << 16, dtype: str = DEFAULT_DTYPE, device: str | None = None,
            add_bos: bool = True, text_key: str = "text", progress: bool = True) -> HarvestResult:
    """Harvest `n_tokens` tokens of activations at `hooks` (default: the middle residual stream) into `out`.

    Resumes a killed harvest of the same configuration; refuses a non-empty directory of another one, and
    a harvest larger than the free disk (with `progress`, the plan is printed first).
    """
    from ..corpus import iter_contexts, iter_documents  # corpus pulls optional readers; keep import local

    check_dtype(dtype)
    lm = model if isinstance(model, LoadedModel) else load(model, device=device or "cpu")
    hooked = lm.hooked
    points = [p.name for p in hooked.parse_many(hooks if hooks is not None else lm.default_hook())]
    out = Path(out)
    cfg = HarvestConfig(model=lm.name, hooks=points, corpus=corpus, context_len=context_len, dtype=dtype,
                        add_bos=add_bos, text_key=text_key, model_dtype=str(next(lm.model.parameters()).dtype).replace("torch.", ""))
    target_contexts = -(-n_tokens // context_len)
    plan = plan_harvest(out, (target_contexts - _done_contexts(out, cfg)) * context_len, len(points), lm.d_model,
                        dtype)
    if progress:
        tqdm.write(plan.describe())
    plan.check()
    manifest = _open_or_create(out, cfg, lm, n_tokens)
    done = manifest.n_contexts
    contexts_per_shard = max(1, shard_tokens // context_len)
    if done >= target_contexts:
        manifest.complete = True
        manifest.save(out)
        return HarvestResult(ActivationStore(out), 0.0, 0, done * context_len)

    stream = iter_contexts(iter_documents(corpus, text_key=text_key), lm.tokenizer, context_len, add_bos=add_bos)
    stream = islice(stream, done, target_contexts)
    dev = lm.device
    writer = _ShardWriter(out, manifest)
    bar = tqdm(total=target_contexts * context_len, initial=done * context_len, unit="tok", unit_scale=True,
               desc=f"harvest {','.join(points)}", disable=not progress)
    start = time.perf_counter()
    pending: list = []
    acts: dict[str, list[torch.Tensor]] = {p: [] for p in points}
    next_context = done
    try:
        for chunk in _batched(stream, batch_size):
            ids = torch.from_numpy(np.stack([c.tokens for c in chunk]).astype(np.int64)).to(dev)
            cache = hooked.run_to(points, input_ids=ids)
            for p in points:
                acts[p].append(cache[p].reshape(-1, cache[p].shape[-1]).float().cpu())
            pending.extend(chunk)
            bar.update(len(chunk) * context_len)
            while len(pending) >= contexts_per_shard:
                next_context = writer.submit(pending[:contexts_per_shard], acts, next_context, dtype)
                pending = pending[contexts_per_shard:]
        if pending:
            writer.submit(pending, acts, next_context, dtype)
        writer.close()
    except BaseException:
        writer.close(abort=True)
        raise
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    manifest.complete = manifest.n_contexts >= target_contexts
    manifest.save(out)
    return HarvestResult(ActivationStore(out), seconds, (manifest.n_contexts - done) * context_len,
                         done * context_len)


def _done_contexts(out: Path, cfg: HarvestConfig) -> int:
    """Contexts a resumable store of this configuration already holds (0 for anything else)."""
    try:
        m = StoreManifest.load(out)
    except StoreError:
        return 0
    return m.n_contexts if m.config.fingerprint() == cfg.fingerprint() else 0


def _open_or_create(out: Path, cfg: HarvestConfig, lm: LoadedModel, n_tokens: int) -> StoreManifest:
    if out.exists() and any(out.iterdir()):
        try:
            manifest = StoreManifest.load(out)
        except StoreError as e:
            raise StoreError(f"refusing to harvest into {out}: it is not empty and is not an activation store "
                             f"({e}). Choose an empty or new directory") from e
        if manifest.config.fingerprint() != cfg.fingerprint():
            theirs, ours = vars(manifest.config), vars(cfg)
            diff = {k: (theirs[k], ours[k]) for k in ours if theirs.get(k) != ours[k]}
            raise StoreError(f"refusing to mix data: {out} holds a harvest of a different configuration "
                             f"(stored vs requested: {diff}). Use a new --out directory")
        manifest.target_tokens = max(manifest.target_tokens, n_tokens)
        for stray in (out / SHARDS_DIR).glob("*.tmp"):
            shutil.rmtree(stray, ignore_errors=True)
        return manifest
    out.mkdir(parents=True, exist_ok=True)
    (out / SHARDS_DIR).mkdir(exist_ok=True)
    manifest = StoreManifest(config=cfg, d_model=lm.d_model, target_tokens=n_tokens, model_source=lm.source,
                             monoscope_version=__version__)
    manifest.save(out)
    return manifest


class _ShardWriter:
    """Moves disk writes and checksums off the forward pass's thread (queue of one: bounded memory)."""

    def __init__(self, out: Path, manifest: StoreManifest):
        self.out, self.manifest = out, manifest
        self.q: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def submit(self, contexts: list, acts: dict[str, list[torch.Tensor]], first_context: int, dtype: str) -> int:
        if self.error is not None:
            raise self.error
        n = len(contexts)
        arrays: dict[str, np.ndarray] = {
            "tokens.npy": np.concatenate([c.tokens for c in contexts]).astype(np.int32),
            "doc_ids.npy": np.concatenate([c.doc_ids for c in contexts]).astype(np.int64),
            "special.npy": np.concatenate([c.special for c in contexts]).astype(bool),
        }
        n_rows = arrays["tokens.npy"].shape[0]
        for p, parts in acts.items():
            full = torch.cat(parts)
            arrays[hook_file(p)] = _to_storage(full[:n_rows], dtype)
            parts.clear()
            if len(full) > n_rows:
                parts.append(full[n_rows:])
        self.q.put((first_context, n, n_rows, arrays))
        return first_context + n

    def _run(self) -> None:
        while (item := self.q.get()) is not None:
            if self.error is not None:
                continue
            first, n, n_rows, arrays = item
            try:
                name = f"{first:09d}"
                files = _write_shard(self.out, name, arrays)
                keep = training_mask(arrays["special.npy"], self.manifest.config.context_len)
                self.manifest.count_rows(arrays["special.npy"])
                for fname, arr in arrays.items():
                    if fname.startswith("act."):
                        hook = fname[len("act."):-len(".npy")]
                        x = torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16).float() \
                            if arr.dtype == np.uint16 else torch.from_numpy(arr)
                        self.manifest.sq_norm_sum[hook] = self.manifest.sq_norm_sum.get(hook, 0.0) + \
                            float(x[torch.from_numpy(keep)].double().pow(2).sum())
                self.manifest.norm_count += int(keep.sum())
                self.manifest.shards.append(ShardInfo(name, first, n, n_rows, files))
                self.manifest.save(self.out)
            except BaseException as e:  # surfaced on the next submit/close
                self.error = e

    def close(self, abort: bool = False) -> None:
        self.q.put(None)
        self.thread.join()
        if self.error is not None and not abort:
            raise self.error
