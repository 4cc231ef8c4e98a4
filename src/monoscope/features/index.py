"""`monoscope index`: one streaming pass of an SAE over an activation store → a feature database.

What one pass computes, per feature, and how (all state is bounded by the number of features, never by
the number of tokens; it lives in torch tensors and is checkpointed after shards, so a killed run resumes):

- **top-k contexts** — the k contexts with the highest per-context max activation, with the per-token
  activations of that feature in a window around the peak. State: running [n, k] values / peak token
  indices / windows; each batch's per-context maxima are merged in with one `topk` over [n, k + B], and
  only for features whose batch max beats their current k-th value.
- **samples across activation levels** — the paper shows random samples from activation buckets spaced
  linearly between 0 and the max; the max is only known at the end, so the pass keeps a uniform
  reservoir (bottom-r of a hash key, i.e. exact reservoir sampling, independent of batching) in each of
  fine log-spaced bins per feature (bins fixed by the feature's first activation). At the end each final
  bucket (linear in [0, max], or equal-mass quantiles) is filled by sampling the reservoirs it covers
  weighted by their bins' counts.
- **density, mean, histogram** — counts per fine bin (exact: the histogram the dashboard draws), number
  of active tokens, sum of activations. Special tokens (BOS), the first `exclude_first` ordinary tokens of
  every context and attention-sink rows (residual norm over `sink_norm_ratio` × the store's median) are
  excluded everywhere; the manifest says what was left out and how much.
- **max activation** — the unit of steering clamps; also saved as `max_acts.safetensors` for `Steerer`.
- **background contexts** — a few random windows with every feature's max in them (sparse), so the
  detection scorer has non-activating contexts without re-running the model.

After the pass (per-feature work, independent of the number of tokens):

- **logit effects** — the unit decoder direction read through the unembedding. We apply the final
  norm's elementwise weight γ (and, for LayerNorm, mean-centring), i.e. logits ∝ W_U (γ ⊙ d̂): the
  first-order effect of adding d̂ to the last residual, ignoring the change of the norm's scale (which
  rescales all logits together and so does not change which tokens are top/bottom).
  `logit_norm="none"` reads d̂ through W_U directly.
- **neighbours** — cosine of unit decoder directions within the SAE and, with `other_sae`, across two SAEs.
- **map** — UMAP (cosine) of alive features' decoder directions; PCA when there are few of them.
- **logit consistency** — how often a feature's top logit tokens are the tokens that follow its top
  examples, vs the same measure with features' logit lists shuffled (a random-feature baseline).

The database is a directory of Parquet tables read through DuckDB (`monoscope.features.db.FeatureDB`),
so a feature page is one query; see `FeatureDB` for the schema.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from ..fileio import atomic_save_safetensors, atomic_torch_save, atomic_write, atomic_write_text, sha256_file
from ..errors import UserError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATE = "index_state.pt"
MAX_ACTS = "max_acts.safetensors"
_M32 = 0xFFFFFFFF
_KEY_EMPTY = 1 << 33  # larger than any 32-bit hash: an empty reservoir slot


class FeatureDBError(UserError):
    """A feature database that is missing, incomplete, corrupt, or built from another SAE / store."""


# ---- configuration ----------------------------------------------------------------------------------
@dataclass
class IndexConfig:
    """What a feature database holds; the first group of fields fixes the streaming state (resume key)."""

    top_k: int = 20                       # top contexts per feature
    window: tuple[int, int] = (24, 8)     # tokens left / right of the peak stored with each top example
    sample_window: tuple[int, int] = (12, 4)
    bins_per_octave: int = 2              # fine log-spaced bins (histogram + reservoirs)
    octaves_below: int = 10               # relative to the feature's first activation
    octaves_above: int = 8
    samples_per_bin: int = 2              # reservoir size per fine bin
    n_background: int = 64                # random background windows (for detection scoring)
    background_len: int = 32
    seed: int = 0
    exclude_first: int = 1                # leading ordinary tokens of every context left out of all statistics
    sink_norm_ratio: float = 10.0         # rows with residual norm > this × median are sinks, left out (0: keep)
    # ---- per-feature post-processing (can differ on a resumed run without invalidating the state) ----
    n_buckets: int = 10                   # final activation buckets
    per_bucket: int = 2                   # samples shown per bucket
    bucket_scheme: str = "linear"         # "linear" in [0, max] (the paper) or "quantile" (equal mass)
    n_logits: int = 10
    n_neighbours: int = 10
    map_method: str = "auto"              # "auto" (UMAP, PCA below map_min_umap alive features), "umap", "pca", "none"
    map_min_umap: int = 256
    logit_norm: str = "final_norm"        # "final_norm" (apply γ of the final norm) or "none"

    _STATE_FIELDS = ("top_k", "window", "sample_window", "bins_per_octave", "octaves_below", "octaves_above",
                     "samples_per_bin", "n_background", "background_len", "seed", "exclude_first", "sink_norm_ratio")

    def __post_init__(self) -> None:
        self.window = tuple(int(v) for v in self.window)          # type: ignore[assignment]
        self.sample_window = tuple(int(v) for v in self.sample_window)  # type: ignore[assignment]
        if self.exclude_first < 0 or self.sink_norm_ratio < 0:
            raise ValueError(f"exclude_first (leading tokens to leave out) and sink_norm_ratio must be ≥ 0, got "
                             f"{self.exclude_first} and {self.sink_norm_ratio}")
        if self.top_k < 1 or self.n_buckets < 1 or self.per_bucket < 0 or self.samples_per_bin < 1:
            raise ValueError("top_k, n_buckets and samples_per_bin must be ≥ 1 (per_bucket ≥ 0)")
        if min(self.window + self.sample_window) < 0:
            raise ValueError("windows are (left, right) token counts ≥ 0")
        if self.bucket_scheme not in ("linear", "quantile"):
            raise ValueError(f"bucket_scheme must be 'linear' or 'quantile', got {self.bucket_scheme!r}")
        if self.map_method not in ("auto", "umap", "pca", "none"):
            raise ValueError(f"map_method must be auto, umap, pca or none, got {self.map_method!r}")
        if self.logit_norm not in ("final_norm", "none"):
            raise ValueError(f"logit_norm must be 'final_norm' or 'none', got {self.logit_norm!r}")

    @property
    def n_bins(self) -> int:
        return self.bins_per_octave * (self.octaves_below + self.octaves_above)

    def state_key(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k in self._STATE_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IndexConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# ---- SAE adapters -----------------------------------------------------------------------------------
def sae_n_latents(sae) -> int:
    return int(sae.W_dec.shape[0])


def sae_fingerprint(sae) -> str:
    """Identifies an SAE by its decoder (format-independent): sha256 of the float32 W_dec bytes."""
    w = sae.W_dec.detach().float().cpu().contiguous().numpy()
    h = hashlib.sha256(str(w.shape).encode())
    h.update(w.tobytes())
    return h.hexdigest()[:16]


def sae_info(sae) -> dict[str, Any]:
    cfg = getattr(sae, "cfg", None)
    info: dict[str, Any] = {"fingerprint": sae_fingerprint(sae), "n_latents": sae_n_latents(sae),
                            "d_in": int(sae.W_dec.shape[1])}
    for key in ("hook", "model", "architecture", "k", "l1_coefficient"):
        v = getattr(cfg, key, None) if cfg is not None else None
        if v is not None and isinstance(v, (str, int, float)):
            info[key] = v
    return info


def _encode(sae, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return sae.encode(x).float()


# ---- a batch-independent hash (reservoir keys) -------------------------------------------------------
def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """(x · c) mod 2³² for 0 ≤ x < 2³², without int64 overflow (16-bit halves)."""
    return (((((x >> 16) * c) & 0xFFFF) << 16) + (x & 0xFFFF) * c) & _M32


def _fmix32(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = _mul32(x, 0x85EBCA6B)
    x = x ^ (x >> 13)
    x = _mul32(x, 0xC2B2AE35)
    return x ^ (x >> 16)


def hash_keys(seed: int, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A 32-bit hash of (seed, a, b) as int64: uniform keys that do not depend on batch boundaries."""
    x = _fmix32((a & _M32) ^ ((seed * 0x9E3779B1) & _M32))
    x = _fmix32(x ^ ((a >> 32) & _M32) ^ _mul32(b & _M32, 0x27D4EB2F))
    return _fmix32(x ^ _mul32((b >> 32) & _M32, 0x165667B1))


