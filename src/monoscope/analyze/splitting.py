"""Feature splitting across SAE sizes: a concept's feature in a small SAE and the decoder-cosine neighbours it
splits into in wider SAEs trained on the same store (the paper: San Francisco 1 → 2 → 11 features across
its 1M/4M/34M SAEs).

For each concept (`data/concepts.yaml`), its feature in the smallest SAE is found with the tool's own
search (as for steering). In every wider SAE we list the features whose unit decoder direction has cosine
≥ `threshold` with it, and what they fire on. Two controls, measured the same way:
- random unit directions in the residual space (how many features a direction has that close by chance),
- random alive features of the small SAE (how many close neighbours a typical feature has).

SAEs must share the hook point (and width): a pair from different hooks is refused, since their decoder
directions live in different spaces.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .common import AnalysisError, Workbench, fmt_ci, mean_ci, table


@dataclass
class SplittingConfig:
    threshold: float = 0.5       # decoder cosine that counts as "the same direction, split"
    n_show: int = 5              # neighbours listed per wider SAE
    n_controls: int = 200        # random directions and random features
    max_density: float = 0.02
    seed: int = 0


def check_same_site(a, b, names: tuple[str, str] = ("first", "second")) -> None:
    """Refuse two SAEs whose decoders cannot be compared: other hook point, width or model."""
    ca, cb = getattr(a, "cfg", None), getattr(b, "cfg", None)
    ha, hb = getattr(ca, "hook", None), getattr(cb, "hook", None)
    if ha and hb and ha != hb:
        raise AnalysisError(f"the {names[0]} SAE was trained on {ha} and the {names[1]} on {hb}: decoder directions "
                            f"from different hook points cannot be compared; give SAEs of one hook")
    if int(a.W_dec.shape[1]) != int(b.W_dec.shape[1]):
        raise AnalysisError(f"the SAEs have widths {a.W_dec.shape[1]} and {b.W_dec.shape[1]}: they were trained on "
                            f"different models or sites")
    ma, mb = getattr(ca, "model", None), getattr(cb, "model", None)
    if ma and mb and str(ma).split(":")[-1].lower() != str(mb).split(":")[-1].lower():
        raise AnalysisError(f"the SAEs were trained on different models ({ma} and {mb})")


def _unit(W: torch.Tensor) -> torch.Tensor:
    W = W.detach().float().cpu()
    return W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)


def cross_neighbours(sae, other, features: Sequence[int], k: int = 10) -> list[list[tuple[int, float]]]:
    """For each feature of `sae`, its `k` nearest decoder directions in `other` as (feature, cosine)."""
    check_same_site(sae, other)
    D, O = _unit(sae.W_dec)[list(features)], _unit(other.W_dec)
    sims = D @ O.T
    v, i = sims.topk(min(k, O.shape[0]), dim=1)
    return [[(int(a), float(b)) for a, b in zip(ii, vv)] for ii, vv in zip(i.tolist(), v.tolist())]


def _cosines(direction: torch.Tensor, other_unit: torch.Tensor) -> torch.Tensor:
    """Cosine of `direction` with every (unit) decoder row of the other SAE."""
    return other_unit @ (direction / direction.norm().clamp_min(1e-12))


def neighbours_above(direction: torch.Tensor, other_unit: torch.Tensor, threshold: float) -> int:
    return int((_cosines(direction, other_unit) >= threshold).sum())


def best_cos(direction: torch.Tensor, other_unit: torch.Tensor) -> float:
    """The decoder cosine of `direction`'s nearest feature in the other SAE."""
    return float(_cosines(direction, other_unit).max())


