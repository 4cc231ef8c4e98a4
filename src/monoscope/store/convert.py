"""Rewrite a store in another storage dtype (e.g. an older float32 store as bfloat16: half the disk).

The result is the store a harvest with that dtype would have written from the same forward passes: the
activations rounded once, the token ids and masks copied, and the normalisation sums recomputed from the
rounded values (as the harvest writer computes them).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from .harvest import check_dtype, plan_harvest, to_storage, write_shard
from .manifest import ShardInfo, StoreError, StoreManifest, shard_stats
from .reader import ActivationStore, hook_file, to_torch


def convert_store(src: str | Path, dst: str | Path, dtype: str = "bfloat16", progress: bool = False) -> ActivationStore:
    check_dtype(dtype)
    store = ActivationStore(src)
    m = store.manifest
    dst = Path(dst)
    if dst.exists() and any(dst.iterdir()):
        raise StoreError(f"refusing to convert into {dst}: it is not empty; choose a new directory")
    plan = plan_harvest(dst, m.n_tokens, len(m.hooks), m.d_model, dtype)
    if progress:
        print(plan.describe(), flush=True)
    plan.check()
    cfg = type(m.config)(**{**vars(m.config), "dtype": dtype})
    out = StoreManifest(config=cfg, d_model=m.d_model, target_tokens=m.target_tokens, model_source=m.model_source,
                        monoscope_version=m.monoscope_version, corpus_contexts=m.corpus_contexts,
                        shard_contexts=m.shard_contexts)
    dst.mkdir(parents=True, exist_ok=True)
    for i, info in enumerate(m.shards):
        arrays = {f"{k}.npy": np.asarray(store.shard_array(i, k)) for k in ("tokens", "doc_ids", "special")}
        for h in m.hooks:
            x = to_torch(np.asarray(store.shard_array(i, h)), m.config.dtype).float()
            arrays[hook_file(h)] = to_storage(x, dtype)
        files = write_shard(dst, info.name, arrays)
        out.add_shard(ShardInfo(info.name, info.first_context, info.n_contexts, info.n_tokens, files,
                                *shard_stats(arrays, cfg.context_len)))
    out.complete = m.complete
    out.save(dst)
    return ActivationStore(dst)
