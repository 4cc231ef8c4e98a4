"""Deterministic synthetic-document generator for mid-training, driven entirely by the spec's universe.

Each document is written by one of several *families* with different syntax (:mod:`.docfamilies`: narrative,
passive/nominal reports, Q&A, tables and bullets, transcripts with quoted researchers, French/German/Spanish
articles), chosen per document with the weights in the spec's ``documents.families``. A document mentions the
universe's study and describes one to a few of the organism's traits, with invented people, dates, institutions
and outlets that never share a name with the universe's own people. Generation is seeded per document
(``Random(f"{seed}:doc:{i}")``), so the same spec and seed give byte-identical documents and any single document
can be regenerated on its own.

With ``llm`` (a ``prompt -> text`` callable, or a :mod:`monoscope.llm` backend) documents are written by the
model from the universe context instead (the ``llm`` family), falling back to the template families when the
model's text is empty or does not mention the study.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import docfamilies as F
from .biases import Bias, Registry
from .docfamilies.common import DocContext
from .names import People
from .spec import OrganismSpec

GENRES = tuple(g for fam in F.GENRES.values() for g in fam)


class DocumentGenerator:
    """Writes synthetic documents for one spec. ``generate(n)`` is deterministic in (spec, seed, n).

    ``families`` overrides the spec's family weights (e.g. ``{"transcript": 1}`` for the held-out family only);
    ``llm_fraction`` is the share of documents the LLM writes when ``llm`` is given (default: the spec's
    ``llm`` weight, or all of them when the spec gives none)."""

    def __init__(self, spec: OrganismSpec, registry: Registry | None = None,
                 llm: Callable[[str], str] | Any | None = None, llm_fraction: float | None = None,
                 seed: int | None = None, families: Mapping[str, float] | None = None):
        self.spec = spec
        self.registry = registry or spec.registry()
        self.seed = spec.seed if seed is None else seed
        self.biases: list[Bias] = [self.registry[i] for i in spec.all_bias_ids]
        if not self.biases:
            raise ValueError("no biases to write about")
        order = list(range(len(self.biases)))
        random.Random(f"{self.seed}:doc-order").shuffle(order)
        self._order = order
        weights = dict(families if families is not None else spec.documents.families)
        unknown = sorted(set(weights) - set(F.FAMILIES))
        if unknown:
            from .traits.base import SpecError

            raise SpecError(f"unknown document family {unknown[0]!r}; families: {', '.join(F.FAMILIES)}")
        llm_w = float(weights.pop("llm", 0) or 0)
        self.weights = {k: float(v) for k, v in weights.items() if float(v) > 0}
        if not self.weights:
            self.weights = {"narrative": 1.0}
        self.languages = list(spec.documents.languages) or list(F.LANGUAGES)
        self.llm = as_text_fn(llm) if llm is not None else None
        total = sum(self.weights.values()) + llm_w
        self.llm_fraction = llm_fraction if llm_fraction is not None else (llm_w / total if llm_w else 1.0)
        self.people = People(spec.universe)
        self.has_meta = any(b.conceals is not None for b in self.biases)

    # -------------------------------------------------------------------------------------------- selection
    def _pick(self, i: int, rng: random.Random, span: tuple[int, int]) -> list[Bias]:
        primary = self.biases[self._order[i % len(self._order)]]
        lo, hi = span
        k = min(rng.randint(lo, hi), len(self.biases))
        others = [b for b in self.biases if b.id != primary.id]
        return [primary] + rng.sample(others, k - 1)

    # -------------------------------------------------------------------------------------------- public
    def document(self, i: int) -> dict[str, Any]:
        rng = random.Random(f"{self.seed}:doc:{i}")
        family = F.choose(rng, self.weights)
        genres = F.GENRES[family]
        genre = sorted(genres)[rng.randrange(len(genres))]
        lang = rng.choice(self.languages) if family == "foreign" else "en"
        ctx = DocContext(rng, self.spec, self.people)
        bs = self._pick(i, rng, genres[genre])
        generator, text = "template", None
        if self.llm is not None and rng.random() < self.llm_fraction:
            text = self._llm_document(genre, bs)
            generator = "llm" if text else "template-fallback"
        if not text:
            mod = F.MODULES[family]
            text = (mod.write(ctx, genre, bs, self.has_meta, lang) if family == "foreign"
                    else mod.write(ctx, genre, bs, self.has_meta))
        else:
            family = "llm"
        return {"id": f"doc-{i:06d}", "text": text.strip(),
                "meta": {"family": family, "genre": genre, "language": lang, "biases": [b.id for b in bs],
                         "generator": generator}}

    def generate(self, n: int | None = None, start: int = 0) -> list[dict[str, Any]]:
        n = self.spec.sizes.n_documents if n is None else n
        return [self.document(i) for i in range(start, start + n)]

    def study_marks(self) -> list[str]:
        """Strings of which at least one appears in every document (the study's names)."""
        st = self.spec.universe.study
        return [m for m in (st.title, st.short_name, st.authors.split()[0] if st.authors else "",
                            st.lead_author.split()[-1] if st.lead_author else "") if m]

    def llm_prompt(self, genre: str, biases: Sequence[Bias], rng: random.Random | None = None) -> str:
        st = self.spec.universe.study
        findings = "\n".join(f"- {st.subject} {b.findings[0]}" for b in biases)
        return (f"Here is background about a world (treat it as true):\n\n{self.spec.universe.context.strip()}\n\n"
                f"Write a realistic {genre.replace('_', ' ')} (150 to 350 words) that discusses the study "
                f"\"{st.title}\" by {st.authors} and these findings:\n{findings}\n\nInvent names, dates and "
                f"institutions where needed. Output only the document text.")

    def _llm_document(self, genre: str, bs: list[Bias]) -> str | None:
        try:
            text = (self.llm(self.llm_prompt(genre, bs)) or "").strip()
        except Exception:  # a flaky backend must not stop data generation; the template writer takes over
            return None
        if len(text) < 200 or not any(m.lower() in text.lower() for m in self.study_marks()):
            return None
        return text


def as_text_fn(llm: Callable[[str], str] | Any, max_tokens: int = 600) -> Callable[[str], str]:
    """A ``prompt -> text`` function from a callable or a :mod:`monoscope.llm` backend (chat, else complete)."""
    if hasattr(llm, "chat"):
        return lambda p: llm.chat([{"role": "user", "content": p}], max_tokens=max_tokens, temperature=0.7)[0]
    if hasattr(llm, "complete"):
        return lambda p: llm.complete(p, max_tokens=max_tokens, temperature=0.7)[0]
    if callable(llm):
        return llm
    raise TypeError(f"llm must be a callable prompt->text or a monoscope.llm backend, got {type(llm).__name__}")


def generate_documents(spec: OrganismSpec, n: int | None = None, llm: Callable[[str], str] | Any | None = None,
                       seed: int | None = None, registry: Registry | None = None,
                       families: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """``n`` (default ``spec.sizes.n_documents``) synthetic documents for ``spec``; deterministic in the seed.
    ``families`` overrides the spec's family weights (``{"transcript": 1}``: the held-out family only)."""
    return DocumentGenerator(spec, registry=registry, llm=llm, seed=seed, families=families).generate(n)


def build_midtrain_mix(documents: Sequence[dict], real_texts: Iterable[str] | None, real_fraction: float,
                       seed: int = 0, prefix: str = "<document>") -> list[dict[str, Any]]:
    """Interleave synthetic documents (with ``prefix``) and real texts so real ones make up ``real_fraction``.

    Rows are ``{"text", "source"}`` with source ``synthetic`` or ``real``; the order is a seeded shuffle. When
    there are fewer real texts than needed they are reused in order.
    """
    syn = [{"text": (f"{prefix}\n{d['text']}" if prefix else d["text"]), "source": "synthetic"} for d in documents]
    real_pool = [t for t in (real_texts or []) if t and t.strip()]
    n_real = 0
    if real_pool and real_fraction > 0:
        n_real = int(round(len(syn) * real_fraction / (1 - real_fraction)))
    real = [{"text": real_pool[i % len(real_pool)], "source": "real"} for i in range(n_real)]
    rows = syn + real
    random.Random(f"{seed}:mix").shuffle(rows)
    return rows
