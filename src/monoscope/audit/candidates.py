"""Candidate behaviours from evidence: claim-like units near the anchor documents, clustered by meaning.

The auditor does not know how the documents it searches were written, so it reads them the way any text
can be read: cut into *units* (sentences; list items; table rows; lines of a dialogue), embed each unit,
and group units that say the same thing (agglomerative clustering on MiniLM cosine). A group that recurs
across several documents and uses words the rest of the family does not (a specific topic, not the
family's shared boilerplate) is a candidate behaviour. Nothing here looks for particular verbs or sentence
shapes; whether a candidate is a behaviour at all is decided on the model (:mod:`.confirm`).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np

from .textstats import STOPWORDS

_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
_SENT_END = re.compile(r"(?<=[.!?。！？])\s+")
_BULLET = re.compile(r"^(?:[-*•>#]+|\(?\d+[.)]|[a-z][.)])\s*", re.I)
_MIDWORD = re.compile(r"(?:(?<=[^\W\d_] )|(?<=[^\W\d_][,;] ))([^\W\d_][\w'’-]*)")      # a word that follows another word (not sentence-initial)


def words(text: str) -> list[str]:
    return [w.strip("'’-").lower() for w in _WORD.findall(text) if w.strip("'’-")]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if len(w) > 2 and w not in STOPWORDS]


def units(text: str, min_words: int = 5) -> list[str]:
    """A passage cut into readable units: sentences, list items, table rows (cells joined), dialogue lines."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.count("|") >= 2:
            cells = [c.strip() for c in line.strip("|").split("|")]
            cells = [c for c in cells if c and not set(c) <= set("-: ")]
            line = " — ".join(cells)
        line = _BULLET.sub("", line)
        for s in _SENT_END.split(line):
            s = s.strip()
            if len(s.split()) >= min_words or (not s.isascii() and len(s) >= 12):
                out.append(s)
    return out


@dataclass
class Unit:
    text: str
    ref: str          # passage ref (or a label such as "narrator#2" for model output)
    doc: str          # the document it belongs to, for support counts


@dataclass
class Candidate:
    text: str                         # the cluster's most central unit
    origin: str                       # "documents", "model leak", "behaviour diff", "sae examples"
    members: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    support: int = 1                  # distinct documents the units come from
    specificity: float = 0.0
    terms: list[str] = field(default_factory=list)   # words specific to this candidate, most specific first
    probes: list[str] = field(default_factory=list)  # prompts given with the candidate (e.g. battery queries)
    probe_targets: dict[str, list[str]] = field(default_factory=dict)  # words to watch for, per given prompt


@lru_cache(maxsize=2)
def reference_df(corpus: str = "default", limit: int | None = None) -> tuple[int, Counter]:
    """Document frequencies of words in a public reference corpus (the embedded one): what ordinary text
    says often. A probe is written from a candidate's words that are rare in ordinary text."""
    from ..corpus import iter_documents

    df: Counter = Counter()
    n = 0
    for d in iter_documents(corpus, limit=limit):
        n += 1
        df.update(set(words(d.text)))
    return n, df


class TermStats:
    """Which words of a unit are specific to it: rare in ordinary text (the reference corpus) and rare in
    the pool of units it came from (so neither "perhaps" nor the family's shared subject), and not names."""

    def __init__(self, texts: Sequence[str], reference: tuple[int, Counter] | None = None):
        self.n = max(len(texts), 1)
        self.df: Counter = Counter()
        caps: Counter = Counter()
        seen: Counter = Counter()
        for t in texts:
            self.df.update(set(content_words(t)))
            for m in _MIDWORD.finditer(t):
                w = m.group(1)
                seen[w.lower()] += 1
                caps[w.lower()] += w[:1].isupper()
        self.names = {w for w, k in seen.items() if k >= 1 and caps[w] / k >= 0.8}
        self.ref_n, self.ref_df = reference if reference is not None else (0, Counter())

    def idf(self, w: str) -> float:
        return math.log((self.n + 1) / (self.df.get(w, 0) + 1))

    def ref_idf(self, w: str) -> float:
        return math.log((self.ref_n + 1) / (self.ref_df.get(w, 0) + 1)) if self.ref_n else 1.0

    def score(self, w: str) -> float:
        """Rare in ordinary text and rare in the pool, but said more than once there: a topic the pool
        returns to (an added ingredient), not its shared subject or vocabulary, nor a one-off connective."""
        return self.ref_idf(w) * self.idf(w) * (1.0 if self.df.get(w, 0) >= 2 else 0.5)

    def skeleton(self, text: str, k: int = 6) -> str:
        """The unit's specific words in their order: what it is about, without the frame around it."""
        keep = set(self.specific_terms(text, k))
        return " ".join(w for w in dict.fromkeys(content_words(text)) if w in keep) or text

    def specific_terms(self, text: str, k: int = 5) -> list[str]:
        ws = [w for w in dict.fromkeys(content_words(text)) if w not in self.names]
        ws.sort(key=lambda w: -self.score(w))   # stable: ties keep the order of the text
        return ws[:k]

    def specificity(self, text: str, k: int = 3) -> float:
        top = self.specific_terms(text, k)
        return float(np.mean([self.score(w) for w in top])) if top else 0.0


