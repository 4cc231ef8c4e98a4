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
from ..fileio import fsync_path, sha256_file
from ..models import LoadedModel, load
from ..resources import DTYPE_BYTES, free_disk, human_bytes
from .check import StoreCheck, check_store
from .manifest import HarvestConfig, ShardInfo, StoreError, StoreManifest, shard_stats
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
    corpus_ended: bool = False     # the corpus ran out before the requested tokens (the store holds all it had)

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else float("nan")


def to_storage(x: torch.Tensor, dtype: str) -> np.ndarray:
    """float activations → the array a shard file holds (bf16 as its uint16 bit patterns: numpy has no bf16)."""
    if dtype == "bfloat16":
        return x.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    return x.float().numpy()


def write_shard(root: Path, name: str, arrays: dict[str, np.ndarray]) -> dict[str, str]:
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
        fsync_path(path)
        files[fname] = sha256_file(path)
    fsync_path(tmp)
    final = shards / name
    if final.exists():  # a previous run wrote it but died before recording it, or a repair replaces it
        shutil.rmtree(final)
    os.rename(tmp, final)
    fsync_path(shards)
    return files


def shard_arrays(contexts: list, acts: dict[str, torch.Tensor], dtype: str) -> dict[str, np.ndarray]:
    """The files of one shard: token ids, document ids, special masks and one activation file per hook."""
    arrays: dict[str, np.ndarray] = {
        "tokens.npy": np.concatenate([c.tokens for c in contexts]).astype(np.int32),
        "doc_ids.npy": np.concatenate([c.doc_ids for c in contexts]).astype(np.int64),
        "special.npy": np.concatenate([c.special for c in contexts]).astype(bool),
    }
    for p, x in acts.items():
        arrays[hook_file(p)] = to_storage(x, dtype)
    return arrays


def make_shard(out: Path, first: int, contexts: list, acts: dict[str, torch.Tensor], dtype: str,
               context_len: int) -> ShardInfo:
    """Write one shard and return its manifest entry, with its own normalisation sums and row counts."""
    arrays = shard_arrays(contexts, acts, dtype)
    name = f"{first:09d}"
    files = write_shard(out, name, arrays)
    sums, count, counts = shard_stats(arrays, context_len)
    return ShardInfo(name, first, len(contexts), int(arrays["tokens.npy"].shape[0]), files, sums, count, counts)


def forward_contexts(lm: LoadedModel, points: list[str], contexts: list, batch_size: int) -> dict[str, torch.Tensor]:
    """Activations [n_contexts·context_len, d] at each hook for one shard's contexts. Batches never cross a
    shard boundary, so a shard's bytes do not depend on where a run started (resume and repair reproduce
    them exactly)."""
    acts: dict[str, list[torch.Tensor]] = {p: [] for p in points}
    for chunk in batched(contexts, batch_size):
        ids = torch.from_numpy(np.stack([c.tokens for c in chunk]).astype(np.int64)).to(lm.device)
        cache = lm.hooked.run_to(points, input_ids=ids)
        for p in points:
            acts[p].append(cache[p].reshape(-1, cache[p].shape[-1]).float().cpu())
    return {p: torch.cat(v) for p, v in acts.items()}


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


def batched(it: Iterable, n: int) -> Iterator[list]:
    """Lists of n items (the last one shorter)."""
    it = iter(it)
    while chunk := list(islice(it, n)):
        yield chunk


