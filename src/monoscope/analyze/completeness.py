"""Completeness vs frequency: does the SAE have a feature for each member of a concept family (books and
people of the Bible, Python standard-library modules; `data/families.yaml`), and how does that depend on
how often the member occurs in the SAE's training data? The paper: P(feature) is sigmoidal in log
frequency, with its 50% point slightly below 1 / (number of alive features).

Per member, with the tool's own search:
1. **candidates**: `contrast` of the family's templates filled with the member against the same templates
   filled with other members (per-token peak relative to each feature's corpus max), top `n_candidates`;
2. **check**: a candidate is the member's feature when at least `min_share` of its top examples in the
   feature database show the member's name near the peak (the peak token or the `window` tokens before it).
   The member's feature exists when some candidate passes.
Frequency: whole-word occurrences of the name in the indexed store's text, per token.

Control (specificity of the check): each member is checked against the candidates found for a random
*other* member of its family; a check that passes there (e.g. a generic "Bible name" feature) measures how
often existence is claimed without a feature for the member itself.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from .common import AnalysisError, Workbench, fmt_ci, mean_ci, table


@dataclass
class CompletenessConfig:
    n_candidates: int = 5
    n_negatives: int = 8          # other members whose templates are subtracted
    min_share: float = 0.5        # of top examples showing the name near the peak
    window: int = 3               # tokens before the peak that may hold the name
    max_density: float = 0.02
    seed: int = 0


def load_families(path: str | Path | None = None) -> dict[str, dict]:
    text = (Path(path).read_text() if path is not None else
            resources.files("monoscope.analyze").joinpath("data", "families.yaml").read_text())
    fams = (yaml.safe_load(text) or {}).get("families") or {}
    for name, f in fams.items():
        if not f.get("members") or not f.get("templates") or not all("{}" in t for t in f["templates"]):
            raise AnalysisError(f"family {name!r} needs 'members' and 'templates' (each with a {{}} for the member)")
    if not fams:
        raise AnalysisError("no concept families (expected a 'families:' mapping)")
    return fams


def store_frequencies(store, names: list[str], tokenizer) -> tuple[dict[str, int], int]:
    """Whole-word occurrences of each name in the store's text (contexts decoded, special tokens dropped),
    and the number of ordinary tokens."""
    pats = {n: re.compile(r"(?<![A-Za-z0-9_])" + re.escape(n) + r"(?![A-Za-z0-9_])") for n in names}
    counts = {n: 0 for n in names}
    n_tok = 0
    L = store.manifest.config.context_len
    for i in range(len(store.manifest.shards)):
        toks = np.asarray(store.shard_array(i, "tokens")).reshape(-1, L)
        special = np.asarray(store.shard_array(i, "special")).reshape(-1, L)
        n_tok += int((~special).sum())
        texts = tokenizer.batch_decode([t[~s].tolist() for t, s in zip(toks, special)], skip_special_tokens=True)
        for text in texts:
            for n, p in pats.items():
                counts[n] += len(p.findall(text))
    return counts, n_tok


def _name_near_peak(db, feature: int, name: str, window: int) -> float:
    """Share of the feature's top examples whose text from `window` tokens before the peak through the peak
    contains `name`."""
    ex = db.examples(feature, kind="top")
    if not ex:
        return 0.0
    hit = 0
    for e in ex:
        j = e["token_index"] - e["start"]
        text = "".join(db.token_text(e["tokens"][max(0, j - window):j + 1]))
        hit += name in text
    return hit / len(ex)


def _template_scores(wb: Workbench, templates: list[str], member: str) -> torch.Tensor:
    ma = wb.db.max_acts().float().clamp_min(1e-12)
    rows = [wb.search.encode(t.format(member)).acts.max(0).values / ma for t in templates]
    return torch.stack(rows).mean(0)


def fit_sigmoid(log_freq: np.ndarray, exists: np.ndarray, n_boot: int = 200, seed: int = 0) -> dict:
    """Logistic fit P(exists) = σ(a·(log10 f − b)) by maximum likelihood (scipy); b is the 50% point, with
    a bootstrap 95% interval over members."""
    from scipy.optimize import minimize

    x, y = np.asarray(log_freq, float), np.asarray(exists, float)
    if len(x) < 3 or y.min() == y.max():
        return {"ok": False, "reason": "all members on one side: no transition to fit"}

    def fit(xx, yy):
        return minimize(lambda p: nll_of(p, xx, yy), x0=[2.0, float(np.median(xx))], method="Nelder-Mead").x

    def nll_of(p, xx, yy):
        a, b = p
        z = np.clip(a * (xx - b), -30, 30)
        return float(np.sum(np.log1p(np.exp(-z)) * yy + np.log1p(np.exp(z)) * (1 - yy))) + 1e-3 * a * a

    a, b = fit(x, y)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):  # members resampled: how well the 50% point is pinned down
        i = rng.integers(0, len(x), len(x))
        if y[i].min() != y[i].max():
            boots.append(fit(x[i], y[i])[1])
    lo, hi = (np.quantile(boots, [0.025, 0.975]) if len(boots) >= 20 else (np.nan, np.nan))
    return {"ok": True, "slope": float(a), "log10_f50": float(b), "f50": float(10 ** b),
            "f50_ci": [float(10 ** lo), float(10 ** hi)], "n_members": int(len(x)), "n_with_feature": int(y.sum())}


def run_completeness(wb: Workbench, families: list[str] | None = None, cfg: CompletenessConfig | None = None,
                     families_file=None, store=None, progress: bool = True) -> dict:
    from ..store import ActivationStore

    cfg = cfg or CompletenessConfig()
    db = wb.need_db("the completeness analysis (top examples decide whether a feature is the member's)")
    fams = load_families(families_file)
    if families:
        unknown = [f for f in families if f not in fams]
        if unknown:
            raise AnalysisError(f"unknown family {unknown[0]!r}; known: {', '.join(fams)}")
        fams = {k: fams[k] for k in families}
    if store is None:
        path = Path(db.manifest["store"]["path"])
        if not path.exists():
            raise AnalysisError(f"the store this database was indexed on ({path}) is not there; pass store=... "
                                f"(frequencies are counted in the SAE's training text)")
        store = ActivationStore(path)
    names = sorted({m for f in fams.values() for m in f["members"]})
    counts, n_tok = store_frequencies(store, names, wb.lm.tokenizer)
    dens = np.array([r["density"] for r in db.query("SELECT density FROM features ORDER BY feature")])
    dense = torch.as_tensor(dens > cfg.max_density)
    n_alive = int(db.manifest["stats"]["alive"])
    rng = np.random.default_rng(cfg.seed)
    members_out = []
    for fam, f in fams.items():
        mem = list(dict.fromkeys(f["members"]))
        scores = {m: _template_scores(wb, f["templates"], m) for m in tqdm(mem, desc=f"completeness {fam}",
                                                                             disable=not progress)}
        cands = {}
        for m in mem:
            others = [o for o in mem if o != m]
            negs = rng.choice(others, size=min(cfg.n_negatives, len(others)), replace=False)
            s = scores[m] - torch.stack([scores[o] for o in negs]).mean(0)
            s = torch.where(dense | (scores[m] <= 0), torch.full_like(s, -1e9), s)
            cands[m] = [int(i) for i in torch.argsort(s, descending=True)[:cfg.n_candidates] if s[i] > 0]
        for m in mem:
            share = {c: _name_near_peak(db, c, m, cfg.window) for c in cands[m]}
            best = max(share, key=share.get) if share else None
            other = mem[(mem.index(m) + 1 + int(rng.integers(len(mem) - 1))) % len(mem)] if len(mem) > 1 else m
            ctrl = max((_name_near_peak(db, c, m, cfg.window) for c in cands[other]), default=0.0)
            members_out.append({"family": fam, "member": m, "count": counts[m], "frequency": counts[m] / max(1, n_tok),
                                "feature": best, "share": share.get(best, 0.0) if best is not None else 0.0,
                                "exists": bool(best is not None and share[best] >= cfg.min_share),
                                "control_member": other, "control_exists": bool(ctrl >= cfg.min_share)})
    texts = wb.feature_text([r["feature"] for r in members_out if r["exists"]])
    for r in members_out:
        r["text"] = texts.get(r["feature"], "") if r["exists"] else ""
    fits, rows = {}, []
    for fam in list(fams) + ["all"]:
        sel = [r for r in members_out if fam == "all" or r["family"] == fam]
        seen = [r for r in sel if r["count"] > 0]
        fit = fit_sigmoid(np.log10([r["frequency"] for r in seen]), np.array([r["exists"] for r in seen]))
        if fit.get("ok"):
            fit["f50_times_alive"] = fit["f50"] * n_alive
            fit["f50_times_alive_ci"] = [v * n_alive for v in fit["f50_ci"]]
        fits[fam] = fit
        ex = mean_ci([float(r["exists"]) for r in sel], seed=cfg.seed)
        ctl = mean_ci([float(r["control_exists"]) for r in sel], seed=cfg.seed)
        rows.append([fam, len(sel), sum(r["count"] == 0 for r in sel), fmt_ci(ex, 2), fmt_ci(ctl, 2),
                     f"{fit['f50']:.2e}" if fit.get("ok") else "–",
                     (f"{fit['f50_times_alive']:.2f} [{fit['f50_times_alive_ci'][0]:.2f}, "
                      f"{fit['f50_times_alive_ci'][1]:.2f}]") if fit.get("ok") else fit.get("reason", "–")])
    a = fits["all"]
    lines = [f"{len(members_out)} members, {n_alive} alive features, {n_tok:,} tokens in the indexed store; a "
             f"member has a feature when a candidate from the tool's search has ≥ {cfg.min_share:.0%} of its top "
             f"examples showing the name at or just before the peak.",
             ("sigmoid fit over all members: 50% at frequency " + (f"{a['f50']:.2e} per token = "
              f"{a['f50_times_alive']:.2f} [95% CI {a['f50_times_alive_ci'][0]:.2f}, "
              f"{a['f50_times_alive_ci'][1]:.2f}] / alive features (paper: slightly below 1), from "
              f"{a['n_with_feature']} of {a['n_members']} members present in the data having a feature") if a.get("ok")
              else f"no sigmoid fit: {a.get('reason')}")]
    ex_rows = [[r["family"], r["member"], r["count"], r["feature"], r["text"]] for r in
               sorted(members_out, key=lambda r: -r["count"]) if r["exists"]][:15]
    return {"settings": {**asdict(cfg), "families": list(fams), "n_alive": n_alive, "tokens": n_tok},
            "summary": lines,
            "tables": {"completeness": table(["family", "members", "absent from corpus",
                                              "have a feature [95% CI]", "control: other member's candidates",
                                              "50% frequency", "50% × alive features [95% CI]"], rows),
                       "members with a feature (most frequent)": table(
                           ["family", "member", "occurrences", "feature", "feature text"], ex_rows)},
            "members": members_out, "fits": fits,
            "features": {str(r["feature"]): f"completeness: the feature for '{r['member']}' ({r['family']})"
                         for r in members_out if r["exists"]}}


def plot_completeness(result: dict):
    from .common import figure

    fig, (ax,) = figure(1, width=6)
    n_alive = result["settings"]["n_alive"]
    colors = ["#e4572e", "#4c72b0", "#55a868", "#8172b2"]
    rng = np.random.default_rng(0)
    for fam, col in zip(result["settings"]["families"], colors):
        sel = [r for r in result["members"] if r["family"] == fam and r["count"] > 0]
        if not sel:
            continue
        x = np.log10([r["frequency"] for r in sel])
        y = np.array([r["exists"] for r in sel], float) + rng.uniform(-0.04, 0.04, len(sel))
        ax.scatter(x, y, s=12, color=col, alpha=0.7, label=fam)
        fit = result["fits"].get(fam, {})
        if fit.get("ok"):
            xs = np.linspace(x.min() - 0.5, x.max() + 0.5, 100)
            ax.plot(xs, 1 / (1 + np.exp(-fit["slope"] * (xs - fit["log10_f50"]))), color=col)
    ax.axvline(np.log10(1 / max(1, n_alive)), color="#999999", ls="--", label="1 / alive features")
    ax.set_xlabel("log10 frequency in the SAE's training text (per token)")
    ax.set_ylabel("has a feature")
    ax.legend(fontsize=7)
    return fig