def run_splitting(benches: Sequence[Workbench], concepts: Sequence[str] | None = None,
                  cfg: SplittingConfig | None = None, concept_file=None) -> dict:
    """`benches`: workbenches (SAE + feature database) of one hook, any order; the smallest is the parent."""
    from .concepts import load_concepts
    from .steering import SteeringConfig, find_concept_feature

    cfg = cfg or SplittingConfig()
    if len(benches) < 2:
        raise AnalysisError("splitting needs at least two SAEs of different sizes on the same store")
    benches = sorted(benches, key=lambda b: b.n_latents)
    for b in benches[1:]:
        check_same_site(benches[0].sae, b.sae, (f"{benches[0].n_latents}-latent", f"{b.n_latents}-latent"))
    small = benches[0]
    small.need_db("splitting (the small SAE's feature is found by search)")
    cs = load_concepts(concept_file)
    chosen = cs.select(list(concepts) if concepts else None)
    units = [_unit(b.sae.W_dec) for b in benches]
    rng = np.random.default_rng(cfg.seed)
    d = units[0].shape[1]
    rand_dirs = torch.from_numpy(rng.standard_normal((cfg.n_controls, d)).astype(np.float32))
    alive = [r["feature"] for r in small.db.query("SELECT feature FROM features WHERE alive AND density <= ? "
                                                  "ORDER BY feature", [cfg.max_density])]
    rand_feats = [int(x) for x in rng.choice(alive, size=min(cfg.n_controls, len(alive)), replace=False)]
    controls = {}
    for b, U in zip(benches[1:], units[1:]):
        controls[b.n_latents] = {
            "random_direction": mean_ci([neighbours_above(v, U, cfg.threshold) for v in rand_dirs], seed=cfg.seed),
            "random_feature": mean_ci([neighbours_above(units[0][f], U, cfg.threshold) for f in rand_feats],
                                      seed=cfg.seed),
            "random_feature_best_cos": mean_ci([best_cos(units[0][f], U) for f in rand_feats], seed=cfg.seed)}
    per, rows = {}, []
    scfg = SteeringConfig(max_density=cfg.max_density)
    for c in chosen:
        feat = find_concept_feature(small, cs, c, scfg)
        if feat is None:
            per[c.name] = {"feature": None}
            rows.append([c.name, "none found", "", "", "", "", ""])
            continue
        f = feat["feature"]
        parent = units[0][f]
        entry = {"feature": f, "text": small.feature_text([f])[f], "children": {}}
        rows.append([c.name, f"{small.n_latents}: #{f} {entry['text']}", "", "", "", "", ""])
        for b, U in zip(benches[1:], units[1:]):
            sims = U @ parent
            v, i = sims.topk(cfg.n_show)
            kids = [(int(a), float(s)) for a, s in zip(i.tolist(), v.tolist())]
            texts = b.feature_text([k for k, _ in kids])
            n_above = int((sims >= cfg.threshold).sum())
            entry["children"][b.n_latents] = {"n_above": n_above, "best_cos": kids[0][1], "neighbours": [
                {"feature": k, "cos": s, "text": texts.get(k, "")} for k, s in kids]}
            ctl = controls[b.n_latents]
            rows.append([c.name, f"{b.n_latents}: " + "; ".join(f"#{k} ({s:.2f}) {texts.get(k, '')}"
                                                              for k, s in kids[:3]),
                         f"{kids[0][1]:.2f}", fmt_ci(ctl["random_feature_best_cos"], 2),
                         n_above, fmt_ci(ctl["random_feature"], 2), fmt_ci(ctl["random_direction"], 2)])
        per[c.name] = entry
    lines = [f"SAEs of {', '.join(str(b.n_latents) for b in benches)} latents at {small.hook}; for each concept its "
             f"feature in the {small.n_latents}-latent SAE (found by search) and the features of the wider SAEs "
             f"whose decoder cosine with it is ≥ {cfg.threshold:g}; controls: random alive features of the "
             f"small SAE and random directions ({cfg.n_controls} each)."]
    for b in benches[1:]:
        hi = controls[b.n_latents]["random_feature_best_cos"][2]
        closer = [name for name, e in per.items() if e.get("children") and e["children"][b.n_latents]["best_cos"] > hi]
        lines.append(f"{b.n_latents} latents: {len(closer)} of {sum(1 for e in per.values() if e.get('children'))} "
                     f"concept features have a nearest neighbour closer than a random feature's (above its 95% CI, "
                     f"cos {hi:.2f})" + (f": {', '.join(closer)}." if closer else "; none, so no splitting is shown "
                                                                                  "beyond chance."))
    features = {}
    for name, e in per.items():
        if e.get("feature") is not None:
            features[str(e["feature"])] = (f"splitting: '{name}' feature; neighbours " + ", ".join(
                f"{n}: " + " ".join(f"#{x['feature']}" for x in ch["neighbours"][:3])
                for n, ch in e["children"].items()))
    return {"settings": {**asdict(cfg), "saes": [b.sae_info() for b in benches],
                         "concepts": [c.name for c in chosen]},
            "summary": lines,
            "tables": {"feature splitting": table(
                ["concept", "SAE: feature / nearest neighbours (cos)", "best cos",
                 "control: random feature's best cos [95% CI]", f"neighbours with cos ≥ {cfg.threshold:g}",
                 "control: random feature [95% CI]", "control: random direction [95% CI]"], rows)},
            "concepts": per, "controls": controls, "features": features}


