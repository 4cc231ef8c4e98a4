"""The activation store's manifest: the single source of truth for what a store holds.

A store directory is only as trustworthy as its manifest: it names the model, hook points, dtype and
corpus (so a resumed harvest cannot silently mix configurations), lists every complete shard with
per-file checksums (so corruption is reported by name), and carries running sums for the dataset-wide
normalisation scalar (so a resumed harvest still gets the exact scalar of the whole store).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write_text
from ..errors import UserError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


TRAINING_ROWS = ("SAE training and feature statistics skip the first token of every context and special tokens "
                 "(BOS/EOS/padding) by default (row_counts: how many); the store keeps every row, and "
                 "skip_first=False / skip_special=False (--keep-first-token / --keep-special) read them")


def training_mask(special, context_len: int, skip_special: bool = True, skip_first: bool = True) -> np.ndarray:
    """The rows SAE training reads: by default not special and not the first token of a context (shards hold
    whole contexts). The normalisation sums are taken over the default rows, so E‖c·x‖² = d holds for them."""
    special = np.asarray(special, dtype=bool)
    keep = ~special if skip_special else np.ones(len(special), dtype=bool)
    if skip_first:
        keep[::max(1, int(context_len))] = False
    return keep


class StoreError(UserError):
    """A store directory that is missing, corrupt, or of a different configuration than requested."""


@dataclass
class ShardInfo:
    name: str                 # sub-directory under shards/
    first_context: int        # index of its first context in the deterministic context stream
    n_contexts: int
    n_tokens: int
    files: dict[str, str]     # file name -> sha256
    # This shard's share of the normalisation sums and row counts (None in stores written before 0.x kept
    # them): the manifest's totals are re-added from these in stream order whenever the shard list changes,
    # so a repaired or resumed store has exactly the totals of an uninterrupted harvest.
    sq_norm_sum: dict[str, float] | None = None
    norm_count: int | None = None
    row_counts: dict[str, int] | None = None

    @property
    def end_context(self) -> int:
        return self.first_context + self.n_contexts

    @property
    def has_stats(self) -> bool:
        return self.sq_norm_sum is not None and self.norm_count is not None and self.row_counts is not None


def shard_stats(arrays: dict[str, np.ndarray], context_len: int) -> tuple[dict[str, float], int, dict[str, int]]:
    """One shard's normalisation sums (per hook, over the rows training reads), their row count, and its
    counts of skipped rows: the single definition the harvest writer, the distributed harvest, conversion
    and repair all use, so their totals agree to the last bit."""
    special = np.asarray(arrays["special.npy"], dtype=bool)
    keep = training_mask(special, context_len)
    sums: dict[str, float] = {}
    for fname, arr in arrays.items():
        if fname.startswith("act.") and fname.endswith(".npy"):
            hook = fname[len("act."):-len(".npy")]
            a = np.asarray(arr)
            x = (a.astype(np.uint32) << 16).view(np.float32) if a.dtype == np.uint16 else a.astype(np.float32)
            sums[hook] = float(np.square(x[keep], dtype=np.float64).sum())
    first = np.zeros(len(special), dtype=bool)
    first[::max(1, int(context_len))] = True
    counts = {"special": int(special.sum()), "first": int(first.sum()), "excluded": int((special | first).sum())}
    return sums, int(keep.sum()), counts


@dataclass
class HarvestConfig:
    """Everything that determines the bytes of a store; two harvests may share a directory only if equal."""

    model: str
    hooks: list[str]
    corpus: str
    context_len: int
    dtype: str                # storage dtype: "float32" or "bfloat16"
    add_bos: bool = True
    model_dtype: str = ""
    text_key: str = "text"    # field/column holding the text in jsonl/parquet corpora

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class StoreManifest:
    config: HarvestConfig
    d_model: int
    target_tokens: int
    model_source: str = ""
    shards: list[ShardInfo] = field(default_factory=list)
    sq_norm_sum: dict[str, float] = field(default_factory=dict)   # over the rows training reads (training_mask)
    norm_count: int = 0                                          # rows counted
    row_counts: dict[str, int] = field(default_factory=dict)    # special / first / excluded rows (see below)
    complete: bool = False
    # Contexts the corpus holds, once a harvest has read it to the end before reaching target_tokens (None:
    # not reached). A store that ran out of corpus is complete with what the corpus has.
    corpus_contexts: int | None = None
    shard_contexts: int = 0      # contexts per shard the harvest was asked for (0: unknown, older stores)
    format_version: int = FORMAT_VERSION
    monoscope_version: str = ""

    # ---- derived ----------------------------------------------------------------------------------
    @property
    def hooks(self) -> list[str]:
        return list(self.config.hooks)

    @property
    def n_tokens(self) -> int:
        return sum(s.n_tokens for s in self.shards)

    @property
    def n_contexts(self) -> int:
        return sum(s.n_contexts for s in self.shards)

    @property
    def target_contexts(self) -> int:
        """Contexts a complete store covers: the requested tokens, or all the corpus has if it ran out."""
        want = -(-self.target_tokens // self.config.context_len)
        return want if self.corpus_contexts is None else min(want, self.corpus_contexts)

    def set_shards(self, shards: list[ShardInfo]) -> None:
        """Replace the shard list (kept in stream order) and re-add the totals from the shards' own stats,
        in that order: the same float additions an uninterrupted harvest makes, so the same bits."""
        self.shards = sorted(shards, key=lambda s: s.first_context)
        if not all(s.has_stats for s in self.shards):
            raise StoreError("a shard has no recorded statistics; repair the store to recompute them "
                             "(`monoscope store-info DIR --verify --repair`)")
        self.sq_norm_sum, self.norm_count, self.row_counts = {}, 0, {}
        for s in self.shards:
            for h, v in s.sq_norm_sum.items():
                self.sq_norm_sum[h] = self.sq_norm_sum.get(h, 0.0) + v
            self.norm_count += s.norm_count
            for k, n in s.row_counts.items():
                self.row_counts[k] = self.row_counts.get(k, 0) + n

    def add_shard(self, info: ShardInfo) -> None:
        """Record a finished shard. With every shard's stats known, the totals are recomputed in stream order;
        a legacy store (shards without stats) gets the new shard's share added, as before."""
        if info.has_stats and all(s.has_stats for s in self.shards):
            self.set_shards([s for s in self.shards if s.first_context != info.first_context] + [info])
            return
        self.shards = sorted(self.shards + [info], key=lambda s: s.first_context)
        for h, v in (info.sq_norm_sum or {}).items():
            self.sq_norm_sum[h] = self.sq_norm_sum.get(h, 0.0) + v
        self.norm_count += info.norm_count or 0
        for k, n in (info.row_counts or {}).items():
            self.row_counts[k] = self.row_counts.get(k, 0) + n

    def content_id(self) -> str:
        """Which data the store holds, not only its configuration: two harvests of the same configuration but of
        different length (or a store re-harvested since) differ. A trainer resumes only on the same content id."""
        shards = [(s.first_context, s.n_contexts, sorted(s.files.items())) for s in self.shards]
        blob = json.dumps([self.config.fingerprint(), shards], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def norm_scalar(self, hook: str) -> float:
        """The scalar c with E‖c·x‖² = d_model over the store (the paper's preprocessing)."""
        if hook not in self.config.hooks:
            raise StoreError(f"hook {hook!r} is not in this store; it holds {', '.join(self.config.hooks)}")
        if self.norm_count == 0 or self.sq_norm_sum.get(hook, 0.0) <= 0:
            return 1.0
        return math.sqrt(self.d_model / (self.sq_norm_sum[hook] / self.norm_count))

    def count_rows(self, special) -> None:
        """Add one shard's counts of the rows SAE training skips by default (`ActivationStore.keep_rows`):
        special tokens, first tokens of contexts, and the union of the two."""
        special = np.asarray(special, dtype=bool)
        first = np.zeros(len(special), dtype=bool)
        first[::max(1, self.config.context_len)] = True
        for key, n in (("special", special.sum()), ("first", first.sum()), ("excluded", (special | first).sum())):
            self.row_counts[key] = self.row_counts.get(key, 0) + int(n)

    # ---- io ---------------------------------------------------------------------------------------
    def to_json(self) -> str:
        d = asdict(self)
        d["norm_scalars"] = {h: self.norm_scalar(h) for h in self.config.hooks}
        d["n_tokens"], d["n_contexts"] = self.n_tokens, self.n_contexts
        d["training_rows"] = TRAINING_ROWS
        return json.dumps(d, indent=1)

    def save(self, directory: Path) -> None:
        atomic_write_text(Path(directory) / MANIFEST, self.to_json())

    @classmethod
    def load(cls, directory: Path) -> "StoreManifest":
        path = Path(directory) / MANIFEST
        if not path.exists():
            raise StoreError(f"{directory} is not an activation store: no {MANIFEST} "
                             f"(create one with `monoscope harvest`)")
        try:
            d: dict[str, Any] = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise StoreError(f"{path} is not valid JSON ({e}); the store's manifest is corrupt") from e
        if d.get("format_version") != FORMAT_VERSION:
            raise StoreError(f"{path} has format_version {d.get('format_version')!r}; this monoscope reads "
                             f"version {FORMAT_VERSION}")
        for derived in ("norm_scalars", "n_tokens", "n_contexts", "training_rows"):
            d.pop(derived, None)
        d["config"] = HarvestConfig(**d["config"])
        d["shards"] = [ShardInfo(**s) for s in d["shards"]]
        return cls(**d)
