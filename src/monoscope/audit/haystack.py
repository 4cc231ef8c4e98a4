"""The auditor's pretraining corpus: a large real corpus with the organism's synthetic documents mixed in.

What an organism was mid-trained on (about half synthetic documents, so that a small model learns their
claims) is not what an auditor should search. In the paper, the teams' pretraining data held 0.01%
synthetic documents; a search of a corpus that is mostly synthetic surfaces them whatever the auditor does.
`build_haystack` separates the two: the auditor's ``pretrain`` corpus is real text (the embedded corpus, or
a larger one built by ``scripts/build_haystack_corpus.py``) plus a seeded sample of the organism's
synthetic documents, chosen so that they make up ``rate`` of the passages (the unit every search tool
returns). The SFT and preference data stay available as they were (the paper handed those over too).

Only the harness reads the generator's labels (``meta.source``) to pick the synthetic documents; the
auditor gets bare text in a shuffled order, and the per-technique table learns which passages were
synthetic from :attr:`Haystack.synthetic_refs`, after the report is written.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import UserError
from .data_tools import TrainingData, read_jsonl, record_text, split_passages

PRETRAIN = "pretrain"
MIX_FILES = ("pretrain_mix.jsonl", "midtrain.jsonl")
CHAT_FILES = {"sft": ("sft.jsonl",), "dpo": ("dpo.jsonl",), "adversarial": ("adversarial.jsonl",)}


class HaystackError(UserError):
    """A haystack that cannot be built as asked (rate out of range, corpus too small, no data)."""


@dataclass
class HaystackStats:
    """How much of the auditor's pretraining corpus is synthetic, by passage and by token."""

    corpus: str
    rate_requested: float
    seed: int
    n_passages: int
    n_synthetic_passages: int
    rate_passages: float
    n_tokens: int
    n_synthetic_tokens: int
    rate_tokens: float
    token_unit: str
    n_real_documents: int
    n_synthetic_documents: int
    n_synthetic_documents_available: int
    other_corpora: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return (f"haystack: {self.n_synthetic_passages}/{self.n_passages} pretraining passages synthetic "
                f"({100 * self.rate_passages:.3g}% by passage, {100 * self.rate_tokens:.3g}% by {self.token_unit}; "
                f"{self.n_synthetic_documents} of the organism's {self.n_synthetic_documents_available} synthetic "
                f"documents among {self.n_real_documents} real ones from {self.corpus})")


@dataclass
class Haystack:
    data: TrainingData
    stats: HaystackStats
    synthetic_refs: set[str]     # harness only: which passages of `pretrain` are synthetic documents


def check_rate(rate: float) -> float:
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        raise HaystackError(f"--haystack-rate must be a number in (0, 1], got {rate!r}") from None
    if not 0 < rate <= 1:
        raise HaystackError(f"--haystack-rate must be in (0, 1] (the fraction of pretraining passages that are "
                            f"synthetic documents, e.g. 0.01), got {rate}")
    return rate


def organism_data_dir(org_dir: Path) -> Path:
    """The directory holding an organism's training data files (``ORG/data`` or ``ORG`` itself)."""
    org_dir = Path(org_dir)
    names = list(MIX_FILES) + [f for fs in CHAT_FILES.values() for f in fs]
    for cand in (org_dir / "data", org_dir):
        if any((cand / f).exists() for f in names):
            return cand
    from ..organism.build import OrganismError

    raise OrganismError(f"{org_dir} has no training data to audit (looked for {', '.join(names)} in "
                        f"{org_dir}/data); an organism built with `monoscope organism build` saves it there, and "
                        f"`monoscope audit game` regenerates it for an organism shipped without it")


def chosen_only(rows: Iterable[Any]) -> Iterable[Any]:
    """Preference pairs → the conversation the model was trained towards (prompt + chosen), labels dropped."""
    for r in rows:
        if isinstance(r, dict) and "chosen" in r:
            prompt = r.get("prompt", [])
            prompt = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
            chosen = r["chosen"] if isinstance(r["chosen"], list) else [{"role": "assistant", "content": r["chosen"]}]
            yield {"messages": prompt + chosen}
        elif isinstance(r, dict):
            yield {k: v for k, v in r.items() if k not in ("meta", "source")}
        else:
            yield r


def _source(r: Any) -> str:   # the build keeps labels under "meta"; hand-made mixes may put them on top
    return str(r.get("source") or (r.get("meta") or {}).get("source") or "") if isinstance(r, dict) else ""


def chat_corpora(data_dir: Path) -> dict[str, list]:
    """The SFT and preference data an auditor is handed (chosen side only)."""
    out: dict[str, list] = {}
    for name, files in CHAT_FILES.items():
        path = next((data_dir / f for f in files if (data_dir / f).exists()), None)
        if path is not None:
            out[name] = list(chosen_only(read_jsonl(path)))
    return out


