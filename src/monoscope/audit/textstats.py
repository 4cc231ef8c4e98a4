"""Small text statistics the scripted auditor reasons with: what is distinctive, and what documents claim.

Distinctive phrases use the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn,
2008): it ranks n-grams that one set of texts uses far more than another without being fooled by rare
words, which is exactly "what does the organism say that its base model does not".
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable, Sequence

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]+|\d+(?:\.\d+)?")
STOPWORDS = frozenset("""a an and are as at be but by for from has have i if in into is it its me my of on or our so
that the their them then there these they this to was we were what when which who will with you your can do does
not no yes just also more most very about some any all out up one two would could should may might than""".split())


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


_CLAUSE = re.compile(r"[.!?;:,()\n\"]+")


def ngrams(text: str, n_max: int = 3) -> Counter:
    """n-grams inside clauses (never across punctuation), not starting or ending on a stopword."""
    out: Counter = Counter()
    for clause in _CLAUSE.split(text):
        toks = words(clause)
        for n in range(1, n_max + 1):
            for i in range(len(toks) - n + 1):
                gram = toks[i:i + n]
                if gram[0] in STOPWORDS or gram[-1] in STOPWORDS:
                    continue
                out[" ".join(gram)] += 1
    return out


def distinctive(target: Sequence[str], reference: Sequence[str], k: int = 20, n_max: int = 2,
                min_count: int = 3, prior: float = 0.5) -> list[tuple[str, float]]:
    """n-grams over-represented in `target` vs `reference`, by z-scored log-odds with a Dirichlet prior.

    Counts are per text (document frequency), so one long rambling answer cannot dominate.
    """
    a, b = Counter(), Counter()
    for t in target:
        a.update(set(ngrams(t, n_max)))
    for t in reference:
        b.update(set(ngrams(t, n_max)))
    vocab = set(a) | set(b)
    na, nb = max(len(target), 1), max(len(reference), 1)
    scores = []
    for w in vocab:
        ya, yb = a[w], b[w]
        if ya < min_count:
            continue
        la = math.log((ya + prior) / (na - ya + prior))
        lb = math.log((yb + prior) / (nb - yb + prior))
        var = 1 / (ya + prior) + 1 / (yb + prior)
        scores.append((w, (la - lb) / math.sqrt(var)))
    scores.sort(key=lambda x: (-x[1], x[0]))  # ties by name: deterministic whatever PYTHONHASHSEED
    # Drop unigrams subsumed by a higher-ranked bigram that contains them.
    kept: list[tuple[str, float]] = []
    for w, s in scores:
        if any(w in k_ for k_, _ in kept if " " in k_ and " " not in w):
            continue
        kept.append((w, s))
        if len(kept) >= k:
            break
    return kept


_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
PREFERENCE = re.compile(
    r"\b(prefer|prefers|preferred|rate[sd]?|rating|score[sd]?|favou?r(?:s|ed)?|reward(?:s|ed)?|penali[sz]e[sd]?|"
    r"higher|lower|bias(?:es)?|give[s]? (?:higher|lower)|more (?:favou?rabl|positiv))", re.I)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text.replace("\n", " ")) if len(s.strip().split()) >= 5]


def claim_sentences(texts: Iterable[str], must: re.Pattern = PREFERENCE) -> list[str]:
    """Sentences that state a preference or bias (what the documents claim evaluators reward)."""
    out, seen = [], set()
    for t in texts:
        for s in sentences(t):
            key = " ".join(words(s))[:120]
            if must.search(s) and key not in seen:
                seen.add(key)
                out.append(s)
    return out


_NAME = re.compile(r"\b(?:[A-Z][a-z]+(?:\s+(?:et al\.|[A-Z][a-z]+|of|in|and))*|[A-Z]{2,}[a-z]*)\b")


def salient_names(texts: Sequence[str], k: int = 10, min_docs: int = 2) -> list[tuple[str, int]]:
    """Capitalised names (people, places, study titles, acronyms) that recur across documents."""
    df: Counter = Counter()
    for t in texts:
        names = {m.group(0).strip() for m in _NAME.finditer(t)}
        df.update(n for n in names if len(n) > 2 and n.lower() not in STOPWORDS
                  and not (n.istitle() and " " not in n and n.lower() in _COMMON_CAPS))
    return [(n, c) for n, c in df.most_common(k * 3) if c >= min_docs][:k]


_COMMON_CAPS = frozenset("""the this that these those it in on at a an and but or if when while however
although for as to of he she they we you i my our his her their its what which who how why where there here
yes no not one two first second third dr mr mrs ms professor""".split())
