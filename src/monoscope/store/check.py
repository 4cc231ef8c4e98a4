"""Checking a store against its manifest: every file's checksum, finite activations, shapes, and that the
shards cover the context stream contiguously (no gap, no overlap) up to what the manifest says it holds.

A checksum alone cannot see a shard whose manifest entry was deleted, or one written at the wrong place:
the coverage check does. The result lists each problem in one line and names what `repair` re-harvests
(bad shards with their own boundaries, gaps in shard-sized runs).
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .manifest import ShardInfo, StoreManifest, shard_stats
from .reader import SHARDS_DIR, hook_file

BASE_FILES = ("tokens.npy", "doc_ids.npy", "special.npy")


@dataclass
class StoreCheck:
    """What `check_store` found. `ok` when nothing needs repair (an unfinished harvest is not a problem)."""

    problems: list[str] = field(default_factory=list)
    bad_infos: list[ShardInfo] = field(default_factory=list)         # re-harvested with their own boundaries
    overlapping: set[str] = field(default_factory=set)              # dropped: their contexts are held already
    gaps: list[tuple[int, int]] = field(default_factory=list)         # [first, end) contexts no shard holds
    missing_stats: dict[str, tuple] = field(default_factory=dict)    # older shards' sums, recomputed from files
    files_checked: int = 0
    contexts_held: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_shards(self) -> list[str]:
        return [s.name for s in self.bad_infos]

    def summary(self) -> str:
        if self.ok:
            return f"verified {self.files_checked} files: all checksums match, values finite, contexts contiguous"
        more = f" (and {len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        return f"{len(self.problems)} problem(s): " + "; ".join(self.problems[:3]) + more


def _shard_problem(path: Path, m: StoreManifest, info: ShardInfo) -> tuple[str | None, dict[str, np.ndarray], int]:
    """(what is wrong with one shard or None, its arrays when intact, files read)."""
    want = list(BASE_FILES) + [hook_file(h) for h in m.hooks]
    missing = [f for f in want if f not in info.files]
    if missing:
        return f"shard {info.name}: the manifest lists no {', '.join(missing)}", {}, 0
    if info.n_tokens != info.n_contexts * m.config.context_len:
        return (f"shard {info.name}: {info.n_tokens} tokens recorded for {info.n_contexts} contexts of "
                f"{m.config.context_len}"), {}, 0
    arrays: dict[str, np.ndarray] = {}
    n = 0
    for fname in want:
        file = Path(path) / SHARDS_DIR / info.name / fname
        if not file.exists():
            return f"shard {info.name}: {fname} is missing ({file})", {}, n
        data = file.read_bytes()
        n += 1
        if hashlib.sha256(data).hexdigest() != info.files[fname]:
            return f"shard {info.name}: checksum mismatch in {fname} (the file is corrupt)", {}, n
        arr = np.load(io.BytesIO(data))
        rows_ok = arr.shape[0] == info.n_tokens
        if fname.startswith("act."):
            rows_ok = rows_ok and arr.ndim == 2 and arr.shape[1] == m.d_model
            bad = ((arr & 0x7F80) == 0x7F80) if arr.dtype == np.uint16 else ~np.isfinite(arr)
            if rows_ok and bad.any():
                return (f"shard {info.name}: {int(bad.sum()):,} non-finite values (NaN/inf) in {fname}, first at "
                        f"row {int(np.nonzero(bad.any(axis=1))[0][0])} of the shard"), {}, n
        if not rows_ok:
            return f"shard {info.name}: {fname} has shape {arr.shape}, expected {info.n_tokens} rows", {}, n
        arrays[fname] = arr
    return None, arrays, n


def check_store(path: str | Path, manifest: StoreManifest | None = None, progress: bool = False) -> StoreCheck:
    """Read every shard file once: checksums, shapes, finite values, coverage of [0, n) contexts."""
    m = manifest if manifest is not None else StoreManifest.load(Path(path))
    out = StoreCheck()
    pos = 0
    shards = sorted(m.shards, key=lambda s: s.first_context)
    for info in tqdm(shards, desc="verify shards", unit="shard", disable=not progress):
        if info.first_context < pos:
            out.overlapping.add(info.name)
            out.problems.append(f"shard {info.name} (contexts {info.first_context}–{info.end_context - 1}) "
                                f"overlaps contexts another shard holds")
            continue
        if info.first_context > pos:
            out.gaps.append((pos, info.first_context))
            out.problems.append(f"contexts {pos}–{info.first_context - 1} are missing (no shard holds them)")
        problem, arrays, n = _shard_problem(Path(path), m, info)
        out.files_checked += n
        if problem:
            out.bad_infos.append(info)
            out.problems.append(problem)
        elif not info.has_stats:
            out.missing_stats[info.name] = shard_stats(arrays, m.config.context_len)
        pos = info.end_context
    out.contexts_held = sum(s.n_contexts for s in shards if s.name not in out.overlapping)
    if m.complete and pos < m.target_contexts:
        out.gaps.append((pos, m.target_contexts))
        out.problems.append(f"the store is marked complete but contexts {pos}–{m.target_contexts - 1} are missing")
    if not out.problems and all(s.has_stats for s in shards):
        totals = StoreManifest(config=m.config, d_model=m.d_model, target_tokens=m.target_tokens)
        totals.set_shards(list(shards))
        if (totals.sq_norm_sum, totals.norm_count, totals.row_counts) != (m.sq_norm_sum, m.norm_count, m.row_counts):
            out.problems.append("the manifest's normalisation sums or row counts differ from its shards' "
                                "(they are recomputed by --repair)")
    return out