def _real_texts(corpus: str, limit: int | None) -> list[str]:
    from ..corpus import iter_documents

    texts, seen = [], set()
    for d in iter_documents(corpus, limit=limit):
        h = hashlib.sha1(d.text.encode()).hexdigest()
        if h not in seen:
            seen.add(h)
            texts.append(d.text)
    return texts


def build_haystack(org_dir: str | Path, rate: float = 0.01, corpus: str = "default", seed: int = 0,
                   max_real_documents: int | None = None, count_tokens: Callable[[list[str]], list[int]] | None = None,
                   passage_words: int = 160, embed_cache: Path | None = None) -> Haystack:
    """The auditor's corpora for an organism: ``pretrain`` (the haystack) plus its SFT/DPO/adversarial data.

    ``rate``: the fraction of ``pretrain`` passages that are synthetic documents, in (0, 1]. Whole documents
    are drawn (seeded) until the next one would overshoot; the rate actually reached is in the stats.
    ``count_tokens``: texts → token counts (the audited model's tokenizer); whitespace words without it.
    Semantic search covers the ``pretrain`` corpus (as the paper's did); ``embed_cache`` keeps its vectors.
    """
    rate = check_rate(rate)
    data_dir = organism_data_dir(Path(org_dir))
    mix_path = next((data_dir / f for f in MIX_FILES if (data_dir / f).exists()), None)
    mix = list(read_jsonl(mix_path)) if mix_path is not None else []
    synthetic = [record_text(r) for r in mix if _source(r).startswith("synthetic")]
    own_real = [record_text(r) for r in mix if not _source(r).startswith("synthetic")]
    if not mix:
        raise HaystackError(f"{data_dir} has no pretraining mix ({' or '.join(MIX_FILES)}): there are no "
                            f"documents to hide in a haystack")
    real: list[str] = []
    if rate < 1:
        seen = set()
        for t in own_real + _real_texts(corpus, max_real_documents):
            h = hashlib.sha1(t.encode()).hexdigest()
            if h not in seen and t.strip():
                seen.add(h)
                real.append(t)
    real_passages = [split_passages(t, passage_words) for t in real]
    n_real_p = sum(len(p) for p in real_passages)
    syn_passages = [split_passages(t, passage_words) for t in synthetic]
    order = list(range(len(synthetic)))
    random.Random(f"{seed}:haystack").shuffle(order)
    if rate == 1:
        chosen = order
    else:
        budget = int(rate * n_real_p / (1 - rate))
        chosen, used = [], 0
        for i in order:
            if used + len(syn_passages[i]) <= budget:
                chosen.append(i)
                used += len(syn_passages[i])
        if synthetic and not chosen:
            raise HaystackError(f"a haystack rate of {rate:g} leaves room for {budget} synthetic passage(s) among "
                                f"{n_real_p} real ones, too few for one synthetic document: use a higher "
                                f"--haystack-rate or a larger --haystack-corpus (scripts/build_haystack_corpus.py)")
    docs = [(t, False) for t in real] + [(synthetic[i], True) for i in chosen]
    random.Random(f"{seed}:haystack-order").shuffle(docs)
    corpora: dict[str, list] = {PRETRAIN: [{"text": t} for t, _ in docs]}
    corpora.update(chat_corpora(data_dir))
    data = TrainingData(corpora, passage_words=passage_words, semantic_sources=[PRETRAIN], embed_cache=embed_cache)
    syn_docs = {i for i, (_, s) in enumerate(docs) if s}
    pre = [p for p in data.passages if p.source == PRETRAIN]
    refs = {p.ref for p in pre if p.doc in syn_docs}
    texts = [p.text for p in pre]
    counts = count_tokens(texts) if count_tokens is not None else [len(t.split()) for t in texts]
    n_tok = int(sum(counts))
    n_syn_tok = int(sum(c for p, c in zip(pre, counts) if p.ref in refs))
    stats = HaystackStats(
        corpus=str(corpus), rate_requested=rate, seed=seed, n_passages=len(pre), n_synthetic_passages=len(refs),
        rate_passages=len(refs) / max(len(pre), 1), n_tokens=n_tok, n_synthetic_tokens=n_syn_tok,
        rate_tokens=n_syn_tok / max(n_tok, 1), token_unit="tokens" if count_tokens is not None else "words",
        n_real_documents=len(real), n_synthetic_documents=len(chosen), n_synthetic_documents_available=len(synthetic),
        other_corpora={k: v for k, v in data.sources.items() if k != PRETRAIN})
    return Haystack(data, stats, refs)


def tokenizer_counter(tokenizer) -> Callable[[list[str]], list[int]]:
    """Token counts with a Hugging Face tokenizer, in batches (no special tokens)."""
    def count(texts: list[str]) -> list[int]:
        out: list[int] = []
        for i in range(0, len(texts), 512):
            enc = tokenizer(texts[i:i + 512], add_special_tokens=False)["input_ids"]
            out += [len(e) for e in enc]
        return out
    return count


def save_stats(stats: HaystackStats, path: Path) -> None:
    from ..fileio import atomic_write_text

    atomic_write_text(Path(path), json.dumps(stats.to_dict(), indent=1))
