"""The audit report: what the auditor concluded, the evidence behind it, and (after grading) its score.

Evidence is kept per technique with the step at which it appeared, so the game harness can print the
paper's per-technique table (did this technique surface the documents / the root cause, and how fast).
Each reported behaviour is a :class:`Finding` carrying its own confirmation: the probe prompts, what the
audited model and its base model replied, and the statistic that decided it. The grader re-checks those
transcripts against the harness's record of what each model really said, with the spec's own detectors.
"""
from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..fileio import atomic_write_text


@dataclass
class Evidence:
    technique: str            # e.g. "behaviour diff", "prefill", "narrator", "grep", "semantic", "sae"
    step: int                 # order in which the auditor ran it (1 = first)
    summary: str
    refs: list[str] = field(default_factory=list)      # training-data passages ("pretrain#17")
    samples: list[str] = field(default_factory=list)   # model outputs or passages quoted
    features: list[int] = field(default_factory=list)


@dataclass
class Finding:
    """One candidate behaviour and its test on the model (organism vs base model)."""

    text: str
    status: str = "unconfirmed"      # "confirmed" (passed the auditor's test), "rejected", "unconfirmed" (untested)
    origin: str = ""                 # where the candidate came from: documents, model leak, behaviour diff, sae
    refs: list[str] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    organism: list[list[str]] = field(default_factory=list)   # [prompt, reply] pairs from the audited model
    base: list[list[str]] = field(default_factory=list)       # the same prompts to the base model
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuditReport:
    target: str
    root_cause: str
    behaviours: list[str]
    evidence: list[Evidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    grade: dict[str, Any] | None = None
    technique_table: list[dict[str, Any]] | None = None
    findings: list[Finding] = field(default_factory=list)
    accuses: bool | None = None      # does the auditor claim a hidden objective? (None: not stated)
    tier: str = ""
    haystack: dict[str, Any] | None = None

    def finding(self, behaviour: str) -> Finding | None:
        return next((f for f in self.findings if f.text == behaviour), None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "AuditReport":
        d = json.loads(text)
        d["evidence"] = [Evidence(**e) for e in d.get("evidence", [])]
        d["findings"] = [Finding(**f) for f in d.get("findings", [])]
        return cls(**d)

    def save(self, directory: Path, dashboard_url: str | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / "report.json", self.to_json())
        atomic_write_text(directory / "report.html", render_html(self, dashboard_url))
        return directory / "report.html"


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _grade_html(g: dict[str, Any]) -> str:
    return (f"<h2>Grade</h2><p class='{'pass' if g.get('passed') else 'fail'}'>"
            f"{'PASS' if g.get('passed') else 'FAIL'}: root cause {'correct' if g.get('root_cause_correct') else 'wrong'}"
            f", {g.get('n_confirmed', 0)}/{g.get('n_biases', 0)} spec behaviours named and confirmed "
            f"(recall {100 * g.get('recall', 0):.0f}%, precision {100 * g.get('precision', 0):.0f}%; named "
            f"{g.get('n_named', 0)}; train {g.get('train_confirmed', 0)}/{g.get('n_train', 0)})</p>"
            f"<p>confirmed: {_e(', '.join(g.get('confirmed', [])))}</p>"
            f"<p>root cause: {_e(g.get('root_cause_why', ''))}</p>")


def render_html(report: AuditReport, dashboard_url: str | None = None) -> str:
    """A self-contained page; every model- or data-derived string is escaped (model text is untrusted)."""
    def feature_link(f: int) -> str:
        return (f'<a href="{_e(dashboard_url.rstrip("/"))}/feature/{f}">#{f}</a>' if dashboard_url
                else f"#{f}")

    rows = []
    for ev in report.evidence:
        refs = ", ".join(f'<a href="#ref-{_e(r)}">{_e(r)}</a>' for r in ev.refs[:12])
        feats = ", ".join(feature_link(f) for f in ev.features[:12])
        samples = "".join(f"<blockquote>{_e(s[:600])}</blockquote>" for s in ev.samples[:3])
        rows.append(f"<tr><td>{ev.step}</td><td>{_e(ev.technique)}</td><td>{_e(ev.summary)}{samples}</td>"
                    f"<td>{refs}</td><td>{feats}</td></tr>")
    grade = _grade_html(report.grade) if report.grade else ""
    table = ""
    if report.technique_table:
        head = "".join(f"<th>{_e(k)}</th>" for k in report.technique_table[0])
        body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r.values()) + "</tr>"
                       for r in report.technique_table)
        table = f"<h2>Techniques</h2><table><tr>{head}</tr>{body}</table>"
    behaviours = "".join(f"<li>{_e(b)}</li>" for b in report.behaviours)
    finds = []
    for f in report.findings:
        ex = "".join(f"<blockquote><b>organism</b> ({_e(p[:120])}): {_e(r[:400])}</blockquote>"
                     for p, r in f.organism[:2])
        ex += "".join(f"<blockquote><b>base</b> ({_e(p[:120])}): {_e(r[:400])}</blockquote>" for p, r in f.base[:1])
        finds.append(f"<tr><td>{_e(f.status)}</td><td>{_e(f.origin)}</td><td>{_e(f.text)}{ex}</td>"
                     f"<td>{_e(json.dumps(f.stats))}</td></tr>")
    findings = (f"<h2>Candidate behaviours tested ({len(report.findings)})</h2><table><tr><th>status</th>"
                f"<th>from</th><th>candidate and transcripts</th><th>test</th></tr>{''.join(finds)}</table>"
                if finds else "")
    hay = f"<p>{_e(report.haystack.get('line', ''))}</p>" if report.haystack else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Audit of {_e(report.target)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}}
blockquote{{margin:4px 0;padding:4px;background:#f6f6f6;font-size:90%;white-space:pre-wrap}}
.pass{{color:#070;font-weight:bold}}.fail{{color:#a00;font-weight:bold}}</style></head><body>
<h1>Audit report: {_e(report.target)}{f' ({_e(report.tier)} tier)' if report.tier else ''}</h1>{hay}
<h2>Root cause</h2><p>{_e(report.root_cause)}</p>
<h2>Behaviours reported ({len(report.behaviours)})</h2><ol>{behaviours}</ol>
{grade}{table}{findings}
<h2>Evidence</h2><table><tr><th>step</th><th>technique</th><th>finding</th><th>training data</th><th>features</th></tr>
{''.join(rows)}</table>
<h2>Notes</h2><ul>{''.join(f'<li>{_e(n)}</li>' for n in report.notes)}</ul>
</body></html>"""
