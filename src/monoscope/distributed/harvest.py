"""Data-parallel harvesting into one activation store.

The context stream is a pure function of (corpus, tokenizer, context_len), and a store is a list of
shards, each a run of consecutive contexts. Ranks therefore split the stream *by shard*: shard j (contexts
[done + j·cps, done + (j+1)·cps), cps = contexts per shard) is harvested by rank j mod W, i.e. rank r
takes the shard-sized blocks r, r+W, r+2W, … of the stream. Every rank tokenises the stream (cheap next
to the forward) and runs the model only on its own blocks.

The result is the store a single-process `monoscope.store.harvest` of the same arguments writes: the
same shard boundaries, token ids and special masks, and the same manifest, whose normalisation sums are
added shard by shard in stream order exactly as the single-process writer adds them. When the shard
size is a multiple of the forward batch (`shard_tokens / context_len` divisible by `batch_size`), the
model sees the very same batches and the activation files are byte-identical too (tested).

Each rank writes its shards into `shards/` (temp dir + rename, via the store's own writer) and records
each one in `.dist/rank-RRRRR.json` (atomically, after the shard is in place). Rank 0 merges those
records into `manifest.json` at the end. A killed run resumes with the same command: rank 0 first merges
whatever finished shards extend the store's contiguous prefix, and the ranks split what remains.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from ..fileio import atomic_write_text
from ..store.harvest import (DEFAULT_DTYPE, HarvestResult, check_dtype, done_contexts, forward_contexts, make_shard,
                             model_dtype, open_or_create, plan_harvest)
from ..store.manifest import HarvestConfig, ShardInfo, StoreManifest
from ..store.reader import ActivationStore
from .. import comm

PARTIAL_DIR = ".dist"


def _partial_path(out: Path, rank: int) -> Path:
    return out / PARTIAL_DIR / f"rank-{rank:05d}.json"


def _merge_partials(out: Path, manifest: StoreManifest) -> int:
    """Append recorded shards that extend the contiguous prefix, in stream order; drop the records.
    Returns the number of shards merged. Single-writer: rank 0 only."""
    d = out / PARTIAL_DIR
    if not d.exists():
        return 0
    recs = []
    for p in sorted(d.glob("rank-*.json")):
        try:
            recs.extend(json.loads(p.read_text()))
        except (json.JSONDecodeError, OSError):
            continue
    recs.sort(key=lambda r: r["shard"]["first_context"])
    merged = 0
    for r in recs:
        info = ShardInfo(**r["shard"])
        if info.first_context != manifest.n_contexts:
            continue              # not contiguous (or already merged): will be harvested again
        if not (out / "shards" / info.name).exists():
            break
        if not info.has_stats:     # a record from before shards carried their own sums
            info.sq_norm_sum, info.norm_count, info.row_counts = r["sq_norm_sum"], int(r["norm_count"]), \
                {k: int(n) for k, n in r.get("row_counts", {}).items()}
        manifest.add_shard(info)
        merged += 1
    shutil.rmtree(d, ignore_errors=True)
    return merged


def harvest_distributed(model, out: str | Path, hooks: Iterable[str] | str | None = None, corpus: str = "default",
                        n_tokens: int = 100_000, context_len: int = 128, batch_size: int = 16,
                        shard_tokens: int = 1 << 16, dtype: str = DEFAULT_DTYPE, device: str | None = None,
                        add_bos: bool = True, text_key: str = "text", progress: bool = True) -> HarvestResult:
    """`monoscope.store.harvest` over the ranks of the current process group (see the module docstring).
    Same arguments; `device` defaults to this rank's GPU (cuda:LOCAL_RANK) or the CPU. Every rank returns
    the finished store."""
    from ..corpus import iter_contexts, iter_documents
    from ..models import LoadedModel, load

    check_dtype(dtype)
    env = comm.current()
    rank, world = env.rank, env.world
    dev = comm.pick_device(device or "auto", env.local_rank)
    lm = model if isinstance(model, LoadedModel) else load(model, device=str(dev))
    hooked = lm.hooked
    points = [p.name for p in hooked.parse_many(hooks if hooks is not None else lm.default_hook())]
    out = Path(out)
    cfg = HarvestConfig(model=lm.name, hooks=points, corpus=corpus, context_len=context_len, dtype=dtype,
                        add_bos=add_bos, text_key=text_key,
                        model_dtype=model_dtype(lm))
    err = None
    if rank == 0:
        try:
            plan = plan_harvest(out, (-(-n_tokens // context_len) - done_contexts(out, cfg)) * context_len,
                                len(points), lm.d_model, dtype)
            if progress:
                print(plan.describe(), flush=True)
            plan.check()
            manifest = open_or_create(out, cfg, lm, n_tokens, shard_tokens)
            _merge_partials(out, manifest)
            manifest.save(out)
        except Exception as e:  # noqa: BLE001 - every rank must learn about it, not hang in the barrier
            err = e
    msg = comm.broadcast_object(None if err is None else f"{type(err).__name__}: {err}")
    if err is not None:
        raise err
    if msg is not None:
        from ..store.manifest import StoreError

        raise StoreError(f"rank 0 could not open the store: {msg}")
    comm.barrier()
    manifest = StoreManifest.load(out)
    target = -(-n_tokens // context_len)
    done = manifest.n_contexts
    cps = max(1, shard_tokens // context_len)
    start = time.perf_counter()
    if done < target:
        _harvest_blocks(lm, hooked, points, out, rank, world, done, target, cps, batch_size, dtype, corpus,
                        text_key, add_bos, context_len, progress and rank == 0, iter_contexts, iter_documents)
    comm.barrier()
    if rank == 0:
        manifest = StoreManifest.load(out)
        _merge_partials(out, manifest)
        manifest.target_tokens = max(manifest.target_tokens, n_tokens)
        manifest.complete = manifest.n_contexts >= target
        manifest.save(out)
    comm.barrier()
    seconds = time.perf_counter() - start
    store = ActivationStore(out)
    return HarvestResult(store, seconds, (store.manifest.n_contexts - done) * context_len, done * context_len)


def _harvest_blocks(lm, hooked, points, out, rank, world, done, target, cps, batch_size, dtype, corpus,
                    text_key, add_bos, context_len, progress, iter_contexts, iter_documents) -> None:
    from itertools import islice

    from tqdm.auto import tqdm

    stream = islice(iter_contexts(iter_documents(corpus, text_key=text_key), lm.tokenizer, context_len,
                                  add_bos=add_bos), done, target)
    n_blocks = -(-(target - done) // cps)
    mine = len(range(rank, n_blocks, world))
    bar = tqdm(total=mine * cps * context_len, unit="tok", unit_scale=True, disable=not progress,
               desc=f"harvest ×{world} {','.join(points)}")
    records: list[dict] = []
    ppath = _partial_path(out, rank)
    ppath.parent.mkdir(parents=True, exist_ok=True)
    block: list = []
    index = done
    try:
        for ctx in stream:
            j = (index - done) // cps
            index += 1
            if j % world != rank:
                continue
            block.append(ctx)
            last_of_block = (index - done) % cps == 0 or index == target
            if not last_of_block:
                continue
            first = index - len(block)
            info = make_shard(out, first, block, forward_contexts(lm, points, block, batch_size), dtype, context_len)
            records.append({"shard": vars(info)})
            atomic_write_text(ppath, json.dumps(records))
            bar.update(len(block) * context_len)
            block = []
    finally:
        bar.close()


def main(argv: list[str] | None = None) -> None:
    """`torchrun --nproc-per-node N -m monoscope.distributed.harvest --model M --out S ...`"""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m monoscope.distributed.harvest",
                                 description="data-parallel harvest into one activation store (run under torchrun)")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--out", required=True)
    ap.add_argument("--hooks", default="")
    ap.add_argument("--corpus", default="default")
    ap.add_argument("--tokens", type=int, default=100_000)
    ap.add_argument("--context-len", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--shard-tokens", type=int, default=1 << 16)
    ap.add_argument("--dtype", default=DEFAULT_DTYPE)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--text-key", default="text")
    a = ap.parse_args(argv)
    env = comm.init_from_env(a.device)
    try:
        res = harvest_distributed(a.model, a.out, hooks=a.hooks or None, corpus=a.corpus, n_tokens=a.tokens,
                                  context_len=a.context_len, batch_size=a.batch_size, shard_tokens=a.shard_tokens,
                                  dtype=a.dtype, device=str(env.device), text_key=a.text_key)
        if env.is_main:
            print(json.dumps({"store": str(res.store.path), "tokens": res.store.n_tokens,
                              "new_tokens": res.new_tokens, "seconds": round(res.seconds, 3),
                              "tokens_per_second": res.tokens_per_second, "world": env.world}))
    finally:
        comm.shutdown()


if __name__ == "__main__":  # pragma: no cover
    main()
