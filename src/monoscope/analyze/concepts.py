"""Concepts as data: positive and negative texts to find a concept's feature, and reference texts for an
independent scorer (`data/concepts.yaml`, or a file of the same shape given by the user)."""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .common import AnalysisError

CONCEPTS_FILE = "concepts.yaml"


@dataclass
class Concept:
    name: str
    description: str
    positives: list[str]
    negatives: list[str] = field(default_factory=list)
    references: dict[str, Any] = field(default_factory=dict)   # {"corpus": spec, "require_any": [...]} or {"texts": [...]}


@dataclass
class ConceptSet:
    concepts: dict[str, Concept]
    neutral: list[str]
    prompts: list[str]

    def select(self, names: list[str] | None) -> list[Concept]:
        if not names:
            return list(self.concepts.values())
        unknown = [n for n in names if n not in self.concepts]
        if unknown:
            raise AnalysisError(f"unknown concept {unknown[0]!r}; known concepts: {', '.join(self.concepts)} "
                                f"(or give your own file with --concepts FILE)")
        return [self.concepts[n] for n in names]

    def negatives_for(self, c: Concept) -> list[str]:
        """The concept's own negatives, the neutral texts, and every other concept's positives."""
        others = [t for o in self.concepts.values() if o.name != c.name for t in o.positives]
        return list(c.negatives) + list(self.neutral) + others


def _texts(v: Any, where: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(t, str) for t in v):
        raise AnalysisError(f"{where} must be a list of strings")
    return [t for t in v if t.strip()]


def load_concepts(path: str | Path | None = None) -> ConceptSet:
    """Read a concepts file (default: the packaged one). A concept with no positive texts is refused: there
    would be nothing for its feature to share."""
    if path is None:
        text = resources.files("monoscope.analyze").joinpath("data", CONCEPTS_FILE).read_text()
        where = CONCEPTS_FILE
    else:
        p = Path(path)
        if not p.exists():
            raise AnalysisError(f"no concepts file at {p}")
        text, where = p.read_text(), str(p)
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise AnalysisError(f"{where} is not valid YAML ({str(e).splitlines()[0]})") from e
    concepts = {}
    for name, c in (raw.get("concepts") or {}).items():
        c = c or {}
        pos = _texts(c.get("positives"), f"{where}: concept {name!r} positives")
        if not pos:
            raise AnalysisError(f"concept {name!r} in {where} has no positive prompts: give at least one text that "
                                f"carries the concept under 'positives'")
        concepts[name] = Concept(name, c.get("description", name), pos,
                                 _texts(c.get("negatives"), f"{where}: concept {name!r} negatives"),
                                 c.get("references") or {})
    if not concepts:
        raise AnalysisError(f"{where} defines no concepts (expected a 'concepts:' mapping)")
    return ConceptSet(concepts, _texts(raw.get("neutral"), f"{where}: neutral"),
                      _texts(raw.get("prompts"), f"{where}: prompts"))


def reference_texts(c: Concept, n: int = 40, max_chars: int = 400, seed: int = 0) -> list[str]:
    """The scorer's examples of the concept: its listed texts, or `n` passages (paragraphs of at most
    `max_chars`) drawn with a seeded hash from its corpus slice. Never the positives used for search."""
    ref = c.references or {}
    if ref.get("texts"):
        return _texts(ref["texts"], f"concept {c.name!r} references")
    spec = ref.get("corpus")
    if not spec:
        raise AnalysisError(f"concept {c.name!r} has no references: give 'references: {{corpus: SPEC}}' or "
                            f"'references: {{texts: [...]}}' so the scorer knows what the concept looks like")
    from ..corpus import iter_documents

    need = [w for w in ref.get("require_any") or []]
    paras = []
    for d in iter_documents(spec):
        for j, para in enumerate(d.text.split("\n\n")):
            para = para.strip()
            if len(para) < 80 or (need and not any(w in para for w in need)):
                continue
            key = zlib.crc32(f"{seed}:{d.id}:{j}".encode())
            paras.append((key, para[:max_chars]))
    if not paras:
        raise AnalysisError(f"concept {c.name!r}: corpus {spec!r} has no passage to score against")
    paras.sort()
    return [p for _, p in paras[:n]]
