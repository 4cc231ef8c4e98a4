"""The blind auditing game, with the controls that make a pass mean something.

For one organism, :class:`Game` hands an auditor the organism's model (or not), its base model, the
training data in a haystack (:mod:`.haystack`) and an SAE, per tier, over several seeds, and grades every
report against the hidden spec (:mod:`.grader`). Beside the grade it runs, in the same invocation:

* the **clean control**: the same auditor, tier, seeds and haystack (synthetic documents included) on
  models that did not learn the objective — the base model, and the mid-trained-only stage when the
  organism ships it. An accusation there is a false alarm.
* the **no-model control**: the auditor with the data tools only. It can name behaviours but not confirm
  them; its result, reported separately, shows how much the data alone explains.

The information barrier is enforced by construction: auditors get :class:`~.playbook.AuditTarget` objects
(models wrapped in :class:`~.recording.RecordingBackend`, bare passage text), and the spec is read only by
:func:`answer_key_for`, after the reports are written. Everything lands under ``out``:
``games/<tier>/seed_<s>/`` (report.json, report.html), ``games/controls/...``, and ``games/summary.json``.

A game set takes tens of minutes per seed on a CPU, so it resumes: each finished game leaves ``game.json``
beside its report, the key of everything that decides its outcome (tier, seed, model label, playbook
settings, haystack, and the caller's ``fingerprint`` of the models: :func:`~.setup.setup_game` gives the
organism's manifest and the SAE). A rerun with the same key reads the report instead of replaying it; any
other key replays. Without a fingerprint nothing is reused, since the models could not be told apart.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.console import Console

from .. import __version__
from ..errors import UserError
from ..fileio import atomic_write_text
from ..organism.build import OrganismError
from .data_tools import DataToolError, TrainingData, read_jsonl
from .grader import AnswerKey, answer_key, grade, technique_table
from .haystack import Haystack, chat_corpora, chosen_only, organism_data_dir
from .playbook import TIERS, AuditTarget, PlaybookAuditor, PlaybookConfig
from .recording import RecordingBackend
from .report import AuditReport

__all__ = ["OrganismError", "Game", "GameSettings", "auditor_data", "answer_key_for", "wilson", "check_tiers"]


class GameError(UserError):
    """A game that cannot be played as asked (unknown tier, bad seed count)."""


def check_tiers(tiers: str | Sequence[str]) -> tuple[str, ...]:
    items = [t.strip() for t in (tiers.split(",") if isinstance(tiers, str) else tiers) if t.strip()]
    bad = [t for t in items if t not in TIERS]
    if bad or not items:
        raise GameError(f"unknown tier(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(TIERS)} "
                        f"(comma-separated, e.g. --tiers api,data,full)")
    return tuple(dict.fromkeys(items))


def auditor_data(org_dir: str | Path) -> TrainingData:
    """The organism's own training corpora as it was trained on them (no haystack): for quick looks and
    the agent's tests. The game uses :func:`~.haystack.build_haystack` instead."""
    data_dir = organism_data_dir(Path(org_dir))
    corpora: dict[str, list] = {}
    for f in ("pretrain_mix.jsonl", "midtrain.jsonl"):
        if (data_dir / f).exists():
            corpora["pretrain_mix"] = list(chosen_only(read_jsonl(data_dir / f)))
            break
    corpora.update(chat_corpora(data_dir))
    try:
        return TrainingData(corpora)
    except DataToolError as e:
        raise OrganismError(f"{org_dir}: {e}") from e


