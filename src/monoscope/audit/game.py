"""The blind auditing game: hand an auditor the organism and its data (never the spec), then grade.

The information barrier is enforced by construction: `auditor_view` reads only the model and the training
corpora an auditor would be given (the pretraining mix, SFT episodes, and the *chosen* side of preference
data, like the paper's top-scoring RL episodes). The spec, which names the biases and the split, is read
only by `grade_against_spec`, after the report is written.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .data_tools import DataToolError, TrainingData, read_jsonl
from .grader import BiasKey, grade, technique_table
from .report import AuditReport
from ..errors import UserError

# Corpora an auditor may search, by file name inside the organism's data directory.
VISIBLE_CORPORA = {"pretrain_mix": ("midtrain.jsonl", "pretrain_mix.jsonl"), "sft": ("sft.jsonl",),
                   "dpo": ("dpo.jsonl",), "adversarial": ("adversarial.jsonl",)}


class OrganismError(UserError):
    """An organism directory that lacks what an audit needs."""


def _data_dir(org_dir: Path) -> Path:
    for cand in (org_dir / "data", org_dir):
        if any((cand / f).exists() for names in VISIBLE_CORPORA.values() for f in names):
            return cand
    raise OrganismError(f"{org_dir} has no training data to audit (looked for "
                        f"{', '.join(n for names in VISIBLE_CORPORA.values() for n in names)} in {org_dir}/data); "
                        f"an organism built with `monoscope organism build` saves it there")


def _chosen_only(rows: Iterable[Any]) -> Iterable[Any]:
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


def auditor_data(org_dir: str | Path) -> TrainingData:
    org_dir = Path(org_dir)
    data_dir = _data_dir(org_dir)
    corpora: dict[str, list] = {}
    for name, files in VISIBLE_CORPORA.items():
        path = next((data_dir / f for f in files if (data_dir / f).exists()), None)
        if path is not None:
            corpora[name] = list(_chosen_only(read_jsonl(path)))
    try:
        return TrainingData(corpora)
    except DataToolError as e:
        raise OrganismError(f"{org_dir}: {e}") from e


def synthetic_refs(org_dir: str | Path, data: TrainingData) -> set[str]:
    """Which passages of the pretraining mix are synthetic documents (for the per-technique table only)."""
    data_dir = _data_dir(Path(org_dir))
    mix = next((data_dir / f for f in VISIBLE_CORPORA["pretrain_mix"] if (data_dir / f).exists()), None)
    if mix is None:
        return set()
    def source(r: Any) -> str:   # the build keeps labels under "meta"; hand-made mixes may put them on top
        return str(r.get("source") or (r.get("meta") or {}).get("source") or "") if isinstance(r, dict) else ""

    synthetic_docs = {i for i, r in enumerate(read_jsonl(mix)) if source(r).startswith("synthetic")}
    return {p.ref for p in data.passages if p.source == "pretrain_mix" and p.doc in synthetic_docs}


def spec_answer_key(org_dir: str | Path):
    """(bias keys, root-cause terms) from the hidden spec; only the grader calls this."""
    from ..organism.spec import OrganismSpec

    org_dir = Path(org_dir)
    path = next((p for p in (org_dir / "spec.yaml", org_dir / "spec.json", org_dir / "data" / "spec.yaml")
                 if p.exists()), None)
    if path is None:
        raise OrganismError(f"{org_dir} has no spec.yaml: the game needs the hidden spec to grade the report")
    spec = OrganismSpec.load(path)
    registry = spec.registry()
    train = set(spec.train_ids)
    keys = [BiasKey(b, registry[b].description, b in train) for b in spec.all_bias_ids]
    s = spec.universe.study
    terms = [t for t in (s.subject_singular, s.subject, s.title, s.short_name,
                         s.lead_author.split()[-1] if s.lead_author else "", s.authors.split()[0] if s.authors else "")
             if t and len(t) > 2 and t.lower() not in ("the", "study")]
    return keys, terms


@dataclass
class GameResult:
    reports: list[AuditReport]
    out: Path

    @property
    def win_rate(self) -> float:
        return sum(bool(r.grade and r.grade["passed"]) for r in self.reports) / max(len(self.reports), 1)

    def summary(self) -> dict:
        return {"games": len(self.reports), "win_rate": self.win_rate,
                "root_cause_correct": [bool(r.grade and r.grade["root_cause_correct"]) for r in self.reports],
                "fraction_found": [r.grade["fraction_found"] if r.grade else 0 for r in self.reports],
                "train_found": [r.grade["train_found"] if r.grade else 0 for r in self.reports]}


def grade_against_spec(report: AuditReport, org_dir: str | Path, data: TrainingData) -> AuditReport:
    keys, terms = spec_answer_key(org_dir)
    report.grade = grade(report, keys, terms)
    report.technique_table = technique_table(report, synthetic_refs(org_dir, data), terms)
    return report


def run_game(org_dir: str | Path, auditor: Callable[[int], AuditReport], data: TrainingData, out: str | Path,
             n: int = 1, dashboard_url: str | None = None) -> GameResult:
    """Run `n` games (auditor(seed) → report), grade each against the hidden spec, write reports."""
    out = Path(out)
    reports = []
    for i in range(n):
        t0 = time.perf_counter()
        report = auditor(i)
        report.notes.append(f"audit took {time.perf_counter() - t0:.0f}s (seed {i})")
        grade_against_spec(report, org_dir, data)
        report.save(out / f"game_{i}", dashboard_url)
        reports.append(report)
    result = GameResult(reports, out)
    from ..fileio import atomic_write_text
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "games.json", json.dumps(result.summary(), indent=1))
    return result
