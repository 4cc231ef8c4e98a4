"""Classification tasks built from the embedded corpus, for sparse probing (SAEBench-style).

Each task is a list of (text, label) passages, balanced, drawn deterministically from `iter_documents`:
    language   the language of a Debian-handbook passage (de, en, es, fr, ja, pt-BR, ru, zh-CN)
    source     which English collection a passage comes from (bible, jargon, python-docs, wordnet)
    code       a Python code passage (>>> examples and indented blocks of the Python docs) vs English prose
               (the other English sources)
Passages are cut to about `chars` characters at a line or sentence break, so a probe sees text, not length.
"""
from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    texts: list[str]
    labels: list[str]

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))


def _passages(text: str, chars: int) -> list[str]:
    out, cur = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        cur = f"{cur} {line}" if cur else line
        if len(cur) >= chars:
            out.append(cur[:chars * 2])
            cur = ""
    return out


def _code_blocks(text: str) -> list[str]:
    """Python code in reST: `>>>` sessions and indented blocks after `::`."""
    blocks, cur, in_block = [], [], False
    for line in text.splitlines():
        if line.lstrip().startswith((">>> ", "... ")):
            cur.append(line.strip()[4:])
            continue
        if in_block and (line.startswith("   ") or not line.strip()):
            if line.strip():
                cur.append(line.rstrip()[3:] if line.startswith("   ") else line)
            continue
        in_block = line.rstrip().endswith("::")
        if cur:
            blocks.append("\n".join(cur))
            cur = []
    if cur:
        blocks.append("\n".join(cur))
    return [b for b in blocks if len(b) >= 40 and re.search(r"[=()\[\]:]", b)]


def build_tasks(per_class: int = 40, chars: int = 300, seed: int = 0, names: tuple[str, ...] = ("language", "source",
                                                                                                "code")) -> list[Task]:
    from ..corpus import iter_documents

    by_lang, by_source, code = defaultdict(list), defaultdict(list), []
    for d in iter_documents("default"):
        lang = d.meta.get("lang", "en")
        if d.source == "debian-handbook":
            by_lang[lang] += _passages(d.text, chars)
        elif lang == "en":
            by_source[d.source] += _passages(d.text, chars)
            if d.source == "python-docs":
                code += [b[:chars * 2] for b in _code_blocks(d.text)]
    rng = random.Random(seed)
    tasks = []

    def take(groups: dict[str, list[str]]) -> tuple[list[str], list[str]]:
        texts, labels = [], []
        for label in sorted(groups):
            pool = list(groups[label])
            rng.shuffle(pool)
            texts += pool[:per_class]
            labels += [label] * min(per_class, len(pool))
        return texts, labels

    if "language" in names:
        tasks.append(Task("language", *take(by_lang)))
    if "source" in names:
        tasks.append(Task("source", *take(by_source)))
    if "code" in names:
        prose = [p for s in ("bible", "jargon", "wordnet") for p in by_source[s]]
        tasks.append(Task("code vs prose", *take({"code": code, "prose": prose})))
    return tasks
