"""Rewrite a store in another storage dtype (e.g. an older float32 store as bfloat16: half the disk).

The result is the store a harvest with that dtype would have written from the same forward passes: the
activations rounded once, the token ids and masks copied, and the normalisation sums recomputed from the
rounded values (as the harvest writer computes them).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .harvest import _to_storage, _write_shard, check_dtype, plan_harvest
from .manifest import ShardInfo, StoreError, StoreManifest, training_mask
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
                        monoscope_version=m.monoscope_version)
    dst.mkdir(parents=True, exist_ok=True)
    for i, info in enumerate(m.shards):
        arrays = {f"{k}.npy": np.asarray(store.shard_array(i, k)) for k in ("tokens", "doc_ids", "special")}
        keep = torch.from_numpy(training_mask(arrays["special.npy"], cfg.context_len))
        for h in m.hooks:
            x = to_torch(np.asarray(store.shard_array(i, h)), m.config.dtype).float()
            arr = _to_storage(x, dtype)
            arrays[hook_file(h)] = arr
            y = to_torch(arr, dtype).float()
            out.sq_norm_sum[h] = out.sq_norm_sum.get(h, 0.0) + float(y[keep].double().pow(2).sum())
        out.norm_count += int(keep.sum())
        out.count_rows(arrays["special.npy"])
        files = _write_shard(dst, info.name, arrays)
        out.shards.append(ShardInfo(info.name, info.first_context, info.n_contexts, info.n_tokens, files))
    out.complete = m.complete
    out.save(dst)
    return ActivationStore(dst)
