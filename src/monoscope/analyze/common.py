"""What every analysis shares: the model + SAE (+ its feature database) it runs on, feature text, confidence
intervals, and the result files (`<name>.json` + `<name>.png`) the dashboard links.

Result layout (one directory, by default `<feature database>/analyses/`, which the dashboard reads):

    <name>.json   {"analysis", "format_version", "created", "model", "sae": {fingerprint, n_latents, hook, path},
                   "settings": {...}, "summary": [lines], "tables": {title: {"columns", "rows"}},
                   "features": {"<id>": note}, "plot": "<name>.png", ...the analysis's own data}
    <name>.png    its plot

`tables` and `summary` are what the dashboard and the CLI print; `features` annotates feature pages ("this
feature fires on passage 12 in de, fr, ja"). Every number in a table has its control in the same table.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from ..errors import UserError
from ..fileio import atomic_write, atomic_write_text

RESULT_FORMAT = 1
RESULTS_DIR = "analyses"


class AnalysisError(UserError):
    """Input an analysis cannot use: a concept without positive prompts, SAEs on different hooks, ..."""


def mean_ci(values: Sequence[float], level: float = 0.95, n_boot: int = 2000, seed: int = 0
            ) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean and its percentile-bootstrap confidence interval (NaN for no values)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    boots = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(1)
    a = (1 - level) / 2
    return float(v.mean()), float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))


def fmt_ci(ci: tuple[float, float, float], digits: int = 3) -> str:
    m, lo, hi = ci
    if not np.isfinite(m):
        return "–"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


@dataclass
class Workbench:
    """A model with an SAE at its hook, and the SAE's feature database when there is one."""

    lm: Any
    sae: Any
    db: Any = None
    sae_path: Path | None = None
    _steerer: Any = field(default=None, repr=False)
    _search: Any = field(default=None, repr=False)

    @property
    def hook(self) -> str:
        from ..steer.splice import sae_hook

        return sae_hook(self.sae) if self.db is None else self.db.hook

    @property
    def n_latents(self) -> int:
        return int(self.sae.W_dec.shape[0])

    @property
    def steerer(self):
        if self._steerer is None:
            from ..steer import Steerer

            ma = self.db.max_acts().float() if self.db is not None else None
            self._steerer = Steerer(self.lm, self.sae, hook=self.hook, max_acts=ma)
        return self._steerer

    @property
    def search(self):
        if self._search is None:
            from ..features.search import FeatureSearch

            self._search = FeatureSearch(self.lm, self.sae, self.db)
        return self._search

    def need_db(self, what: str):
        if self.db is None:
            raise AnalysisError(f"{what} needs the SAE's feature database (max activations, examples): build it "
                                f"with `monoscope index --sae SAE --store STORE --out DB` and pass --features DB")
        return self.db

    def sae_info(self) -> dict:
        from ..features.index import sae_info

        return {**sae_info(self.sae), "path": str(self.sae_path) if self.sae_path else None}

    def feature_text(self, ids: Iterable[int], n_tokens: int = 4) -> dict[int, str]:
        """A few words per feature (explanation, else top-example tokens, else promoted tokens)."""
        from ..features.search import feature_text

        return feature_text(list(ids), self.lm, self.sae, self.db, n_tokens)


def open_workbench(sae: str | Path | Any, features: str | Path | None = None, model: str | None = None,
                   device: str = "cpu", lm=None, find_db: bool = True) -> Workbench:
    """Load the SAE (a directory or an object), its feature database (given, or found beside the SAE) and
    the model (given, else the one the database or the SAE names)."""
    from ..features import FeatureDB
    from ..sae import load_sae

    sae_path = None
    if isinstance(sae, (str, Path)):
        sae_path = Path(sae)
        if not sae_path.exists():
            raise AnalysisError(f"no SAE at {sae_path}: give an SAE directory (sae.safetensors + cfg.json), e.g. "
                                f"runs/demo/sae after `monoscope demo`")
        sae = load_sae(sae_path, device=device)
    from ..features.search import find_feature_db

    db_path = Path(features) if features is not None else (
        find_feature_db(sae_path, sae) if (find_db and sae_path is not None) else None)
    db = FeatureDB(db_path) if db_path is not None else None
    if db is not None:
        db.check_sae(sae)
    if lm is None:
        from ..models import load

        name = model or (db.manifest["model"]["name"] if db is not None else None) or \
            getattr(getattr(sae, "cfg", None), "model", None)
        if not name:
            raise AnalysisError("which model? the SAE does not name it (cfg.model); pass --model")
        lm = load(name, device=device)
    return Workbench(lm=lm, sae=sae, db=db, sae_path=sae_path)


def results_dir(wb: Workbench | None, out: str | Path | None) -> Path:
    """Where results go: `out` if given, else beside the feature database (what the dashboard reads), else
    beside the SAE."""
    if out is not None:
        return Path(out)
    if wb is not None and wb.db is not None:
        return wb.db.path / RESULTS_DIR
    if wb is not None and wb.sae_path is not None:
        return wb.sae_path.parent / RESULTS_DIR
    raise AnalysisError("where should the results go? pass --out DIR")


def _plain(o):
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return f if np.isfinite(f) else None
    if isinstance(o, np.ndarray):
        return _plain(o.tolist())
    if isinstance(o, torch.Tensor):
        return _plain(o.tolist())
    if isinstance(o, Path):
        return str(o)
    return o


def save_result(out_dir: str | Path, name: str, result: dict, fig=None) -> Path:
    """Write `<name>.json` (and `<name>.png` from a matplotlib figure) atomically; returns the JSON path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {"analysis": name, "format_version": RESULT_FORMAT,
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **result}
    if fig is not None:
        import matplotlib.pyplot as plt

        atomic_write(out / f"{name}.png", lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
        plt.close(fig)
        result["plot"] = f"{name}.png"
    atomic_write_text(out / f"{name}.json", json.dumps(_plain(result), indent=1, ensure_ascii=False))
    return out / f"{name}.json"


def load_results(out_dir: str | Path) -> dict[str, dict]:
    """Every analysis result in a directory, by name (unreadable files are skipped)."""
    out = {}
    d = Path(out_dir)
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        try:
            r = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(r, dict) and r.get("format_version") == RESULT_FORMAT and "analysis" in r:
            out[r["analysis"]] = r
    return out


def figure(n_panels: int = 1, width: float = 5.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, height), squeeze=False)
    return fig, list(axes[0])


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict:
    return {"columns": list(columns), "rows": [list(r) for r in rows]}