def harvest(model: str | LoadedModel, out: str | Path, hooks: Iterable[str] | str | None = None,
            corpus: str = "default", n_tokens: int = 100_000, context_len: int = 128, batch_size: int = 16,
            shard_tokens: int = 1 << 16, dtype: str = DEFAULT_DTYPE, device: str | None = None,
            add_bos: bool = True, text_key: str = "text", progress: bool = True) -> HarvestResult:
    """Harvest `n_tokens` tokens of activations at `hooks` (default: the middle residual stream) into `out`.

    Resumes a killed harvest of the same configuration, and in doing so checks the shards already there
    (checksums, finite values, contiguous coverage) and harvests again exactly the contexts of any that are
    bad or missing. Refuses a non-empty directory of another configuration, and a harvest larger than the
    free disk (with `progress`, the plan is printed first). A corpus that ends before `n_tokens` gives a
    complete store of what it has (`HarvestResult.corpus_ended`).
    """
    from ..corpus import iter_documents  # corpus pulls optional readers; keep import local

    check_dtype(dtype)
    documents = iter_documents(corpus, text_key=text_key)   # a missing corpus fails here, before any mkdir
    lm = model if isinstance(model, LoadedModel) else load(model, device=device or "cpu")
    points = [p.name for p in lm.hooked.parse_many(hooks if hooks is not None else lm.default_hook())]
    out = Path(out)
    cfg = HarvestConfig(model=lm.name, hooks=points, corpus=corpus, context_len=context_len, dtype=dtype,
                        add_bos=add_bos, text_key=text_key, model_dtype=model_dtype(lm))
    existing = out.exists() and any(out.iterdir())
    plan = plan_harvest(out, (-(-n_tokens // context_len) - done_contexts(out, cfg)) * context_len, len(points),
                        lm.d_model, dtype)
    if progress:
        tqdm.write(plan.describe())
    plan.check()
    manifest = open_or_create(out, cfg, lm, n_tokens, shard_tokens)
    cps = manifest.shard_contexts or max(1, shard_tokens // context_len)
    report = check_store(out, manifest, progress=progress) if existing else StoreCheck()
    manifest.target_tokens = max(manifest.target_tokens, n_tokens)
    if progress:
        for line in report.problems:
            tqdm.write(f"repairing: {line}")
    return _fill(lm, points, out, manifest, report, cps, batch_size, progress, documents)


def repair(path: str | Path, model: str | LoadedModel | None = None, device: str = "cpu", batch_size: int = 16,
           progress: bool = True) -> tuple["StoreCheck", "StoreCheck"]:
    """Harvest again exactly the contexts of the store's bad or missing shards (same boundaries, same tokens),
    drop shards that overlap others, and recompute the normalisation sums from the shards present.
    Returns (the problems found, the problems left after repair: e.g. a model that really gives NaN)."""
    from ..corpus import iter_documents

    path = Path(path)
    store = ActivationStore(path, verify=False)
    m = store.manifest
    before = check_store(path, m, progress=progress)
    if before.ok:
        return before, before
    lm = model if isinstance(model, LoadedModel) else load(model or m.config.model, device=device)
    cfg = HarvestConfig(**{**vars(m.config), "model": lm.name, "model_dtype": model_dtype(lm)})
    if cfg.fingerprint() != m.config.fingerprint():
        raise StoreError(f"cannot repair {path} with model {lm.name} ({cfg.model_dtype}): the store was harvested "
                         f"from {m.config.model} ({m.config.model_dtype}); pass that model")
    cps = m.shard_contexts or max([s.n_contexts for s in m.shards] or [1])
    documents = iter_documents(m.config.corpus, text_key=m.config.text_key)
    _fill(lm, list(m.config.hooks), path, m, before, cps, batch_size, progress, documents)
    return before, check_store(path, StoreManifest.load(path), progress=False)


def _fill(lm: LoadedModel, points: list[str], out: Path, manifest: StoreManifest, report: "StoreCheck", cps: int,
          batch_size: int, progress: bool, documents) -> HarvestResult:
    """Drop the shards `report` found bad, then harvest every run of contexts the store lacks in
    [0, target): a bad shard again with its own boundaries, any other gap in shards of `cps` contexts."""
    from ..corpus import iter_contexts

    cfg = manifest.config
    bad = set(report.bad_shards)
    keep = [s for s in manifest.shards if s.name not in bad and s.name not in report.overlapping]
    for s in keep:
        if s.name in report.missing_stats:
            s.sq_norm_sum, s.norm_count, s.row_counts = report.missing_stats[s.name]
    manifest.set_shards(keep)
    done_before = manifest.n_contexts
    target = manifest.target_contexts
    todo = [(s.first_context, s.n_contexts) for s in manifest_shards_removed(report, keep)]
    todo = plan_gaps(keep, target, cps, fixed=todo)
    if not todo:
        manifest.complete = True
        manifest.save(out)
        return HarvestResult(ActivationStore(out), 0.0, 0, done_before * cfg.context_len)
    manifest.complete = False
    manifest.save(out)
    stream = iter_contexts(documents, lm.tokenizer, cfg.context_len, add_bos=cfg.add_bos)
    total = sum(n for _, n in todo) * cfg.context_len
    bar = tqdm(total=total, unit="tok", unit_scale=True, desc=f"harvest {','.join(points)}", disable=not progress)
    writer = _ShardWriter(out, manifest)
    start = time.perf_counter()
    new = 0
    index = 0
    ended = False
    try:
        for first, n in todo:
            contexts = list(islice(stream, first - index, first - index + n))   # todo is sorted, disjoint
            index = first + len(contexts)
            if len(contexts) < n:
                ended = True
                if first + len(contexts) < max([s.end_context for s in keep] or [0]):
                    raise StoreError(f"the corpus {cfg.corpus!r} now ends at context {index}, before contexts the "
                                     f"store holds: it is not the corpus this store was harvested from")
            if contexts:
                writer.submit(first, contexts, forward_contexts(lm, points, contexts, batch_size), cfg.dtype)
                new += len(contexts)
                bar.update(len(contexts) * cfg.context_len)
            if ended:
                break
        writer.close()
    except BaseException:
        writer.close(abort=True)
        raise
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    if ended:
        manifest.corpus_contexts = index
        if progress:
            tqdm.write(f"the corpus ended after {index * cfg.context_len:,} tokens ({index:,} contexts) of the "
                       f"{manifest.target_tokens:,} requested: the store is complete with what it has")
    manifest.complete = not plan_gaps(manifest.shards, manifest.target_contexts, cps)
    manifest.save(out)
    return HarvestResult(ActivationStore(out), seconds, new * cfg.context_len, done_before * cfg.context_len,
                         corpus_ended=ended)


def manifest_shards_removed(report: "StoreCheck", keep: list[ShardInfo]) -> list[ShardInfo]:
    """The bad shards (not overlapping ones) whose contexts are still uncovered: harvested again as they were."""
    covered = [(s.first_context, s.end_context) for s in keep]
    return [s for s in report.bad_infos
            if not any(a < s.end_context and s.first_context < b for a, b in covered)]


def plan_gaps(shards: list[ShardInfo], target: int, cps: int,
              fixed: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """(first_context, n_contexts) of the shards to write so that [0, target) is covered: the `fixed` ones
    (a bad shard's own boundaries), then every remaining gap cut into runs of `cps` from its start."""
    spans = sorted([(s.first_context, s.end_context) for s in shards] + [(a, a + n) for a, n in fixed or []])
    out = list(fixed or [])
    pos = 0
    for a, b in spans + [(target, target)]:
        gap_end = min(a, target)
        while pos < gap_end:
            n = min(cps, gap_end - pos)
            out.append((pos, n))
            pos += n
        pos = max(pos, b)
    return sorted(out)


def model_dtype(lm: LoadedModel) -> str:
    return str(next(lm.model.parameters()).dtype).replace("torch.", "")


def done_contexts(out: Path, cfg: HarvestConfig) -> int:
    """Contexts a resumable store of this configuration already holds (0 for anything else)."""
    try:
        m = StoreManifest.load(out)
    except StoreError:
        return 0
    return m.n_contexts if m.config.fingerprint() == cfg.fingerprint() else 0


def open_or_create(out: Path, cfg: HarvestConfig, lm: LoadedModel, n_tokens: int,
                   shard_tokens: int = 1 << 16) -> StoreManifest:
    """The store's manifest: the existing one if `out` holds this configuration (refused otherwise), else a new one."""
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
        for stray in (out / SHARDS_DIR).glob("*.tmp"):
            shutil.rmtree(stray, ignore_errors=True)
        return manifest
    out.mkdir(parents=True, exist_ok=True)
    (out / SHARDS_DIR).mkdir(exist_ok=True)
    manifest = StoreManifest(config=cfg, d_model=lm.d_model, target_tokens=n_tokens, model_source=lm.source,
                             monoscope_version=__version__,
                             shard_contexts=max(1, shard_tokens // cfg.context_len))
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

    def submit(self, first: int, contexts: list, acts: dict[str, torch.Tensor], dtype: str) -> None:
        if self.error is not None:
            raise self.error
        self.q.put((first, contexts, acts, dtype))

    def _run(self) -> None:
        while (item := self.q.get()) is not None:
            if self.error is not None:
                continue
            first, contexts, acts, dtype = item
            try:
                info = make_shard(self.out, first, contexts, acts, dtype, self.manifest.config.context_len)
                self.manifest.add_shard(info)
                self.manifest.save(self.out)
            except BaseException as e:  # surfaced on the next submit/close
                self.error = e

    def close(self, abort: bool = False) -> None:
        self.q.put(None)
        self.thread.join()
        if self.error is not None and not abort:
            raise self.error
