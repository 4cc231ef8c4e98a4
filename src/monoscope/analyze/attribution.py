"""Attribution as the paper did it: per-feature attribution vs true ablation vs raw activation, over many
prompts (`data/attribution_prompts.yaml`: sentiment completions, two-hop and one-hop facts).

Per prompt, the metric is logit(good) − logit(bad) at the last token. Attribution of feature i is
Σ_t f_i,t (∇ₓ metric · d_i) from one backward pass; ablation zeroes the feature on every position with the
SAE error term kept. The features ablated are chosen *balanced* (a third by |attribution|, a third by
activation, the rest at random among the active ones), so neither score is favoured by the choice. The
paper's numbers: corr(attribution, ablation effect) ≈ 0.81, corr(activation, ablation effect) ≈ 0.12.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from tqdm.auto import tqdm

from .common import AnalysisError, Workbench, fmt_ci, mean_ci, table


@dataclass
class AttributionConfig:
    n_ablate: int = 48          # features ablated per prompt (balanced selection)
    n_show: int = 8             # top features (by |attribution|) listed per example prompt
    batch_size: int = 16
    seed: int = 0


def load_prompts(path: str | Path | None = None) -> list[dict]:
    text = (Path(path).read_text() if path is not None else
            resources.files("monoscope.analyze").joinpath("data", "attribution_prompts.yaml").read_text())
    rows = (yaml.safe_load(text) or {}).get("prompts") or []
    for r in rows:
        if not all(isinstance(r.get(k), str) and r.get(k) for k in ("prompt", "good", "bad")):
            raise AnalysisError(f"an attribution prompt needs 'prompt', 'good' and 'bad' strings, got {r!r}")
    if not rows:
        raise AnalysisError("no attribution prompts (expected a 'prompts:' list)")
    return rows


def measure_prompt(wb: Workbench, prompt: str, good: str, bad: str, cfg: AttributionConfig) -> dict:
    """Attribution, ablation and activation of a balanced set of active features on one prompt."""
    from ..steer import attribute, logit_diff

    tok = wb.lm.tokenizer
    for t in (good, bad):
        if not tok(t, add_special_tokens=False).input_ids:
            raise AnalysisError(f"{t!r} is empty after tokenisation; give a token, e.g. ' Paris'")
    ids = tok(prompt, return_tensors="pt").input_ids
    res = attribute(wb.steerer, ids, logit_diff(tok, good, bad), top=cfg.n_ablate, batch_size=cfg.batch_size,
                    selection="balanced", seed=cfg.seed, sink_norm=wb.search.sink_norm(10.0))
    corr = res.correlations()
    effect = -res.ablation
    rank_act = {int(f): r for r, f in enumerate(res.features[np.argsort(-res.activation, kind="stable")])}
    return {"prompt": prompt, "good": good, "bad": bad, "metric": res.metric_clean, "n_active": res.n_active,
            "features": res.features.tolist(), "attribution": res.attribution.tolist(),
            "activation": res.activation.tolist(), "ablation_effect": effect.tolist(),
            "corr_attribution": corr.get("attribution"), "corr_activation": corr.get("activation"),
            "top": [{"feature": int(f), "attribution": float(a), "ablation_effect": float(e),
                     "activation": float(x), "activation_rank": rank_act[int(f)] + 1}
                    for f, a, e, x in list(zip(res.features, res.attribution, effect, res.activation))[:cfg.n_show]]}


def run_attribution(wb: Workbench, cfg: AttributionConfig | None = None, prompts_file=None,
                    limit: int | None = None, progress: bool = True) -> dict:
    """Correlations of attribution and of activation with the true ablation effect over every prompt."""
    cfg = cfg or AttributionConfig()
    rows = load_prompts(prompts_file)[:limit]
    per = [measure_prompt(wb, r["prompt"], r["good"], r["bad"], cfg) | {"kind": r.get("kind", "")}
           for r in tqdm(rows, desc="attribution", disable=not progress)]
    texts = wb.feature_text({t["feature"] for p in per for t in p["top"]})
    for p in per:
        for t in p["top"]:
            t["text"] = texts.get(t["feature"], "")
    kinds = sorted({p["kind"] for p in per})
    out_rows = []
    summary = {}
    for kind in kinds + ["all"]:
        sel = [p for p in per if kind == "all" or p["kind"] == kind]
        ca = mean_ci([p["corr_attribution"] for p in sel], seed=cfg.seed)
        cx = mean_ci([p["corr_activation"] for p in sel], seed=cfg.seed)
        eff = np.concatenate([p["ablation_effect"] for p in sel])
        pooled = {k: float(np.corrcoef(np.concatenate([p[k] for p in sel]), eff)[0, 1])
                  for k in ("attribution", "activation")}
        summary[kind] = {"n_prompts": len(sel), "corr_attribution": ca, "corr_activation": cx, "pooled": pooled}
        out_rows.append([kind, len(sel), fmt_ci(ca, 2), fmt_ci(cx, 2), f"{pooled['attribution']:.2f}",
                         f"{pooled['activation']:.2f}"])
    ex_rows = []
    for p in per:
        if p["prompt"].startswith("Fact: The capital of the state where Kobe") or p is per[0]:
            for t in p["top"]:
                ex_rows.append([p["prompt"][:28] + "…", t["feature"], t["text"], f"{t['attribution']:.3f}",
                                f"{t['ablation_effect']:.3f}", f"{t['activation']:.2f}", t["activation_rank"]])
    a = summary["all"]
    lines = [f"{a['n_prompts']} prompts; per prompt {cfg.n_ablate} active features ablated (balanced: by "
             f"|attribution|, by activation, at random). Mean per-prompt Pearson correlation with the true ablation "
             f"effect: attribution {fmt_ci(a['corr_attribution'], 2)}, raw activation "
             f"{fmt_ci(a['corr_activation'], 2)} (paper: 0.81 and 0.12)."]
    return {"settings": {**asdict(cfg), "n_prompts": len(per)}, "summary": lines,
            "tables": {"correlation with the ablation effect": table(
                ["prompts", "n", "attribution [95% CI]", "activation [95% CI]", "pooled attribution",
                 "pooled activation"], out_rows),
                "top features by attribution (examples)": table(
                ["prompt", "feature", "feature text", "attribution", "ablation effect", "activation",
                 "activation rank"], ex_rows)},
            "by_kind": summary, "prompts": per,
            "features": {str(t["feature"]): f"top attribution on “{p['prompt'][:40]}…”"
                         for p in per for t in p["top"][:3]}}


def plot_attribution(result: dict):
    from .common import figure

    fig, (ax1, ax2) = figure(2)
    att = np.concatenate([p["attribution"] for p in result["prompts"]])
    act = np.concatenate([p["activation"] for p in result["prompts"]])
    eff = np.concatenate([p["ablation_effect"] for p in result["prompts"]])
    pooled = result["by_kind"]["all"]["pooled"]
    ax1.scatter(att, eff, s=5, alpha=0.5, color="#e4572e")
    ax1.set_xlabel("attribution")
    ax1.set_ylabel("ablation effect (clean − ablated)")
    ax1.set_title(f"attribution (pooled r = {pooled['attribution']:.2f})", fontsize=10)
    ax2.scatter(act, eff, s=5, alpha=0.5, color="#4c72b0")
    ax2.set_xlabel("summed activation")
    ax2.set_title(f"raw activation (pooled r = {pooled['activation']:.2f})", fontsize=10)
    return fig