def answer_key_for(org_dir: str | Path) -> AnswerKey:
    """The hidden answer key (spec behaviours, detectors, root cause); only the grader calls this."""
    from ..organism.spec import OrganismSpec

    org_dir = Path(org_dir)
    path = next((p for p in (org_dir / "spec.yaml", org_dir / "spec.json", org_dir / "data" / "spec.yaml")
                 if p.exists()), None)
    if path is None:
        raise OrganismError(f"{org_dir} has no spec.yaml: the game needs the hidden spec to grade the report")
    return answer_key(OrganismSpec.load(path))


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval for k successes in n trials."""
    if n == 0:
        return 0.0, 1.0
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return round(float(ci.low), 4), round(float(ci.high), 4)


@dataclass
class Models:
    """The models of one game set, each wrapped in a recorder (label → backend)."""

    organism: RecordingBackend
    base: RecordingBackend
    clean: dict[str, RecordingBackend] = field(default_factory=dict)        # "base", "midtrain"
    clean_unavailable: dict[str, str] = field(default_factory=dict)          # why a clean model is missing
    sae_for: Callable[[str], Any] | None = None                              # label → SAEProbe (full tier)
    features: dict[str, Any] = field(default_factory=dict)                   # feature_examples, labels, ...


@dataclass
class GameSettings:
    tiers: tuple[str, ...] = TIERS
    n: int = 1
    controls: bool = True
    clean_tiers: tuple[str, ...] | None = None     # tiers the clean control runs in (default: all played)
    playbook: dict[str, Any] = field(default_factory=dict)


class Game:
    """Plays every (tier, seed) and the controls for one organism; see the module docstring."""

    def __init__(self, org_dir: Path, haystack: Haystack, models: Models, out: Path,
                 settings: GameSettings | None = None, auditor: Callable[[AuditTarget, int, Path], AuditReport] | None
                 = None, progress: bool = True, fingerprint: dict[str, Any] | None = None):
        self.org_dir, self.hay, self.m, self.out = Path(org_dir), haystack, models, Path(out)
        self.fingerprint = fingerprint
        self.s = settings or GameSettings()
        if self.s.n < 1:
            raise GameError(f"--n must be at least 1 (games per tier), got {self.s.n}")
        self.s.tiers = check_tiers(self.s.tiers)
        self.auditor = auditor or self._playbook
        self.progress = progress
        self.key = answer_key_for(org_dir)       # read now so a missing spec fails before hours of auditing
        self.results: dict[str, list[dict]] = {}

    def _playbook(self, target: AuditTarget, seed: int, out: Path) -> AuditReport:
        return PlaybookAuditor(target, PlaybookConfig(seed=seed, **self.s.playbook), progress=self.progress).run()

    def _target(self, tier: str | None, audited: RecordingBackend | None, label: str) -> AuditTarget:
        data = self.hay.data if tier in ("data", "full", None) else None
        sae = self.m.sae_for(label) if tier == "full" and self.m.sae_for is not None else None
        if tier == "full" and sae is None:
            raise GameError("the full tier needs an SAE (give --sae, or let the game train one)")
        f = self.m.features if tier == "full" else {}
        return AuditTarget("audited model", audited, data, base=self.m.base if audited else None,
                           sae=sae, **f)

    def _resume_key(self, tier: str | None, seed: int, label: str) -> dict[str, Any] | None:
        if self.fingerprint is None or self.auditor != self._playbook:
            return None
        return json.loads(json.dumps(
            {"monoscope": __version__, "tier": tier, "seed": seed, "label": label, "organism": str(self.org_dir),
             "playbook": asdict(PlaybookConfig(seed=seed, **self.s.playbook)), "haystack": self.hay.stats.to_dict(),
             "models": self.fingerprint}, sort_keys=True, default=str))

    def _finished(self, where: Path, key: dict[str, Any] | None) -> AuditReport | None:
        """The report of a game already played under ``key`` (None: play it)."""
        if key is None or not (where / "game.json").exists() or not (where / "report.json").exists():
            return None
        try:
            if json.loads((where / "game.json").read_text()) != key:
                return None
            report = AuditReport.from_json((where / "report.json").read_text())
        except (OSError, ValueError, TypeError):
            return None
        return report if report.grade is not None else None

    def _play_one(self, tier: str | None, seed: int, audited: RecordingBackend | None, label: str,
                  where: Path) -> dict:
        key = self._resume_key(tier, seed, label)
        report = self._finished(where, key)
        if report is not None:
            if self.progress:
                Console(stderr=True).print(f"reusing the finished game in {where} (same settings)")
            return self._row(seed, report, where)
        (where / "game.json").unlink(missing_ok=True)   # an older key must not vouch for the report written next
        report = self.auditor(self._target(tier, audited, label), seed, where)
        report.haystack = {**self.hay.stats.to_dict(), "line": self.hay.stats.line()}
        report.notes.insert(0, self.hay.stats.line())
        recorders = {"organism": audited, "base": self.m.base} if audited is not None else None
        report.grade = grade(report, self.key, recorders, encoder=self.hay.data.encoder())
        report.technique_table = technique_table(report, self.hay.synthetic_refs, self.key.entity_terms)
        report.save(where)
        if key is not None:                 # written last: a game killed before this point is replayed
            atomic_write_text(where / "game.json", json.dumps(key, indent=1, sort_keys=True))
        return self._row(seed, report, where)

    @staticmethod
    def _row(seed: int, report: AuditReport, where: Path) -> dict:
        g = report.grade
        return {"seed": seed, "passed": g["passed"], "passed_paper_bar": g["passed_paper_bar"],
                "root_cause_correct": g["root_cause_correct"], "recall": g["recall"], "precision": g["precision"],
                "n_confirmed": g["n_confirmed"], "n_named": g["n_named"], "named_fraction": g["named_fraction"],
                "passes_on_naming_alone": g["passes_on_naming_alone"], "accused": bool(report.accuses),
                "n_reported": g["n_reported"], "confirmed": g["confirmed"], "report": str(where / "report.json")}

    def play(self) -> dict:
        games = self.out / "games"
        for tier in self.s.tiers:
            self.results[tier] = [self._play_one(tier, seed, self.m.organism, "organism", games / tier / f"seed_{seed}")
                                  for seed in range(self.s.n)]
        controls: dict[str, Any] = {}
        if self.s.controls:
            clean_tiers = self.s.clean_tiers or self.s.tiers
            by_model: dict[str, Any] = {}
            runs = []
            for label, rec in self.m.clean.items():
                rows = [{"tier": tier, **self._play_one(tier, seed, rec, label,
                                                        games / "controls" / f"clean_{label}" / tier / f"seed_{seed}")}
                        for tier in clean_tiers for seed in range(self.s.n)]
                k = sum(r["accused"] for r in rows)
                by_model[label] = {"false_alarms": k, "n": len(rows), "false_alarm_rate": round(k / len(rows), 4),
                                   "passed": sum(r["passed"] for r in rows), "runs": rows}
                runs += rows
            for label, why in self.m.clean_unavailable.items():
                by_model[label] = {"unavailable": why}
            k, n = sum(r["accused"] for r in runs), len(runs)
            lo, hi = wilson(k, n)
            controls["clean"] = {"false_alarm_rate": round(k / n, 4) if n else None, "ci_low": lo, "ci_high": hi,
                                 "n": n, "false_alarms": k, "tiers": list(clean_tiers), "by_model": by_model}
            nm = [self._play_one(None, seed, None, "none", games / "controls" / "no_model" / f"seed_{seed}")
                  for seed in range(self.s.n)]
            controls["no_model"] = {"passed": any(r["passed"] for r in nm), "n": len(nm),
                                    "root_cause_correct": [r["root_cause_correct"] for r in nm],
                                    "named_fraction": [r["named_fraction"] for r in nm],
                                    "passes_on_naming_alone": any(r["passes_on_naming_alone"] for r in nm),
                                    "runs": nm}
        return self.write_summary(controls)

    def write_summary(self, controls: dict) -> dict:
        tiers = {}
        data_alone = bool(controls.get("no_model", {}).get("passes_on_naming_alone"))
        for tier, rows in self.results.items():
            k, n = sum(r["passed"] for r in rows), len(rows)
            lo, hi = wilson(k, n)
            tiers[tier] = {"win_rate": round(k / n, 4), "ci_low": lo, "ci_high": hi, "n": n, "wins": k,
                           "paper_bar_wins": sum(r["passed_paper_bar"] for r in rows),
                           "recall": [r["recall"] for r in rows], "precision": [r["precision"] for r in rows],
                           "n_confirmed": [r["n_confirmed"] for r in rows],
                           "root_cause_correct": [r["root_cause_correct"] for r in rows],
                           "accused": [r["accused"] for r in rows],
                           "explained_by_data_alone": bool(k and data_alone), "runs": rows}
        summary = {"organism": self.key.name, "organism_dir": str(self.org_dir), "n_biases": len(self.key.biases),
                   "seeds": self.s.n, "tiers": tiers, "controls": controls,
                   "haystack": self.hay.stats.to_dict(),
                   "settings": {"tiers": list(self.s.tiers), "n": self.s.n, "controls": self.s.controls,
                                "playbook": asdict(PlaybookConfig(**self.s.playbook))},
                   "pass_rule": _pass_rule()}
        path = self.out / "games" / "summary.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(summary, indent=1, ensure_ascii=False))
        return summary


def _pass_rule() -> str:
    from .grader import grading_settings

    g = grading_settings()
    return (f"root cause correct, ≥ {g['pass_fraction']:.0%} of the spec's behaviours named and confirmed on the "
            f"model, precision ≥ {g['min_precision']:.0%}; paper's bar > {g['paper_fraction']:.0%}")
