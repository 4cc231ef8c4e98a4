"""What the dashboard shows of `monoscope analyze` results: the list, one result's page, and the notes a
result leaves on feature pages ("fires on passage 12 in de, fr, ja"); plus cross-SAE decoder neighbours for
feature pages (SAEs given with `monoscope serve --compare`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

RESULTS_DIR = "analyses"


def results_dir(db) -> Path:
    return Path(db.path) / RESULTS_DIR


def load(db) -> dict[str, dict]:
    """Every analysis result stored beside this database that was computed on this database's SAE."""
    from ..analyze.common import load_results

    fp = db.sae_fingerprint
    out = {}
    for name, r in load_results(results_dir(db)).items():
        if (r.get("sae") or {}).get("fingerprint") in (None, fp):
            out[name] = r
    return out


def listing(db) -> list[dict]:
    return [{"name": n, "summary": r.get("summary", []), "created": r.get("created"),
             "has_plot": bool(r.get("plot")) and (results_dir(db) / r["plot"]).exists()} for n, r in load(db).items()]


def notes_for(db, feature: int) -> list[dict]:
    """[{analysis, note}] for the analyses that say something about this feature."""
    out = []
    for name, r in load(db).items():
        note = (r.get("features") or {}).get(str(int(feature)))
        if note:
            out.append({"analysis": name, "note": note})
    return out


def page_context(db, name: str) -> dict[str, Any]:
    res = load(db)
    if name not in res:
        from .app import DashboardError

        known = ", ".join(res) or "none yet (run `monoscope analyze …`)"
        raise DashboardError(f"no analysis {name!r} for this SAE; available: {known}", 404)
    r = res[name]
    return {"analysis": name, "r": r, "tables": r.get("tables") or {}, "summary": r.get("summary") or [],
            "example": r.get("example"), "has_plot": bool(r.get("plot")) and (results_dir(db) / r["plot"]).exists(),
            "settings": {k: v for k, v in (r.get("settings") or {}).items() if not isinstance(v, (list, dict))}}


class CrossSAE:
    """Other SAEs on the same hook (different sizes), for a feature page's cross-SAE neighbours."""

    def __init__(self, sae, others: list[tuple[str, Any, Any]]):
        from ..analyze.splitting import check_same_site

        self.sae = sae
        self.others = []
        for label, other, db in others:
            check_same_site(sae, other, ("served", label))
            self.others.append((label, other, db))

    def neighbours(self, feature: int, k: int = 8) -> list[dict]:
        from ..analyze.splitting import cross_neighbours

        out = []
        for label, other, db in self.others:
            nb = cross_neighbours(self.sae, other, [feature], k)[0]
            text = {}
            if db is not None:
                expl = {r["feature"]: r.get("explanation") for r in db.list_features(ids=[i for i, _ in nb], limit=k)}
                text = {i: e for i, e in expl.items() if e}
            out.append({"label": label, "n_latents": int(other.W_dec.shape[0]),
                        "rows": [{"feature": i, "cos": c, "text": text.get(i, "")} for i, c in nb]})
        return out
