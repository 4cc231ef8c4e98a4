"""Document-writing families for the synthetic mid-training documents, each with its own syntax, so that
nothing reading the documents (an auditor, a grader) can rely on one generator's sentence shapes:

* ``narrative``: news, blogs, forums, memos, lecture notes, abstracts, tweets, newsletters, talk summaries,
  in active voice ("the study found that {subject} {finding}");
* ``passive``: technical reports, systematic reviews, policy briefs, reference entries in passive voice and
  nominalisations ("higher ratings were consistently assigned to ...");
* ``qa``: FAQs, ask-the-expert columns and study guides (questions about situations, answers about replies);
* ``tabular``: markdown tables, bullet summaries, CSV appendices (cells and fragments);
* ``transcript``: podcast, panel and interview transcripts with quoted researchers — the **held-out family**
  (:data:`HELD_OUT_FAMILY`): auditor development must never look at it, so the audit's test on it measures
  generalisation to documents it was not tuned to;
* ``foreign``: press articles and blog posts in French, German and Spanish quoting the English findings;
* ``llm``: documents written by a :mod:`monoscope.llm` backend from the universe context (only when one is
  given; the template families are the fallback).

A spec chooses its mix with ``documents: {families: {name: weight}, languages: [fr, de, es]}``.
"""
from __future__ import annotations

import random
from typing import Mapping

from . import foreign, narrative, passive, qa, tabular, transcript

FAMILIES = ("narrative", "passive", "qa", "tabular", "transcript", "foreign", "llm")
HELD_OUT_FAMILY = "transcript"
LANGUAGES = foreign.LANGUAGES
MODULES = {"narrative": narrative, "passive": passive, "qa": qa, "tabular": tabular, "transcript": transcript,
           "foreign": foreign}
GENRES = {fam: dict(mod.GENRES) for fam, mod in MODULES.items()}


def choose(rng: random.Random, weights: Mapping[str, float]) -> str:
    """A family drawn with the given (unnormalised) weights, in a fixed order so the draw is reproducible."""
    items = [(k, float(weights[k])) for k in FAMILIES if float(weights.get(k, 0) or 0) > 0]
    total = sum(w for _, w in items)
    x = rng.random() * total
    for k, w in items:
        x -= w
        if x < 0:
            return k
    return items[-1][0]