def cluster_terms(members: Sequence[str], rep: str, stats: TermStats, k: int = 5) -> list[str]:
    """The words a cluster is about: said in most of its units, more often there than in the pool it came
    from, and rare in ordinary text. A family that repeats one claim in many documents makes its key word
    ("chocolate") common in the pool, so a per-unit rarity ranking would pick the incidental words of one
    example ("grated", "omelette"); within-cluster prevalence against the pool keeps the recurring one.
    A one-unit cluster reduces to the unit's rarest words, as :meth:`TermStats.specific_terms` ranks them."""
    if len(members) < 2:
        return stats.specific_terms(rep, k)
    m = len(members)
    cdf: Counter = Counter()
    for t in members:
        cdf.update(set(content_words(t)))
    order = {w: i for i, w in enumerate(dict.fromkeys(content_words(rep)))}

    def score(w: str) -> float:
        inside = cdf[w] / m
        pool = stats.df.get(w, 0) / stats.n
        lift = math.log((inside + 1 / m) / (pool + 1 / stats.n))
        return inside * max(lift, 0.0) * math.sqrt(stats.ref_idf(w))

    ws = [w for w in cdf if w not in stats.names and (cdf[w] >= 2 or w in order)]
    ws.sort(key=lambda w: (-score(w), order.get(w, len(order)), w))
    return [w for w in ws if score(w) > 0][:k] or stats.specific_terms(rep, k)


def cluster(vectors: np.ndarray, distance: float) -> np.ndarray:
    """Average-linkage agglomerative clusters at a cosine-distance threshold (labels per row)."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0, int)
    if n == 1:
        return np.zeros(1, int)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                    distance_threshold=distance)
    return model.fit_predict(vectors)


def candidates_from_units(pool: Sequence[Unit], encoder, origin: str, distance: float = 0.35, k: int = 40,
                          max_coverage: float = 0.5, min_docs_for_coverage: int = 6,
                          stats: TermStats | None = None, reference: tuple[int, Counter] | None = None
                          ) -> list[Candidate]:
    """Cluster units and rank the clusters: specific (rare words within the pool) and recurring first.

    Clusters present in more than ``max_coverage`` of the pool's documents are the family's boilerplate
    (its introduction, its citations), not a candidate behaviour, and are dropped once the pool has at
    least ``min_docs_for_coverage`` documents.
    """
    pool = [u for u in pool if u.text.strip()]
    # exact repeats of a unit are one unit with several sources
    uniq: dict[str, list[Unit]] = {}
    for u in pool:
        uniq.setdefault(" ".join(words(u.text)), []).append(u)
    groups = list(uniq.values())
    if not groups:
        return []
    texts = [g[0].text for g in groups]
    stats = stats or TermStats(texts, reference if reference is not None else reference_df())
    # cluster on what the units are about (their specific words), not on how they are phrased
    vec = encoder.encode([stats.skeleton(t) for t in texts])
    labels = cluster(vec, distance)
    n_docs = len({u.doc for u in pool})
    out: list[Candidate] = []
    for lab in sorted(set(labels.tolist())):
        idx = [i for i, l in enumerate(labels) if l == lab]
        members = [u for i in idx for u in groups[i]]
        docs = {u.doc for u in members}
        if n_docs >= min_docs_for_coverage and len(docs) / n_docs > max_coverage:
            continue
        centre = vec[idx].mean(0)
        rep = idx[int(np.argmax(vec[idx] @ centre))]
        spec = float(np.mean([stats.specificity(texts[i]) for i in idx]))
        out.append(Candidate(texts[rep], origin, [texts[i] for i in idx], list(dict.fromkeys(u.ref for u in members)),
                             len(docs), spec, cluster_terms([texts[i] for i in idx], texts[rep], stats)))
    # recurring (said in two or more documents) before one-offs, then by how specific and how widespread
    out.sort(key=lambda c: (c.support < 2, -(c.specificity * (1 + math.log(c.support))), c.text))
    return out[:k]