# ---- streaming state ---------------------------------------------------------------------------------
def _windows(f: torch.Tensor, rows: torch.Tensor, feats: torch.Tensor, left: int, right: int,
             ctx_len: int) -> torch.Tensor:
    """f[row + o, feat] for o in [-left, right], NaN outside the row's context.

    Validity comes from per-entry bounds (no per-element division) and the gather is one flat `take`:
    this runs on every entry that enters a top-k or reservoir, so it is the pass's main overhead early on.
    """
    N, n = f.shape
    off = torch.arange(-left, right + 1, device=f.device)
    start = rows - torch.remainder(rows, ctx_len)                      # first row of the context
    lo = (start - rows).clamp_(min=-left)
    hi = (start + ctx_len - 1 - rows).clamp_(max=right)
    valid = (off >= lo[:, None]) & (off <= hi[:, None])
    idx = (rows[:, None] + off).clamp_(0, N - 1).mul_(n).add_(feats[:, None])
    return f.view(-1).take(idx).masked_fill_(~valid, float("nan"))


class IndexState:
    """Everything the pass accumulates; a pure function of the shards seen so far (hash keys, no RNG)."""

    WIN_DTYPE = torch.bfloat16

    def __init__(self, n: int, cfg: IndexConfig, device: str | torch.device = "cpu"):
        self.n, self.cfg, self.device = n, cfg, torch.device(device)
        k, nb, r = cfg.top_k, cfg.n_bins, cfg.samples_per_bin
        wt, ws = sum(cfg.window) + 1, sum(cfg.sample_window) + 1
        z = dict(device=self.device)
        self.shards_done = 0
        self.n_tokens = 0                                         # tokens counted (not excluded)
        self.n_excluded = {"special": 0, "first": 0, "sink": 0}  # rows left out, by reason
        self.sink_norm: float | None = None
        self.n_active = torch.zeros(n, dtype=torch.int64, **z)
        self.sum_act = torch.zeros(n, dtype=torch.float64, **z)
        self.top_val = torch.zeros(n, k, **z)
        self.top_tok = torch.full((n, k), -1, dtype=torch.int64, **z)
        self.top_win = torch.full((n, k, wt), float("nan"), dtype=self.WIN_DTYPE, **z)
        self.scale = torch.zeros(n, **z)                          # first activation: anchors the fine bins
        self.hist = torch.zeros(n, nb, dtype=torch.int64, **z)
        self.res_key = torch.full((n, nb, r), _KEY_EMPTY, dtype=torch.int64, **z)
        self.res_tok = torch.full((n, nb, r), -1, dtype=torch.int64, **z)
        self.res_val = torch.zeros(n, nb, r, **z)
        self.res_win = torch.full((n, nb, r, ws), float("nan"), dtype=self.WIN_DTYPE, **z)
        self.bg_ids: list[torch.Tensor] = []                      # sparse (window, feature, max act)
        self.bg_feats: list[torch.Tensor] = []
        self.bg_vals: list[torch.Tensor] = []

    _TENSORS = ("n_active", "sum_act", "top_val", "top_tok", "top_win", "scale", "hist", "res_key", "res_tok",
                "res_val", "res_win")

    def to(self, device: str | torch.device) -> "IndexState":
        for t in self._TENSORS:
            setattr(self, t, getattr(self, t).to(device))
        self.bg_ids, self.bg_feats, self.bg_vals = ([x.to(device) for x in xs] for xs in
                                                    (self.bg_ids, self.bg_feats, self.bg_vals))
        self.device = torch.device(device)
        return self

    def nbytes(self) -> int:
        return sum(getattr(self, t).numel() * getattr(self, t).element_size() for t in self._TENSORS)

    # -- checkpoint --
    def state_dict(self) -> dict[str, Any]:
        d = {t: getattr(self, t).cpu() for t in self._TENSORS}
        d.update(shards_done=self.shards_done, n_tokens=self.n_tokens, n_excluded=dict(self.n_excluded),
                 bg=[torch.cat(x).cpu() if x else torch.zeros(0) for x in (self.bg_ids, self.bg_feats, self.bg_vals)])
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        for t in self._TENSORS:
            setattr(self, t, d[t].to(self.device))
        self.shards_done, self.n_tokens = int(d["shards_done"]), int(d["n_tokens"])
        self.n_excluded = dict(d.get("n_excluded") or {"special": 0, "first": 0, "sink": 0})
        ids, feats, vals = d["bg"]
        self.bg_ids, self.bg_feats, self.bg_vals = ([ids.long()], [feats.long()], [vals.float()]) if len(ids) else ([], [], [])

    # -- one batch of whole contexts --
    def update(self, f: torch.Tensor, row0: int, special: torch.Tensor, ctx_len: int,
               background: dict[int, tuple[int, int]] | None = None, key_seed: int = 0) -> None:
        """Fold a batch in: f [N, n] activations of N = B·ctx_len consecutive store rows from global row0.

        Apart from extracting the non-zeros (one pass over f), all work is O(non-zeros) or O(n·k):
        the SAE's encode stays the dominant cost.
        """
        n = self.n
        N = f.shape[0]
        sp = torch.nonzero(special, as_tuple=True)[0]
        if len(sp):
            f.index_fill_(0, sp, 0.0)
        self.n_tokens += N - len(sp)
        flat = _nonzero_flat(f)
        if not len(flat):
            return
        rows = _floordiv(flat, n)
        feats = flat - rows * n
        vals = f.view(-1)[flat]
        self.n_active += torch.bincount(feats, minlength=n)
        self.sum_act.index_add_(0, feats, vals.double())
        self._update_top(f, rows, feats, vals, row0, N // ctx_len, ctx_len)
        self._update_reservoirs(f, rows, feats, vals, row0, ctx_len, key_seed)
        for wid, (local_start, length) in (background or {}).items():
            m = (rows >= local_start) & (rows < local_start + length)
            seg = torch.zeros(n, device=f.device).scatter_reduce_(0, feats[m], vals[m], reduce="amax")
            nz = torch.nonzero(seg > 0, as_tuple=True)[0]
            self.bg_ids.append(torch.full_like(nz, wid))
            self.bg_feats.append(nz)
            self.bg_vals.append(seg[nz])

    def _update_top(self, f, rows, feats, vals, row0: int, B: int, L: int) -> None:
        """Merge this batch's per-context maxima into the running top-k.

        The k entries of a feature are kept *unsorted* in fixed slots: an entry that enters takes the slot
        of one that left, so only entering entries (and their windows) are written — O(changes), not O(n·k·W).
        """
        k, n = self.cfg.top_k, self.n
        left, right = self.cfg.window
        grp = _floordiv(rows, L) * n + feats                                 # (context, feature)
        cmax = torch.zeros(B * n, device=f.device).scatter_reduce_(0, grp, vals, reduce="amax")
        kth = self.top_val.amin(1)
        cand = torch.nonzero(cmax.view(B, n).amax(0) > kth, as_tuple=True)[0]
        if not len(cand):
            return
        cm = cmax.view(B, n)[:, cand].T                                        # [c, B]
        vals_k, idx = torch.cat([self.top_val[cand], cm], 1).topk(k, dim=1)
        new = (idx >= k) & (vals_k > 0)
        ef, ej = torch.nonzero(new, as_tuple=True)
        if not len(ef):
            return
        kept = torch.zeros(len(cand), k + 1, dtype=torch.bool, device=f.device)
        kept.scatter_(1, torch.where(idx < k, idx, torch.full_like(idx, k)), True)
        free = torch.argsort(kept[:, :k].to(torch.int8), dim=1, stable=True)  # free slots first
        slot = free[ef, (torch.cumsum(new.to(torch.int64), 1) - 1)[ef, ej]]
        at_max = torch.nonzero(vals == cmax[grp], as_tuple=True)[0]
        peak_of = torch.full((B * n,), f.shape[0], dtype=torch.int64, device=f.device)
        peak_of.scatter_reduce_(0, grp[at_max], rows[at_max], reduce="amin")   # first row at the context max
        fe = cand[ef]
        peak = peak_of[(idx[ef, ej] - k) * n + fe]
        self.top_val[fe, slot] = vals_k[ef, ej]
        self.top_tok[fe, slot] = row0 + peak
        self.top_win[fe, slot] = _windows(f, peak, fe, left, right, L).to(self.top_win.dtype)

    def _update_reservoirs(self, f, rows, feats, vals, row0: int, L: int, key_seed: int) -> None:
        cfg = self.cfg
        nb, r = cfg.n_bins, cfg.samples_per_bin
        unset = torch.nonzero(self.scale[feats] == 0, as_tuple=True)[0]
        if len(unset):  # anchor each newly seen feature's bins at its first activation in store order
            uf, ur, uv = feats[unset], rows[unset], vals[unset]
            first = torch.full((self.n,), f.shape[0], dtype=torch.int64, device=f.device)
            first.scatter_reduce_(0, uf, ur, reduce="amin")
            is_first = ur == first[uf]
            self.scale[uf[is_first]] = uv[is_first]
        b = torch.floor(torch.log2(vals / self.scale[feats]) * cfg.bins_per_octave).long()
        b = (b + cfg.octaves_below * cfg.bins_per_octave).clamp_(0, nb - 1)
        g = feats * nb + b
        self.hist.view(-1).index_add_(0, g, torch.ones_like(g))
        gen = torch.Generator(device=f.device).manual_seed(int(key_seed))
        key = torch.randint(0, 1 << 32, (len(g),), generator=gen, device=f.device, dtype=torch.int64)
        flat_key = self.res_key.view(-1, r)
        keep = torch.nonzero(key < flat_key.amax(1)[g], as_tuple=True)[0]   # others cannot enter a full reservoir
        if not len(keep):
            return
        g, key, rows, feats, vals = g[keep], key[keep], rows[keep], feats[keep], vals[keep]
        order = torch.argsort(g * (1 << 33) + key)
        g, key, rows, feats, vals = g[order], key[order], rows[order], feats[order], vals[order]
        gu, inv, counts = torch.unique_consecutive(g, return_inverse=True, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(g), device=g.device) - starts[inv]
        sel = torch.nonzero(rank < r, as_tuple=True)[0]
        key, rows, feats, vals, inv, rank = (t[sel] for t in (key, rows, feats, vals, inv, rank))
        U = len(gu)
        cand_key = torch.full((U, r), _KEY_EMPTY, dtype=torch.int64, device=g.device)
        cand_pos = torch.zeros((U, r), dtype=torch.int64, device=g.device)
        cand_key[inv, rank] = key
        cand_pos[inv, rank] = torch.arange(len(key), device=g.device)
        # Bottom-r keys of (reservoir ∪ candidates); entering candidates take the slots of leaving entries.
        new_key, src = torch.cat([flat_key[gu], cand_key], 1).topk(r, dim=1, largest=False)
        new = (src >= r) & (new_key < _KEY_EMPTY)
        eu, ej = torch.nonzero(new, as_tuple=True)
        if not len(eu):
            return
        kept = torch.zeros(U, r + 1, dtype=torch.bool, device=g.device)
        kept.scatter_(1, torch.where(src < r, src, torch.full_like(src, r)), True)
        free = torch.argsort(kept[:, :r].to(torch.int8), dim=1, stable=True)
        slot = free[eu, (torch.cumsum(new.to(torch.int64), 1) - 1)[eu, ej]]
        p = cand_pos[eu, src[eu, ej] - r]
        ge = gu[eu]
        self.res_key.view(-1, r)[ge, slot] = key[p]
        self.res_tok.view(-1, r)[ge, slot] = row0 + rows[p]
        self.res_val.view(-1, r)[ge, slot] = vals[p]
        ws = self.res_win.shape[-1]
        self.res_win.view(-1, r, ws)[ge, slot] = _windows(f, rows[p], feats[p], *cfg.sample_window, L
                                                          ).to(self.res_win.dtype)


def _floordiv(t: torch.Tensor, d: int) -> torch.Tensor:
    """t // d for non-negative int64 t; a shift when d is a power of two (int64 division is slow on CPU)."""
    if d > 0 and d & (d - 1) == 0:
        return t >> (d.bit_length() - 1)
    return torch.div(t, d, rounding_mode="floor")


def _nonzero_flat(f: torch.Tensor, rows_per_chunk: int = 256) -> torch.Tensor:
    """Flat indices of the positive entries of f. On CPU numpy's bool flatnonzero is ~4× torch's nonzero,
    and going by row chunks keeps the boolean mask in cache (the only full pass over f besides encode)."""
    if f.device.type != "cpu":
        return torch.nonzero(f.view(-1) > 0, as_tuple=True)[0]
    a = f.numpy()
    n = a.shape[1]
    parts = [np.flatnonzero(a[s:s + rows_per_chunk] > 0) + s * n for s in range(0, a.shape[0], rows_per_chunk)]
    return torch.from_numpy(np.concatenate(parts) if parts else np.zeros(0, np.int64))


# ---- the pass ----------------------------------------------------------------------------------------
def _store_fingerprint(store) -> str:
    m = store.manifest
    return hashlib.sha256(json.dumps([m.config.fingerprint(), [s.name for s in m.shards],
                                      [s.files for s in m.shards]], sort_keys=True).encode()).hexdigest()[:16]


def _background_plan(store, cfg: IndexConfig) -> list[tuple[int, int]]:
    """(global start row, length) of the random background windows, fixed by the seed and the store."""
    m = store.manifest
    L = m.config.context_len
    n_ctx = m.n_tokens // L
    if cfg.n_background <= 0 or n_ctx == 0:
        return []
    rng = np.random.default_rng([cfg.seed, 7])
    ctx = np.sort(rng.choice(n_ctx, size=min(cfg.n_background, n_ctx), replace=False))
    length = min(cfg.background_len, L - 1)
    starts = rng.integers(1, L - length + 1, size=len(ctx)) if L - length >= 1 else np.zeros(len(ctx), int)
    return [(int(c * L + s), int(length)) for c, s in zip(ctx, starts)]


class _update_threads:
    """Torch threads for the state update on CPU. Its ops are small and scattered: on a quiet machine all
    threads still win (1.6× over one thread at L0 127, measured), but on a machine shared with other jobs
    the thread pool's hand-offs cost more than they gain, so `n=1` is offered; encode keeps all threads."""

    def __init__(self, device, n: int | None):
        self.n_update = n if torch.device(device).type == "cpu" and n else None

    def __enter__(self):
        if self.n_update:
            self.n = torch.get_num_threads()
            torch.set_num_threads(self.n_update)

    def __exit__(self, *exc):
        if self.n_update:
            torch.set_num_threads(self.n)


def excluded_rows(special: np.ndarray, ctx_len: int, exclude_first: int, norms: np.ndarray | None = None,
                  sink_norm: float | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """Rows left out of the statistics (rows start at a context boundary), and how many for each reason:
    special tokens (BOS, separators, padding); the first `exclude_first` ordinary tokens of every context;
    and attention sinks, rows whose residual norm exceeds `sink_norm`.

    Why: a context's first position is the attention sink, and in a BOS-led context the first real token
    after the BOS often is one too (SmolLM2 at its middle layer: norm ~20,000 at the BOS, thousands on a
    newline or '.' right after it, ~180 elsewhere). Features fire there at ~100x their usual level, set a
    meaningless max activation (the steering unit) and top every ranking."""
    special = np.asarray(special, dtype=bool)
    out = special.copy()
    counts = {"special": int(special.sum()), "first": 0, "sink": 0}
    if exclude_first > 0:
        ordinary = ~special.reshape(-1, ctx_len)
        rank = np.cumsum(ordinary, axis=1)
        first = (ordinary & (rank <= exclude_first)).reshape(-1)
        counts["first"] = int(first.sum())
        out |= first
    if norms is not None and sink_norm is not None:
        sink = (np.asarray(norms) > sink_norm) & ~out
        counts["sink"] = int(sink.sum())
        out |= sink
    return out, counts


def sink_threshold(store, hook: str, ratio: float, sample_rows: int = 1 << 14) -> float | None:
    """`ratio` x the median residual norm of the store's first ordinary rows (a pure function of the store,
    so a resumed pass gets the same threshold); None when `ratio` is 0."""
    if not ratio:
        return None
    from ..store.reader import to_torch

    acts = store.shard_array(0, hook)
    n = min(len(acts), sample_rows)
    special = np.asarray(store.shard_array(0, "special"))[:n]
    x = to_torch(np.array(acts[:n]), store.manifest.config.dtype).float()
    norms = x.norm(dim=1).numpy()[~special]
    return float(ratio * np.median(norms)) if len(norms) else None


def _batch_seed(seed: int, row0: int) -> int:
    return int(hashlib.blake2b(f"{seed}:{row0}".encode(), digest_size=7).hexdigest(), 16)


def auto_batch_tokens(n_latents: int, ctx_len: int, budget_bytes: int = 1 << 28) -> int:
    """Rows per batch so that the dense [rows, n_latents] float32 activations stay within the budget."""
    rows = max(ctx_len, min(4096, budget_bytes // (4 * max(1, n_latents))))
    return max(1, rows // ctx_len) * ctx_len


@dataclass
class PassResult:
    state: IndexState
    seconds: float
    new_tokens: int
    complete: bool
    checkpoint_seconds: float = 0.0   # part of `seconds` spent writing checkpoints


def run_pass(sae, store, hook: str, cfg: IndexConfig, state_path: Path | None, *, device: str = "cpu",
             batch_tokens: int | None = None, progress: bool = True, stop_after_shards: int | None = None,
             checkpoint_seconds: float = 60.0, state_meta: dict | None = None,
             on_shard: Callable[[int], None] | None = None, update_threads: int | None = None) -> PassResult:
    """The streaming pass (resumes from `state_path` when it holds a state with the same `state_meta`)."""
    m = store.manifest
    L = m.config.context_len
    n = sae_n_latents(sae)
    state = IndexState(n, cfg, device)
    if state_path is not None and state_path.exists():
        saved = torch.load(state_path, map_location="cpu", weights_only=False)
        if saved.get("meta") != state_meta:
            raise FeatureDBError(f"{state_path} is a checkpoint of a different indexing run "
                                 f"(saved {saved.get('meta')}, requested {state_meta}); delete it or use a "
                                 f"new output directory")
        state.load_state_dict(saved["state"])
    bt = batch_tokens or auto_batch_tokens(n, L)
    bt = max(L, bt // L * L)
    offsets = np.cumsum([0] + [s.n_tokens for s in m.shards])
    bg_plan = _background_plan(store, cfg)
    bg_starts = np.array([s for s, _ in bg_plan], dtype=np.int64)
    todo = range(state.shards_done, len(m.shards))
    if stop_after_shards is not None:
        todo = range(state.shards_done, min(len(m.shards), state.shards_done + stop_after_shards))
    total = int(offsets[-1])
    bar = tqdm(total=total, initial=int(offsets[state.shards_done]), unit="tok", unit_scale=True,
               desc=f"index {hook}", disable=not progress)
    dtype = m.config.dtype
    from ..store.reader import to_torch

    sink_norm = sink_threshold(store, hook, cfg.sink_norm_ratio)
    state.sink_norm = sink_norm

    t0 = last_ckpt = time.perf_counter()
    new_tokens = 0
    ckpt_s = 0.0
    try:
        for i in todo:
            acts = store.shard_array(i, hook)
            special_all = np.asarray(store.shard_array(i, "special"))
            T = acts.shape[0]
            if T % L:
                raise FeatureDBError(f"shard {m.shards[i].name} holds {T} rows, not a multiple of the context "
                                     f"length {L}; the store is corrupt")
            for a in range(0, T, bt):
                b = min(T, a + bt)
                x = to_torch(np.array(acts[a:b]), dtype).to(device=device, dtype=torch.float32)
                f = _encode(sae, x)
                drop, counts = excluded_rows(np.array(special_all[a:b]), L, cfg.exclude_first,
                                             x.norm(dim=1).cpu().numpy() if sink_norm else None, sink_norm)
                for k_, v_ in counts.items():
                    state.n_excluded[k_] = state.n_excluded.get(k_, 0) + v_
                special = torch.from_numpy(drop).to(device)
                row0 = int(offsets[i]) + a
                bg = None
                if len(bg_starts):
                    lo, hi = np.searchsorted(bg_starts, [row0, row0 + (b - a)])
                    bg = {int(w): (int(bg_starts[w]) - row0, bg_plan[w][1]) for w in range(lo, hi)}
                with _update_threads(device, update_threads):
                    state.update(f, row0, special, L, bg, key_seed=_batch_seed(cfg.seed, row0))
                bar.update(b - a)
                new_tokens += b - a
            state.shards_done = i + 1
            now = time.perf_counter()
            if state_path is not None and (now - last_ckpt >= checkpoint_seconds or i + 1 == len(m.shards)
                                           or i + 1 == todo[-1] + 1):
                atomic_torch_save({"meta": state_meta, "state": state.state_dict()}, state_path)
                ckpt_s += time.perf_counter() - now
                last_ckpt = time.perf_counter()
            if on_shard is not None:
                on_shard(i)
    finally:
        bar.close()
    return PassResult(state, time.perf_counter() - t0, new_tokens, state.shards_done == len(m.shards), ckpt_s)


# ---- post-processing ----------------------------------------------------------------------------------
def final_norm_weight(lm) -> tuple[torch.Tensor | None, bool]:
    """(γ of the model's final norm or None, whether it is a LayerNorm that also centres)."""
    model = lm.model
    base = getattr(model, getattr(model, "base_model_prefix", "model"), model)
    for name in ("norm", "ln_f", "final_layer_norm", "final_layernorm", "norm_f"):
        mod = getattr(base, name, None)
        if mod is not None and getattr(mod, "weight", None) is not None:
            w = mod.weight.detach().float().cpu()
            is_ln = isinstance(mod, torch.nn.LayerNorm)
            if lm.hooked.model_type.startswith("gemma"):
                w = 1.0 + w  # Gemma's RMSNorm scales by (1 + weight)
            return w, is_ln
    return None, False


def logit_effects(W_dec: torch.Tensor, lm, n_top: int = 10, how: str = "final_norm",
                  chunk: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Top and bottom tokens of W_U (γ ⊙ d̂) per feature: (top ids, top values, bottom ids, bottom values, method)."""
    W_U = lm.model.get_output_embeddings().weight.detach().float().cpu()   # [V, d]
    D = W_dec.detach().float().cpu()
    D = D / D.norm(dim=1, keepdim=True).clamp_min(1e-12)
    method = "W_U d̂ (no norm)"
    if how == "final_norm":
        gamma, is_ln = final_norm_weight(lm)
        if is_ln:
            D = D - D.mean(dim=1, keepdim=True)
        if gamma is not None:
            D = D * gamma
            method = "W_U (γ ⊙ d̂), γ = final norm weight" + (" (LayerNorm: centred)" if is_ln else "")
    n_top = min(n_top, W_U.shape[0])
    ti, tv, bi, bv = [], [], [], []
    for s in range(0, D.shape[0], chunk):
        logits = D[s:s + chunk] @ W_U.T
        v, i = logits.topk(n_top, dim=1)
        ti.append(i), tv.append(v)
        v, i = logits.topk(n_top, dim=1, largest=False)
        bi.append(i), bv.append(v)
    cat = lambda xs: torch.cat(xs).numpy()  # noqa: E731
    return cat(ti).astype(np.int32), cat(tv), cat(bi).astype(np.int32), cat(bv), method


def decoder_neighbours(W_dec: torch.Tensor, k: int = 10, other: torch.Tensor | None = None,
                       chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Top-k cosine neighbours of each decoder direction among `other` (default: the same SAE, self excluded)."""
    D = W_dec.detach().float().cpu()
    D = D / D.norm(dim=1, keepdim=True).clamp_min(1e-12)
    same = other is None
    O = D if same else other.detach().float().cpu()
    if not same:
        O = O / O.norm(dim=1, keepdim=True).clamp_min(1e-12)
        if O.shape[1] != D.shape[1]:
            raise FeatureDBError(f"cannot compare SAEs of widths {D.shape[1]} and {O.shape[1]}: "
                                 f"cross-SAE neighbours need SAEs on the same hook point")
    k = min(k, O.shape[0] - (1 if same else 0))
    ids, cos = [], []
    for s in range(0, D.shape[0], chunk):
        sim = D[s:s + chunk] @ O.T
        if same:
            r = torch.arange(s, min(s + chunk, D.shape[0]))
            sim[r - s, r] = -float("inf")
        v, i = sim.topk(max(k, 0), dim=1)
        ids.append(i), cos.append(v)
    return torch.cat(ids).numpy().astype(np.int32), torch.cat(cos).numpy().astype(np.float32)


def feature_map(W_dec: torch.Tensor, alive: np.ndarray, method: str = "auto", seed: int = 0,
                min_umap: int = 256) -> tuple[np.ndarray, str]:
    """2-D coordinates of decoder directions ([n, 2], NaN for features left off the map) and the method."""
    D = W_dec.detach().float().cpu()
    D = (D / D.norm(dim=1, keepdim=True).clamp_min(1e-12)).numpy()
    n = D.shape[0]
    out = np.full((n, 2), np.nan, dtype=np.float32)
    idx = np.nonzero(alive)[0] if alive.sum() >= 3 else np.arange(n)
    if method == "none" or len(idx) < 3:
        return out, "none"
    X = D[idx]
    if method == "umap" or (method == "auto" and len(idx) >= min_umap):
        try:
            import umap  # noqa: PLC0415 - slow import, only when used
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                emb = umap.UMAP(n_neighbors=min(15, len(idx) - 1), min_dist=0.1, metric="cosine",
                                random_state=seed).fit_transform(X)
            out[idx] = emb.astype(np.float32)
            return out, "umap(cosine, n_neighbors=15, min_dist=0.1)"
        except ImportError:
            if method == "umap":
                raise FeatureDBError("map_method='umap' needs umap-learn (pip install umap-learn)")
    Xc = X - X.mean(0, keepdims=True)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    out[idx] = (Xc @ Vt[:2].T).astype(np.float32) if Vt.shape[0] >= 2 else np.c_[Xc @ Vt[:1].T, np.zeros(len(idx))]
    return out, "pca"


def _bucket_positions(val: torch.Tensor, valid: torch.Tensor, bins: torch.Tensor, hist: torch.Tensor,
                      scale: torch.Tensor, max_act: torch.Tensor, cfg: IndexConfig) -> torch.Tensor:
    """Final bucket (0..n_buckets-1, −1 invalid) of each reservoir sample [n, S]."""
    B = cfg.n_buckets
    if cfg.bucket_scheme == "linear":
        u = val / max_act.clamp_min(1e-30)[:, None]
    else:  # equal-mass buckets: the sample's position in the feature's CDF, interpolated inside its fine bin
        h = hist.double()
        cdf = torch.cumsum(h, 1) / h.sum(1, keepdim=True).clamp_min(1)
        lo = torch.cat([torch.zeros_like(cdf[:, :1]), cdf[:, :-1]], 1)
        c_lo, c_hi = lo.gather(1, bins), cdf.gather(1, bins)
        pos = torch.log2(val / scale.clamp_min(1e-30)[:, None]) * cfg.bins_per_octave \
            + cfg.octaves_below * cfg.bins_per_octave
        frac = (pos - bins).clamp(0, 1).double()
        u = (c_lo + (c_hi - c_lo) * frac).float()
    bucket = torch.floor(u * B).long().clamp(0, B - 1)
    return torch.where(valid, bucket, torch.full_like(bucket, -1))


def select_samples(state: IndexState, cfg: IndexConfig, lo: int = 0, hi: int | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per feature and bucket, up to `per_bucket` reservoir samples chosen with probability ∝ how many
    activations each represents (its fine bin's count / samples kept from that bin). For features
    [lo, hi); returns (flat sample index [m] into [n, nb·r], bucket [m], rank within bucket [m])."""
    hi = state.n if hi is None else hi
    n, nb, r = hi - lo, cfg.n_bins, cfg.samples_per_bin
    S = nb * r
    key = state.res_key[lo:hi].reshape(n, S).cpu()
    val = state.res_val[lo:hi].reshape(n, S).cpu()
    valid = key < _KEY_EMPTY
    bins = torch.arange(nb).repeat_interleave(r)[None].expand(n, S)
    kept = valid.view(n, nb, r).sum(-1).clamp_min(1)
    hist = state.hist[lo:hi].cpu()
    weight = (hist.double() / kept).repeat_interleave(r, dim=1)
    max_act = state.top_val[lo:hi].amax(1).cpu()
    bucket = _bucket_positions(val, valid, bins, hist, state.scale[lo:hi].cpu(), max_act, cfg)
    u = (hash_keys(cfg.seed + 1, state.res_tok[lo:hi].reshape(n, S).cpu(),
                   torch.arange(lo, hi)[:, None].expand(n, S)).double() + 0.5) / 2 ** 32
    e = -torch.log(u) / weight.clamp_min(1e-12)                                # Efraimidis–Spirakis keys
    e = torch.where(bucket >= 0, e, torch.full_like(e, float("inf")))
    o1 = e.argsort(dim=1)
    b1 = bucket.gather(1, o1)
    b1s = torch.where(b1 >= 0, b1, torch.full_like(b1, cfg.n_buckets))
    o2 = b1s.argsort(dim=1, stable=True)
    order = o1.gather(1, o2)
    bsorted = b1s.gather(1, o2)
    onehot = torch.nn.functional.one_hot(bsorted, cfg.n_buckets + 1)
    rank = (onehot.cumsum(1) * onehot).sum(-1) - 1
    take = (bsorted < cfg.n_buckets) & (rank < cfg.per_bucket)
    fi, si = torch.nonzero(take, as_tuple=True)
    return (fi + lo) * S + order[fi, si], bsorted[fi, si], rank[fi, si]


def group_by_feature(feature: np.ndarray, values: np.ndarray, n: int) -> list[np.ndarray]:
    """`values` split by `feature` (0 … n-1), each group in its original order: n views of one sorted copy.

    Sort once, slice that one array: slicing a fresh ``values[order]`` per feature keeps n whole copies alive
    (O(n²) memory, ~21 GB at 16,384 latents, which is how a 16k-latent index was once OOM-killed)."""
    order = np.argsort(feature, kind="stable")
    ordered = values[order]
    bounds = np.searchsorted(feature[order], np.arange(n + 1))
    return [ordered[bounds[i]:bounds[i + 1]] for i in range(n)]


def logit_consistency(top_next: list[np.ndarray], top_logit_ids: np.ndarray, alive: np.ndarray,
                      seed: int = 0, n_logits: int = 10, min_examples: int = 3,
                      top_peak: list[np.ndarray] | None = None, identity_share: float = 0.8) -> dict[str, Any]:
    """Do a feature's top logit tokens predict the tokens that follow its top examples?

    For each alive feature with ≥ `min_examples` top examples: `frac` = fraction of its top examples whose
    next token is among its top-`n_logits` logit tokens; `hit` = any such example. Baseline: the same with
    each feature paired with another random feature's logit tokens (a shuffle of the features).
    With `top_peak` (the token each top example peaks on), the same numbers are also reported for the
    token-identity features (≥ `identity_share` of their top examples peak on one token).
    """
    feats = [i for i in np.nonzero(alive)[0] if len(top_next[i]) >= min_examples]
    if len(feats) < 2:
        return {"n_features": len(feats)}
    rng = np.random.default_rng(seed)
    perm = np.array(feats)[rng.permutation(len(feats))]
    fixed = perm == np.array(feats)
    if fixed.any():  # make it a derangement
        perm = np.roll(np.array(feats), 1)
    logits = top_logit_ids[:, :n_logits]

    def measure(pairs):
        fr = [np.isin(top_next[i], logits[j]).mean() for i, j in pairs]
        return float(np.mean(fr)), float(np.mean(np.array(fr) > 0))

    frac, hit = measure(zip(feats, feats))
    bfrac, bhit = measure(zip(feats, perm))
    per = {int(i): float(np.isin(top_next[i], logits[i]).mean()) for i in feats}
    best = sorted(per.items(), key=lambda kv: -kv[1])[:10]
    out = {"n_features": len(feats), "n_logits": n_logits,
           "mean_frac": frac, "hit_rate": hit, "baseline_mean_frac": bfrac, "baseline_hit_rate": bhit,
           "ratio_vs_baseline": frac / bfrac if bfrac > 0 else None, "best_features": best}
    if top_peak is not None:
        ident = []
        for j, i in enumerate(feats):
            p = top_peak[i]
            if len(p) >= min_examples and np.unique(p, return_counts=True)[1].max() >= identity_share * len(p):
                ident.append(j)
        if ident:
            sel_f = [feats[j] for j in ident]
            sel_p = [perm[j] for j in ident]
            ifrac, ihit = measure(zip(sel_f, sel_f))
            ibfrac, ibhit = measure(zip(sel_f, sel_p))
            out["token_identity"] = {"n_features": len(ident), "mean_frac": ifrac, "hit_rate": ihit,
                                     "baseline_mean_frac": ibfrac, "baseline_hit_rate": ibhit}
    return out


# ---- writing the database -----------------------------------------------------------------------------
def _gather_tokens(store, idx: np.ndarray) -> np.ndarray:
    """Token ids at global row indices (−1 where idx < 0), shard by shard through the memory maps."""
    idx = np.asarray(idx, dtype=np.int64)
    out = np.full(idx.shape, -1, dtype=np.int32)
    flat, res = idx.reshape(-1), out.reshape(-1)
    ok = np.nonzero((flat >= 0) & (flat < store.n_tokens))[0]
    if not len(ok):
        return out
    offsets = np.cumsum([0] + [s.n_tokens for s in store.manifest.shards])
    shard = np.searchsorted(offsets, flat[ok], side="right") - 1
    for s in np.unique(shard):
        sel = ok[shard == s]
        local = flat[sel] - offsets[s]
        order = np.argsort(local, kind="stable")
        toks = np.asarray(store.shard_array(int(s), "tokens"))
        res[sel[order]] = toks[local[order]]
    return out


def _ragged(starts: np.ndarray, wins: np.ndarray, store) -> tuple[np.ndarray, list, list]:
    """Trim NaN padding of windows [E, W] (first valid … last valid) → (start rows, token lists, act lists)."""
    valid = ~np.isnan(wins)
    has = valid.any(1)
    first = np.where(has, valid.argmax(1), 0)
    last = np.where(has, wins.shape[1] - 1 - valid[:, ::-1].argmax(1), -1)
    lengths = np.maximum(last - first + 1, 0)
    rows = starts[:, None] + np.arange(wins.shape[1])[None]
    keep = (np.arange(wins.shape[1])[None] >= first[:, None]) & (np.arange(wins.shape[1])[None] <= last[:, None])
    toks = _gather_tokens(store, np.where(keep, rows, -1))
    flat_t = toks[keep]
    flat_a = np.nan_to_num(wins[keep], nan=0.0).astype(np.float32)
    return starts + first, (flat_t, lengths), (flat_a, lengths)


def _reorder_ragged(flat: np.ndarray, lengths: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The flat values of ragged rows (given by `lengths`) rearranged into row order `order`."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    ln = lengths[order].astype(np.int64)
    if not ln.sum():
        return flat[:0]
    new_starts = np.concatenate([[0], np.cumsum(ln)[:-1]])
    idx = np.repeat(starts[order] - new_starts, ln) + np.arange(ln.sum())
    return flat[idx]


def _list_array(flat: np.ndarray, lengths: np.ndarray):
    import pyarrow as pa

    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))


def _fixed_lists(mat: np.ndarray):
    mat = np.asarray(mat)
    return _list_array(mat.reshape(-1), np.full(mat.shape[0], mat.shape[1] if mat.ndim > 1 else 0))


def _write_parquet(table, path: Path, row_group_size: int | None = None) -> str:
    import pyarrow.parquet as pq

    atomic_write(path, lambda tmp: pq.write_table(table, tmp, row_group_size=row_group_size, compression="zstd"))
    return sha256_file(path)


def vocab_strings(tokenizer, vocab_size: int) -> list[str]:
    """Display text of every token id (decoded one at a time, so byte-level pieces read naturally)."""
    known = len(tokenizer)
    texts = tokenizer.batch_decode([[i] for i in range(min(known, vocab_size) if vocab_size else known)],
                                   skip_special_tokens=False, clean_up_tokenization_spaces=False)
    texts = [t if isinstance(t, str) else "" for t in texts]
    return texts + [f"<{i}>" for i in range(len(texts), max(vocab_size, known))]


def _examples_table(state: IndexState, st: dict, cfg: IndexConfig, store, lo: int, hi: int):
    """The examples rows of features [lo, hi): their top contexts and their bucket samples."""
    import pyarrow as pa

    lt = cfg.window[0]
    top_valid = st["top_tok"][lo:hi].numpy() >= 0
    tf, tj = np.nonzero(top_valid)
    top_tok = st["top_tok"][lo:hi].numpy()[tf, tj]
    top_win = st["top_win"][lo:hi][torch.from_numpy(tf), torch.from_numpy(tj)].float().numpy()
    top_act = st["top_val"][lo:hi].numpy()[tf, tj]
    tf = tf + lo
    t_start, t_toks, t_acts = _ragged(top_tok - lt, top_win.reshape(len(tf), -1), store)

    flat, sb, sr = select_samples(state, cfg, lo, hi)
    flat = flat.numpy()
    S = cfg.n_bins * cfg.samples_per_bin
    sf = flat // S
    s_tok = st["res_tok"].view(state.n, S).numpy()[sf, flat % S]
    s_val = st["res_val"].view(state.n, S).numpy()[sf, flat % S]
    s_win = st["res_win"].view(state.n * S, -1)[torch.from_numpy(flat)].float().numpy()
    s_start, s_toks, s_acts = _ragged(s_tok - cfg.sample_window[0], s_win.reshape(len(sf), -1), store)

    feat = np.concatenate([tf, sf]).astype(np.int32)
    is_sample = np.concatenate([np.zeros(len(tf), bool), np.ones(len(sf), bool)])
    bucket = np.concatenate([np.full(len(tf), -1), sb.numpy()]).astype(np.int16)
    rank = np.concatenate([tj, sr.numpy()]).astype(np.int16)
    act = np.concatenate([top_act, s_val]).astype(np.float32)
    tok_idx = np.concatenate([top_tok, s_tok]).astype(np.int64)
    start = np.concatenate([t_start, s_start]).astype(np.int64)
    tok_flat = np.concatenate([t_toks[0], s_toks[0]]).astype(np.int32)
    act_flat = np.concatenate([t_acts[0], s_acts[0]]).astype(np.float32)
    lengths = np.concatenate([t_toks[1], s_toks[1]]).astype(np.int64)
    peak_token = _gather_tokens(store, tok_idx)
    next_token = _gather_tokens(store, np.where((tok_idx + 1) % store.manifest.config.context_len == 0, -1,
                                                tok_idx + 1))
    order = np.lexsort((rank, bucket, is_sample, feat))
    kinds = np.where(is_sample, "sample", "top")[order]
    return pa.table({
        "feature": feat[order], "kind": pa.array(kinds.tolist(), type=pa.string()), "bucket": bucket[order],
        "rank": rank[order], "act": act[order], "token_index": tok_idx[order], "peak_token": peak_token[order],
        "next_token": next_token[order], "start": start[order],
        "tokens": _list_array(_reorder_ragged(tok_flat, lengths, order), lengths[order]),
        "acts": _list_array(_reorder_ragged(act_flat, lengths, order), lengths[order]),
    }, schema=_examples_schema())


def _examples_schema():
    import pyarrow as pa

    return pa.schema([("feature", pa.int32()), ("kind", pa.string()), ("bucket", pa.int16()), ("rank", pa.int16()),
                      ("act", pa.float32()), ("token_index", pa.int64()), ("peak_token", pa.int32()),
                      ("next_token", pa.int32()), ("start", pa.int64()), ("tokens", pa.list_(pa.int32())),
                      ("acts", pa.list_(pa.float32()))])


def write_database(out: Path, state: IndexState, sae, store, lm, hook: str, cfg: IndexConfig,
                   other_sae=None, provenance: dict | None = None, progress: bool = True,
                   chunk_features: int = 16384) -> dict[str, Any]:
    import pyarrow as pa

    from .. import __version__

    t0 = time.perf_counter()
    state = state.to("cpu")
    n = state.n
    files: dict[str, str] = {}
    st = {t: getattr(state, t).cpu() for t in IndexState._TENSORS}
    # top-k slots are unsorted during the pass: order them by activation
    st["top_val"], o = st["top_val"].sort(dim=1, descending=True, stable=True)
    st["top_tok"] = st["top_tok"].gather(1, o)
    st["top_win"] = st["top_win"].gather(1, o[..., None].expand(-1, -1, st["top_win"].shape[-1]))
    max_act = st["top_val"][:, 0].numpy().astype(np.float32)
    n_active = st["n_active"].numpy()
    alive = n_active > 0
    density = n_active / max(1, state.n_tokens)
    mean_act = np.where(alive, st["sum_act"].numpy() / np.maximum(n_active, 1), 0.0).astype(np.float32)
    W_dec = sae.W_dec.detach().float().cpu()
    dec_norm = W_dec.norm(dim=1).numpy()

    # max activations for the steerer (units of clamp values)
    atomic_save_safetensors(out / MAX_ACTS, {"max_acts": torch.from_numpy(max_act.copy())},
                            metadata={"sae": sae_fingerprint(sae), "hook": hook})
    files[MAX_ACTS] = sha256_file(out / MAX_ACTS)

    # post-processing steps after the streaming pass: one bar, one tick per step (the examples step
    # also ticks per feature chunk), so a long map or neighbour search is visible
    n_chunks = -(-n // chunk_features)
    bar = tqdm(total=7 + n_chunks + (other_sae is not None), desc=f"index post-processing {hook}", unit="step",
               disable=not progress)

    def step(name: str) -> None:
        bar.set_postfix_str(name, refresh=False)
        bar.update(1)

    # logit effects, neighbours, map
    vocab = vocab_strings(lm.tokenizer, lm.model.get_output_embeddings().weight.shape[0])
    ti, tv, bi, bv, logit_method = logit_effects(W_dec, lm, cfg.n_logits, cfg.logit_norm)
    step("logit effects")
    nb_ids, nb_cos = decoder_neighbours(W_dec, cfg.n_neighbours)
    step("neighbours")
    cross = None
    if other_sae is not None:
        cross = decoder_neighbours(W_dec, cfg.n_neighbours, other=other_sae.W_dec)
        step("cross-SAE neighbours")
    coords, map_method = feature_map(W_dec, alive, cfg.map_method, cfg.seed, cfg.map_min_umap)
    step("map")

    # quantiles of each feature's activation distribution, from the exact fine histogram (bin upper edges)
    hist = st["hist"].numpy()
    cdf = np.cumsum(hist, 1) / np.maximum(hist.sum(1, keepdims=True), 1)
    upper = st["scale"].numpy()[:, None] * 2.0 ** ((np.arange(cfg.n_bins) + 1) / cfg.bins_per_octave
                                                   - cfg.octaves_below)
    quant = {}
    for q in (0.5, 0.9, 0.99):
        j = np.minimum((cdf < q).sum(1), cfg.n_bins - 1)
        quant[q] = np.where(alive, np.minimum(upper[np.arange(n), j], max_act), 0.0).astype(np.float32)
    hist_lo = (st["scale"].numpy() * 2.0 ** (-cfg.octaves_below)).astype(np.float32)

    # examples: top contexts + bucket samples, written feature-chunk by feature-chunk (bounded memory)
    import pyarrow.parquet as pq

    ex_path = out / "examples.parquet"
    tmp = ex_path.with_name(ex_path.name + ".tmp")
    writer = pq.ParquetWriter(tmp, _examples_schema(), compression="zstd")
    tn_feat, tn_next, tn_peak = [], [], []
    try:
        for lo in range(0, n, chunk_features):
            hi = min(n, lo + chunk_features)
            tbl = _examples_table(state, st, cfg, store, lo, hi)
            writer.write_table(tbl, row_group_size=8192)
            top = np.asarray(tbl.column("kind").to_numpy(zero_copy_only=False)) == "top"
            tn_feat.append(tbl.column("feature").to_numpy()[top])
            tn_next.append(tbl.column("next_token").to_numpy()[top])
            tn_peak.append(tbl.column("peak_token").to_numpy()[top])
            step(f"examples {hi}/{n}")
    finally:
        writer.close()
    os.replace(tmp, ex_path)
    files["examples.parquet"] = sha256_file(ex_path)
    feat = np.concatenate(tn_feat) if tn_feat else np.zeros(0, np.int32)
    next_token = np.concatenate(tn_next) if tn_next else np.zeros(0, np.int32)
    peak_tok = np.concatenate(tn_peak) if tn_peak else np.zeros(0, np.int32)
    kind = np.full(len(feat), "top")
    top_peak: list[np.ndarray] = [np.zeros(0, np.int32)] * n
    if len(feat):
        top_peak = group_by_feature(feat, peak_tok, n)

    # logit consistency (top examples' next tokens vs top logit tokens)
    top_mask = (kind == "top") & (next_token >= 0)
    top_next: list[np.ndarray] = [np.zeros(0, np.int32)] * n
    if top_mask.any():
        top_next = group_by_feature(feat[top_mask], next_token[top_mask], n)
    consistency = logit_consistency(top_next, ti, alive, cfg.seed, cfg.n_logits, top_peak=top_peak)
    step("logit consistency")

    columns: dict[str, Any] = {
        "feature": np.arange(n, dtype=np.int32), "alive": alive, "density": density.astype(np.float64),
        "n_active": n_active, "max_act": max_act, "mean_act": mean_act,
        "q50": quant[0.5], "q90": quant[0.9], "q99": quant[0.99], "dec_norm": dec_norm.astype(np.float32),
        "hist": _fixed_lists(hist.astype(np.int64)), "hist_lo": hist_lo,
        "top_logit_ids": _fixed_lists(ti), "top_logit_vals": _fixed_lists(tv.astype(np.float32)),
        "bottom_logit_ids": _fixed_lists(bi), "bottom_logit_vals": _fixed_lists(bv.astype(np.float32)),
        "neighbours": _fixed_lists(nb_ids), "neighbour_cos": _fixed_lists(nb_cos),
        # features left off the map are NULL (not NaN: NaN survives Parquet but not every reader's isnan)
        "map_x": pa.array(coords[:, 0], mask=np.isnan(coords[:, 0])),
        "map_y": pa.array(coords[:, 1], mask=np.isnan(coords[:, 1])),
    }
    if cross is not None:
        columns["cross_neighbours"] = _fixed_lists(cross[0])
        columns["cross_cos"] = _fixed_lists(cross[1])
    files["features.parquet"] = _write_parquet(pa.table(columns), out / "features.parquet", row_group_size=16384)
    files["vocab.parquet"] = _write_parquet(pa.table({"id": np.arange(len(vocab), dtype=np.int32),
                                                      "text": vocab}), out / "vocab.parquet")
    step("features table")

    # background windows for detection scoring
    plan = _background_plan(store, cfg)
    if plan:
        starts = np.array([s for s, _ in plan], dtype=np.int64)
        length = plan[0][1]
        toks = _gather_tokens(store, starts[:, None] + np.arange(length)[None])
        bg = pa.table({"window": np.arange(len(plan), dtype=np.int32), "start": starts,
                       "tokens": _list_array(toks.reshape(-1), np.full(len(plan), length))})
        ids = torch.cat(state.bg_ids).cpu().numpy() if state.bg_ids else np.zeros(0, np.int64)
        fts = torch.cat(state.bg_feats).cpu().numpy() if state.bg_feats else np.zeros(0, np.int64)
        vls = torch.cat(state.bg_vals).cpu().numpy() if state.bg_vals else np.zeros(0, np.float32)
        files["background.parquet"] = _write_parquet(bg, out / "background.parquet")
        files["background_acts.parquet"] = _write_parquet(pa.table({
            "window": ids.astype(np.int32), "feature": fts.astype(np.int32), "act": vls.astype(np.float32)}),
            out / "background_acts.parquet")
    step("background windows")

    m = store.manifest
    manifest = {
        "format_version": FORMAT_VERSION, "kind": "monoscope-feature-db", "monoscope_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "complete": True,
        "sae": sae_info(sae), "hook": hook,
        "model": {"name": lm.name, "source": getattr(lm, "source", ""), "vocab_size": len(vocab)},
        "store": {"path": str(store.path), "fingerprint": _store_fingerprint(store), "model": m.config.model,
                  "corpus": m.config.corpus, "context_len": m.config.context_len, "n_tokens": m.n_tokens,
                  "dtype": m.config.dtype},
        "other_sae": sae_info(other_sae) if other_sae is not None else None,
        "config": cfg.to_dict(),
        "excluded": {"special_tokens": True, "first_ordinary_tokens": cfg.exclude_first,
                     "sink_norm_ratio": cfg.sink_norm_ratio, "sink_norm": state.sink_norm,
                     "rows": dict(state.n_excluded),
                     "note": f"left out of every statistic (density, max activation, histograms, examples): special "
                             f"tokens (BOS, separators, padding), the first {cfg.exclude_first} ordinary token(s) of "
                             f"every {m.config.context_len}-token context, and attention sinks (residual norm over "
                             f"{cfg.sink_norm_ratio:g}x the median)"},
        "stats": {"tokens_counted": state.n_tokens, "n_latents": n, "alive": int(alive.sum()),
                  "dead": int((~alive).sum()), "mean_l0": float(n_active.sum() / max(1, state.n_tokens)),
                  "postprocess_seconds": time.perf_counter() - t0},
        "logit_effects": logit_method, "map": map_method, "logit_consistency": consistency,
        "bins": {"bins_per_octave": cfg.bins_per_octave, "octaves_below": cfg.octaves_below,
                 "note": "hist[j] counts activations in [hist_lo·2^(j/bpo), hist_lo·2^((j+1)/bpo)); the first "
                         "and last bins also hold everything below / above"},
        "files": files,
    }
    if provenance:
        manifest.update(provenance)
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1, default=_json_default))
    step("manifest")
    bar.close()
    return manifest


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ---- the entry point ---------------------------------------------------------------------------------
def build_feature_db(sae, store, out: str | Path, *, lm=None, other_sae=None, config: IndexConfig | None = None,
                     device: str = "cpu", batch_tokens: int | None = None, progress: bool = True,
                     stop_after_shards: int | None = None, checkpoint_seconds: float = 60.0,
                     overwrite: bool = False, keep_state: bool = False, write_chunk: int = 16384,
                     update_threads: int | None = None, **config_kw):
    """Index `sae` over `store` into the feature database directory `out` and return a `FeatureDB`.

    sae:       an SAE object (`encode(x_raw)`, `W_dec` [n, d], `cfg.hook`, `cfg.model`) or its directory.
    store:     an `ActivationStore` or its directory; must hold the SAE's hook point.
    lm:        the model (for the unembedding and token strings); default: loaded from the store's model.
    other_sae: a second SAE on the same hook (e.g. another size) for cross-SAE decoder neighbours.
    config / **config_kw: `IndexConfig` fields (top_k, window, n_buckets, bucket_scheme, map_method, ...).
    stop_after_shards: process at most this many more shards, checkpoint and return None (resume later).
    write_chunk: features per chunk when writing examples (bounds the memory of the final write).
    update_threads: CPU threads for the per-batch state update (default: all; 1 on a machine shared with
               other jobs, where the thread pool's hand-offs dominate its small ops).
    Resumes from `out/index_state.pt` after a crash; refuses an `out` built from another SAE/store/config
    unless `overwrite`.
    """
    from ..sae import load_sae
    from ..store import ActivationStore
    from .db import FeatureDB

    if config is None:
        config = IndexConfig(**config_kw)
    elif config_kw:
        config = IndexConfig.from_dict({**config.to_dict(), **config_kw})
    sae_path = None
    if isinstance(sae, (str, Path)):
        sae_path = str(sae)
        sae = load_sae(sae, device=device)
    if isinstance(other_sae, (str, Path)):
        other_sae = load_sae(other_sae, device="cpu")
    if not isinstance(store, ActivationStore):
        store = ActivationStore(store)
    hook = getattr(getattr(sae, "cfg", None), "hook", None)
    if not hook:
        if len(store.hooks) != 1:
            raise FeatureDBError(f"the SAE does not name its hook point (cfg.hook) and the store holds several "
                                 f"({', '.join(store.hooks)})")
        hook = store.hooks[0]
    if hook not in store.hooks:
        raise FeatureDBError(f"the SAE was trained on hook {hook!r}, but store {store.path} holds only "
                             f"{', '.join(store.hooks)}")
    d_in = int(sae.W_dec.shape[1])
    if d_in != store.d_model:
        raise FeatureDBError(f"SAE width {d_in} does not match the store's d_model {store.d_model} "
                             f"({store.manifest.config.model}): this SAE was trained on another model")
    sae_model = getattr(getattr(sae, "cfg", None), "model", None)
    store_model = store.manifest.config.model
    if sae_model and store_model and str(sae_model).split(":")[-1].lower() != str(store_model).split(":")[-1].lower():
        raise FeatureDBError(f"the SAE was trained on {sae_model!r} but the store holds activations of "
                             f"{store_model!r}")
    if other_sae is not None and int(other_sae.W_dec.shape[1]) != d_in:
        raise FeatureDBError(f"other_sae has width {other_sae.W_dec.shape[1]}, this SAE {d_in}: cross-SAE "
                             f"neighbours need SAEs on the same hook point")

    out = Path(out)
    bt = batch_tokens or auto_batch_tokens(sae_n_latents(sae), store.manifest.config.context_len)
    meta = {"sae": sae_fingerprint(sae), "store": _store_fingerprint(store), "hook": hook,
            "config": config.state_key(), "batch_tokens": bt, "format_version": FORMAT_VERSION}
    if out.exists() and (out / MANIFEST).exists():
        old = json.loads((out / MANIFEST).read_text())
        differs = [what for what, same in (
            ("SAE", old.get("sae", {}).get("fingerprint") == meta["sae"]),
            ("store", old.get("store", {}).get("fingerprint") == meta["store"]),
            ("configuration", old.get("config") == config.to_dict())) if not same]
        if not differs and not overwrite and old.get("complete"):
            return FeatureDB(out)
        if differs and not overwrite:
            raise FeatureDBError(f"{out} holds a feature database of another {' and '.join(differs)}; pass "
                                 f"overwrite=True (--overwrite) to replace it, or choose a new directory")
        for name in list(old.get("files", {})) + [MANIFEST]:
            (out / name).unlink(missing_ok=True)
    elif out.exists() and any(out.iterdir()) and not (out / STATE).exists():
        if not overwrite:
            raise FeatureDBError(f"refusing to write a feature database into {out}: it is not empty and holds "
                                 f"no database or checkpoint. Choose an empty or new directory")
    if overwrite and (out / STATE).exists():
        (out / STATE).unlink()
    out.mkdir(parents=True, exist_ok=True)
    if lm is None:
        from ..models import load
        lm = load(store_model)

    res = run_pass(sae, store, hook, config, out / STATE, device=device, batch_tokens=bt,
                   progress=progress, stop_after_shards=stop_after_shards, checkpoint_seconds=checkpoint_seconds,
                   state_meta=meta, update_threads=update_threads)
    if not res.complete:
        return None
    prov = {"index_pass": {"seconds": res.seconds, "new_tokens": res.new_tokens,
                           "checkpoint_seconds": res.checkpoint_seconds,
                           "tokens_per_second": res.new_tokens / res.seconds if res.seconds > 0 else None,
                           "device": str(device), "state_bytes": res.state.nbytes()},
            "sae_path": sae_path}
    write_database(out, res.state, sae, store, lm, hook, config, other_sae=other_sae, provenance=prov,
                   progress=progress, chunk_features=write_chunk)
    if not keep_state:
        (out / STATE).unlink(missing_ok=True)
    return FeatureDB(out)
