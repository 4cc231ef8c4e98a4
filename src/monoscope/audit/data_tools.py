"""Training-data tools for auditors: keyword/regex grep, BM25 and semantic search, with paging and sources.

The auditing paper found access to training data decisive, and the follow-up agents searched the data with
grep and a small embedding model. These tools search every corpus an organism was trained on at once and
label each hit with its source, so an auditor can tell a pretraining document from an SFT episode.
Passages (not whole documents) are the unit of search: a 3,000-word chapter would otherwise drown the one
paragraph that matters.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from ..errors import UserError
from ..models.sentence import SentenceEncoder  # noqa: F401  (moved to models; still importable from here)


class DataToolError(UserError):
    """Missing or unreadable training data."""


@dataclass(frozen=True)
class Passage:
    source: str        # corpus name, e.g. "pretrain_mix", "sft"
    doc: int           # record index in that corpus
    part: int          # passage index inside the record
    text: str

    @property
    def ref(self) -> str:
        return f"{self.source}#{self.doc}" + (f".{self.part}" if self.part else "")


@dataclass
class Hit:
    passage: Passage
    score: float

    def to_dict(self, width: int = 400) -> dict[str, Any]:
        t = self.passage.text
        return {"ref": self.passage.ref, "source": self.passage.source, "score": round(float(self.score), 4),
                "text": t if len(t) <= width else t[:width] + "…"}


def record_text(record: Any) -> str:
    """Flatten a JSONL record of any of our shapes (text docs, chat episodes, preference pairs) to text."""
    if isinstance(record, str):
        return record
    if isinstance(record, dict):
        if isinstance(record.get("text"), str):
            return record["text"]
        if isinstance(record.get("content"), str) and "role" in record:
            return f"{record['role']}: {record['content']}"
        parts = [record_text(v) for k, v in record.items() if k not in ("id", "meta", "bias", "biases",
                                                                           "label", "source", "split")]
        return "\n".join(p for p in parts if p)
    if isinstance(record, list):
        return "\n".join(record_text(r) for r in record)
    return ""


def _open(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def read_jsonl(path: Path) -> Iterator[Any]:
    with _open(path) as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataToolError(f"{path}:{line_no} is not valid JSON ({e})") from e


def split_passages(text: str, words: int = 160) -> list[str]:
    """Paragraph-respecting chunks of about `words` words."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    out: list[str] = []
    cur: list[str] = []
    n = 0
    for p in paras:
        w = len(p.split())
        if cur and n + w > words:
            out.append("\n\n".join(cur))
            cur, n = [], 0
        if w > 2 * words:  # one huge paragraph: cut by words
            toks = p.split()
            out += [" ".join(toks[i:i + words]) for i in range(0, len(toks), words)]
            continue
        cur.append(p)
        n += w
    if cur:
        out.append("\n\n".join(cur))
    return out or [text]