def plot_splitting(result: dict):
    from .common import figure

    fig, (ax,) = figure(1, width=6)
    sizes = sorted({int(n) for e in result["concepts"].values() for n in (e.get("children") or {})})
    for name, e in result["concepts"].items():
        if not e.get("children"):
            continue
        ax.plot(sizes, [e["children"][n]["n_above"] if n in e["children"] else e["children"][str(n)]["n_above"]
                        for n in sizes], marker="o", label=name)
    ctl = result["controls"]
    ax.plot(sizes, [(ctl.get(n) or ctl.get(str(n)))["random_feature"][0] for n in sizes], ls="--", color="#999999",
            label="random feature (mean)")
    ax.set_xscale("log")
    ax.set_xlabel("latents in the wider SAE")
    ax.set_ylabel(f"neighbours with cos ≥ {result['settings']['threshold']:g}")
    ax.legend(fontsize=7)
    return fig


def ensure_width(store, out: Path, n_latents: int, k: int = 32, steps: int = 600, batch_size: int = 1024,
                 progress: bool = True, sae_name: str = "sae", db_name: str = "features", lm=None,
                 map_method: str = "none") -> tuple[Path, Path]:
    """An SAE of `n_latents` on `store` (trained unless `out/<sae_name>` holds one) and its feature database
    (`out/<db_name>`); both resume after a crash. Returns (sae dir, database dir)."""
    from ..features import build_feature_db
    from ..sae import SAEConfig, load_sae, train_sae

    out = Path(out)
    sae_dir, db_dir = out / sae_name, out / db_name
    if (sae_dir / "sae.safetensors").exists() and (sae_dir / "cfg.json").exists():
        sae = load_sae(sae_dir)
    else:
        hook = store.hooks[0]
        cfg = SAEConfig(architecture="topk", d_in=store.d_model, n_latents=n_latents, k=k, hook=hook,
                        model=store.manifest.config.model)
        # The seed differs per width: with one seed the init draws the same first rows at every width, so
        # latent i of the small SAE and latent i of the large one start (and stay) alike — a match that
        # splitting would misread as the feature persisting.
        sae = train_sae(store, cfg, sae_dir, resume=True, hook=hook, steps=steps, batch_size=batch_size,
                        progress=progress, seed=n_latents).sae
    if int(sae.W_dec.shape[0]) != n_latents:
        raise AnalysisError(f"{sae_dir} holds an SAE of {sae.W_dec.shape[0]} latents, not {n_latents}; choose "
                            f"another directory")
    if not (db_dir / "manifest.json").exists():
        build_feature_db(sae_dir, store, db_dir, lm=lm, map_method=map_method, progress=progress, write_chunk=2048)
    return sae_dir, db_dir
