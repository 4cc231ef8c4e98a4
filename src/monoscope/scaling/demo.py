"""A small demo store of synthetic activations with planted features, for sweeps and tests.

Rows come from `monoscope.evals.synthetic.SyntheticData`: sparse non-negative combinations of
`n_features` random unit directions in R^d with power-law firing frequencies, plus a little noise. Such
data has the structure SAE scaling laws are about (more latents recover rarer features; more steps
recover them better), is cheap to make on a CPU, and is written as an ordinary activation store (manifest,
checksummed shards), so every store consumer (training, sweeps, distributed readers) reads it.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..evals.synthetic import SyntheticConfig, SyntheticData
from ..store.manifest import HarvestConfig, ShardInfo, StoreError, StoreManifest
from ..store.reader import ActivationStore, hook_file

DEMO_HOOK = "resid_post.0"


def write_synthetic_store(out: str | Path, n_tokens: int = 131_072, d: int = 32, n_features: int = 1024,
                          mean_active: float = 8.0, alpha: float = 1.0, noise: float = 0.02, seed: int = 0,
                          shard_tokens: int = 16_384, context_len: int = 128) -> ActivationStore:
    """Write (or reopen, if it already holds the same configuration) a synthetic activation store."""
    from ..store.harvest import write_shard

    out = Path(out)
    scfg = SyntheticConfig(d=d, n_features=n_features, mean_active=mean_active, alpha=alpha, noise=noise, seed=seed)
    corpus = "synthetic:" + json.dumps(asdict(scfg), sort_keys=True)
    cfg = HarvestConfig(model="synthetic", hooks=[DEMO_HOOK], corpus=corpus, context_len=context_len,
                        dtype="float32", add_bos=False, model_dtype="float32")
    n_ctx = -(-n_tokens // context_len)
    if (out / "manifest.json").exists():
        m = StoreManifest.load(out)
        if m.config.fingerprint() != cfg.fingerprint():
            raise StoreError(f"{out} holds another store ({m.config.corpus}); choose another directory")
        if m.complete and m.n_contexts >= n_ctx:
            return ActivationStore(out)
        raise StoreError(f"{out} holds an incomplete synthetic store; delete it and run again")
    if out.exists() and any(out.iterdir()):
        raise StoreError(f"refusing to write a synthetic store into non-empty {out}")
    data = SyntheticData(scfg)
    out.mkdir(parents=True, exist_ok=True)
    m = StoreManifest(config=cfg, d_model=d, target_tokens=n_ctx * context_len, model_source="synthetic")
    cps = max(1, shard_tokens // context_len)
    first = 0
    while first < n_ctx:
        nc = min(cps, n_ctx - first)
        rows = nc * context_len
        x = data.batch(first // cps, rows, stream=1).numpy().astype(np.float32)
        arrays = {"tokens.npy": np.zeros(rows, np.int32),
                  "doc_ids.npy": np.repeat(np.arange(first, first + nc, dtype=np.int64), context_len),
                  "special.npy": np.zeros(rows, bool), hook_file(DEMO_HOOK): x}
        name = f"{first:09d}"
        files = write_shard(out, name, arrays)
        m.sq_norm_sum[DEMO_HOOK] = m.sq_norm_sum.get(DEMO_HOOK, 0.0) + float(np.square(x, dtype=np.float64).sum())
        m.norm_count += rows
        m.shards.append(ShardInfo(name, first, nc, rows, files))
        first += nc
    m.complete = True
    m.save(out)
    return ActivationStore(out)