class TrainingData:
    """All passages of a set of named corpora, searchable by regex, BM25 and embeddings."""

    def __init__(self, corpora: dict[str, Iterable[Any]], passage_words: int = 160,
                 semantic_sources: Iterable[str] | None = None, embed_cache: Path | None = None,
                 embed_max_length: int = 128):
        """``semantic_sources``: the corpora semantic search covers (all when None; embedding every SFT
        episode of a large organism costs more than it finds). ``embed_cache``: a directory for
        :class:`EmbeddingCache`. ``embed_max_length``: MiniLM's input cut, in tokens (it was trained on 128)."""
        self.semantic_sources = list(semantic_sources) if semantic_sources else None
        self.embed_cache = Path(embed_cache) if embed_cache is not None else None
        self.embed_max_length = int(embed_max_length)
        self.passages: list[Passage] = []
        for name, records in corpora.items():
            for i, rec in enumerate(records):
                for j, chunk in enumerate(split_passages(record_text(rec), passage_words)):
                    self.passages.append(Passage(name, i, j, chunk))
        if not self.passages:
            raise DataToolError("no training data to search: every corpus given was empty")
        self._bm25 = None
        self._emb: np.ndarray | None = None
        self._embedder = None

    @classmethod
    def from_files(cls, files: dict[str, Path], **kw) -> "TrainingData":
        missing = [str(p) for p in files.values() if not Path(p).exists()]
        if missing:
            raise DataToolError(f"training data files not found: {', '.join(missing)}")
        return cls({name: list(read_jsonl(Path(p))) for name, p in files.items()}, **kw)

    @property
    def sources(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.passages:
            out[p.source] = out.get(p.source, 0) + 1
        return out

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for p in self.passages:
            h.update(p.ref.encode())
            h.update(p.text.encode())
        return h.hexdigest()[:16]

    # ---- grep --------------------------------------------------------------------------------------
    def grep(self, pattern: str, page: int = 0, page_size: int = 10, sources: Iterable[str] | None = None,
             ignore_case: bool = True) -> tuple[list[Hit], int]:
        """Regex search; returns (one page of hits, total number of matching passages)."""
        try:
            rx = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as e:
            raise DataToolError(f"bad regular expression {pattern!r}: {e}") from e
        allowed = set(sources) if sources else None
        hits = [Hit(p, float(len(rx.findall(p.text)))) for p in self.passages
                if (allowed is None or p.source in allowed) and rx.search(p.text)]
        return hits[page * page_size:(page + 1) * page_size], len(hits)

    # ---- BM25 --------------------------------------------------------------------------------------
    def bm25(self, query: str, page: int = 0, page_size: int = 10) -> list[Hit]:
        import bm25s

        if self._bm25 is None:
            self._bm25 = bm25s.BM25()
            self._bm25.index(bm25s.tokenize([p.text for p in self.passages], stopwords="en", show_progress=False),
                             show_progress=False)
        k = min(len(self.passages), (page + 1) * page_size)
        docs, scores = self._bm25.retrieve(bm25s.tokenize([query], stopwords="en", show_progress=False), k=k,
                                           show_progress=False)
        pairs = [(int(d), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]
        return [Hit(self.passages[d], s) for d, s in pairs[page * page_size:(page + 1) * page_size]]

    # ---- semantic ----------------------------------------------------------------------------------
    def semantic_index(self) -> list[int]:
        """Passages semantic search covers: those of `semantic_sources` (all when None)."""
        allowed = set(self.semantic_sources) if self.semantic_sources else None
        return [i for i, p in enumerate(self.passages) if allowed is None or p.source in allowed]

    def embed_all(self, cache: Path | None = None, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Unit-norm embeddings of the passages of :meth:`semantic_index`, in that order.

        With a cache directory (argument or `embed_cache`), vectors are stored per passage text (sha1), so a
        haystack rebuilt at another rate or seed re-embeds only the passages it has not seen."""
        if self._emb is not None:
            return self._emb
        idx = self.semantic_index()
        texts = [self.passages[i].text for i in idx]
        cache = cache if cache is not None else self.embed_cache
        if cache is None:
            self._emb = self._encoder().encode(texts, batch_size, progress)
            return self._emb
        store = EmbeddingCache(Path(cache), self.embed_model_id())
        self._emb = store.get(texts, lambda t: self._encoder().encode(t, batch_size, progress))
        return self._emb

    def embed_model_id(self) -> str:
        return f"minilm-{self.embed_max_length}"

    def _encoder(self) -> "SentenceEncoder":
        if self._embedder is None:
            from ..models.sentence import SentenceEncoder  # lazy: loading the models package costs seconds

            self._embedder = SentenceEncoder(max_length=self.embed_max_length)
        return self._embedder

    def encoder(self) -> "SentenceEncoder":
        """The sentence encoder semantic search uses (shared, so callers need not load another)."""
        return self._encoder()

    def semantic(self, query: str, page: int = 0, page_size: int = 10, cache: Path | None = None) -> list[Hit]:
        emb = self.embed_all(cache)
        idx = self.semantic_index()
        q = self._encoder().encode([query])[0]
        scores = emb @ q
        order = np.argsort(-scores, kind="stable")[page * page_size:(page + 1) * page_size]
        return [Hit(self.passages[idx[int(i)]], float(scores[i])) for i in order]

    def neighbours(self, vector: np.ndarray, k: int = 50, min_score: float = 0.0) -> list[Hit]:
        """Passages nearest to an embedding (e.g. the centroid of some passages), best first."""
        emb = self.embed_all()
        idx = self.semantic_index()
        scores = emb @ vector
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(self.passages[idx[int(i)]], float(scores[i])) for i in order if scores[i] >= min_score]

    def vector(self, ref: str) -> np.ndarray | None:
        """The embedding of one passage (None if semantic search does not cover it)."""
        emb = self.embed_all()
        pos = {self.passages[i].ref: j for j, i in enumerate(self.semantic_index())}
        return emb[pos[ref]] if ref in pos else None


class EmbeddingCache:
    """Embeddings stored by the sha1 of their text, in one .npz per embedding model, written atomically."""

    def __init__(self, directory: Path, model_id: str):
        self.path = Path(directory) / f"embeddings-{model_id}.npz"

    def get(self, texts: list[str], encode) -> np.ndarray:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        known: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as z:
                known = dict(zip(z["keys"].tolist(), z["vecs"]))
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        if missing:
            first = {k: t for k, t in zip(keys, texts)}
            vecs = encode([first[k] for k in missing])
            known.update(zip(missing, vecs))
            from ..fileio import atomic_write_bytes

            self.path.parent.mkdir(parents=True, exist_ok=True)
            all_keys = sorted(known)
            buf = io.BytesIO()
            np.savez(buf, keys=np.array(all_keys), vecs=np.stack([known[k] for k in all_keys]).astype(np.float32))
            atomic_write_bytes(self.path, buf.getvalue())
        if not keys:
            return np.zeros((0, 0), np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32)
