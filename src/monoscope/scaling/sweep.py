"""Scaling-law sweeps: an N × S grid at fixed lr and batch from one store, fits, plots, recommendations.

    res = run_sweep(ActivationStore("store/"), "sweep/", SweepConfig(n_latents=[...], steps=[...]))
    rec = recommend(res, budget=2e6)          # latents × steps at the sweep's batch size

Every run trains a fresh SAE with `monoscope.sae.Trainer` (each run has its own schedule: λ warm-up over
its first 5%, lr decay over its last 20%, as the paper's runs do), then scores it on a fixed evaluation
sample of the store. Quality proxy, by architecture:

* relu: the paper's training loss MSE + λ·Σ_i f_i‖d_i‖ at the final λ (5 by default), MSE in the
  normalised space (E‖x‖² = d);
* topk: MSE in the normalised space (the sparsity is fixed by k, so there is no penalty term); FVU is
  MSE divided by a constant of the evaluation sample, so its exponents are the same.

The evaluation sample is the last `eval_batches` batches of the store's first shuffled epoch; runs whose
training reaches into them are flagged (`eval_overlap`) — make the store larger than the longest run.

Runs are written one JSON file each under `<out>/runs/`, so an interrupted sweep resumes where it
stopped. Under torchrun (W processes, one per device), rank r runs the runs i ≡ r (mod W) on its own
device and rank 0 fits and plots: `torchrun --nproc-per-node 8 -m monoscope.scaling.sweep ...`.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .. import comm
from ..sae.config import SAEConfig, SAEError
from ..fileio import atomic_write_text
from ..sae.trainer import TrainConfig, Trainer
from .fit import (ParametricFit, PowerLaw, best_lr, fit_parametric, fit_power_law, isoflop_levels,
                  pareto_frontier)

FORMAT = "monoscope-sweep"
RESULTS = "sweep.json"


@dataclass
class SweepConfig:
    n_latents: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    steps: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    architecture: str = "topk"
    k: int = 8                               # topk
    l1_coeff: float = 5.0                    # relu: the paper's λ
    batch_size: int = 256
    lr: float = 2e-3                         # fixed for the grid
    lr_mults: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0, 2.0, 4.0])
    lr_levels: int = 3                       # compute levels (frontier runs) at which lr is swept; 0: none
    eval_batches: int = 16
    seed: int = 0
    dead_tokens: int = 10_000_000
    hook: str | None = None
    device: str = "auto"

    def validate(self) -> None:
        if not self.n_latents or not self.steps:
            raise SAEError("a sweep needs at least one n_latents and one steps value")
        if len(set(self.n_latents)) * len(set(self.steps)) < 4:
            raise SAEError("fitting scaling laws needs a grid of at least 2 × 2 (n_latents × steps)")
        if self.architecture not in ("topk", "relu"):
            raise SAEError(f"sweeps support topk and relu SAEs, not {self.architecture!r}")
        if self.architecture == "topk" and self.k > min(self.n_latents):
            raise SAEError(f"k={self.k} exceeds the smallest n_latents={min(self.n_latents)}")


def load_sweep_config(source: str | Path, base: dict | None = None) -> SweepConfig:
    """A SweepConfig from a YAML (or JSON: YAML reads it too) file or string, over `base` (default: the
    defaults). Unknown keys are an error that lists the valid ones, so a typo is not silently ignored:

        n_latents: [256, 512, 1024, 2048]
        steps: [500, 1000, 2000, 4000]
        architecture: topk
        k: 16
        lr: 0.002
    """
    import yaml

    text = Path(source).read_text() if Path(str(source)).is_file() else str(source)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SAEError(f"the sweep config is not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SAEError(f"a sweep config is a mapping of SweepConfig fields, got {type(data).__name__}")
    names = {f.name for f in fields(SweepConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        import difflib

        near = difflib.get_close_matches(unknown[0], sorted(names), n=1)
        raise SAEError(f"unknown sweep config key {unknown[0]!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                       + f"; valid keys: {', '.join(sorted(names))}")
    return SweepConfig(**{**(base if base is not None else asdict(SweepConfig())), **data})


def loss_name(cfg: SweepConfig) -> str:
    return f"MSE + {cfg.l1_coeff:g}·L1" if cfg.architecture == "relu" else "MSE (normalised)"


def loss_definition(cfg: SweepConfig) -> str:
    if cfg.architecture == "relu":
        return f"MSE + {cfg.l1_coeff:g}·Σ f_i‖d_i‖ (normalised space, final λ), on the evaluation sample"
    return "MSE (normalised space, E‖x‖² = d), on the evaluation sample"


def flops_per_token(cfg: SweepConfig, d: int, n: int) -> float:
    """Training FLOP per token: dense ReLU ≈ 10·d·n (encoder and decoder, forward and backward); sparse
    top-k ≈ 2·d·n (dense encoder forward) + 8·d·k (sparse decode, its gradients, sparse encoder grad)."""
    return 10.0 * d * n if cfg.architecture == "relu" else 2.0 * d * n + 8.0 * d * cfg.k


def run_id(n: int, s: int, lr: float) -> str:
    return f"N{n}_S{s}_lr{lr:.4g}"


# ---- one run ------------------------------------------------------------------------------------------
def _eval_batches(store, cfg: SweepConfig, hook: str) -> tuple[list[torch.Tensor], int]:
    from ..sae.data import DataSource

    src = DataSource(store, cfg.batch_size, hook=hook, seed=cfg.seed)
    bpe = src.batches_per_epoch
    n = min(cfg.eval_batches, bpe)
    start = bpe - n
    it = src.iterate(start)
    return [next(it) for _ in range(n)], start


@torch.no_grad()
def evaluate(sae, batches: Sequence[torch.Tensor], cfg: SweepConfig, device) -> dict[str, float]:
    loss = mse = l0 = err = 0.0
    rows = 0
    s1 = s2 = None
    sae.eval()
    kw = {"l1_coeff": cfg.l1_coeff} if cfg.architecture == "relu" else {}
    for x in batches:
        x = x.to(device)
        out = sae(x, normalized=True, **kw)
        b = x.shape[0]
        loss += float(out.loss) * b
        mse += float(out.mse) * b
        l0 += float(out.l0) * b
        err += float(out.mse) * b
        rows += b
        s1 = x.double().sum(0) if s1 is None else s1 + x.double().sum(0)
        s2 = float(x.double().pow(2).sum()) if s2 is None else s2 + float(x.double().pow(2).sum())
    tot = s2 - float((s1 * s1).sum()) / rows
    return {"loss": loss / rows, "mse": mse / rows, "l0": l0 / rows, "fvu": err / max(tot, 1e-12)}


def train_one(store, cfg: SweepConfig, n: int, s: int, lr: float, hook: str, device,
              eval_set: list[torch.Tensor]) -> dict[str, Any]:
    scfg = SAEConfig(cfg.architecture, d_in=store.d_model, n_latents=n,
                     k=cfg.k if cfg.architecture == "topk" else None, l1_coeff=cfg.l1_coeff, hook=hook)
    tcfg = TrainConfig(steps=s, batch_size=cfg.batch_size, lr=lr, seed=cfg.seed, progress=False,
                       checkpoint_every=0, log_every=max(1, s // 8), dead_tokens=cfg.dead_tokens,
                       device=str(device))
    t0 = time.perf_counter()
    tr = Trainer(store, scfg, tcfg, hook=hook)
    res = tr.run()
    secs = time.perf_counter() - t0
    ev = evaluate(tr.sae, eval_set, cfg, tr.device)
    return {"n_latents": n, "steps": s, "lr": lr, "compute": float(n) * s, "tokens": s * cfg.batch_size,
            **ev, "train_loss": res.metrics.get("loss"), "dead_frac": res.metrics.get("dead_frac"),
            "seconds": secs, "device": str(tr.device)}


# ---- the sweep ----------------------------------------------------------------------------------------
def _run_many(store, cfg: SweepConfig, todo: list[tuple[int, int, float, str]], out: Path, hook: str,
              eval_set, eval_start: int, progress: bool) -> None:
    env = comm.current()
    device = comm.pick_device(cfg.device, env.local_rank)
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    mine = [t for i, t in enumerate(todo) if i % env.world == env.rank]
    for j, (n, s, lr, kind) in enumerate(mine):
        path = runs / f"{run_id(n, s, lr)}.json"
        if path.exists():
            continue
        rec = train_one(store, cfg, n, s, lr, hook, device, eval_set)
        rec["kind"] = kind
        rec["eval_overlap"] = s > eval_start
        atomic_write_text(path, json.dumps(rec))
        if progress and env.is_main:
            print(f"[sweep {j + 1}/{len(mine)}] N={n} S={s} lr={lr:.3g}: loss {rec['loss']:.4g} "
                  f"(fvu {rec['fvu']:.3f}, L0 {rec['l0']:.1f}) in {rec['seconds']:.1f}s", flush=True)
    comm.barrier()


def _load_runs(out: Path) -> list[dict]:
    recs = []
    for p in sorted((out / "runs").glob("*.json")):
        try:
            recs.append(json.loads(p.read_text()))
        except json.JSONDecodeError:
            continue
    return recs


def fit_results(runs: list[dict], cfg: SweepConfig) -> dict[str, Any]:
    grid = [r for r in runs if r["lr"] == cfg.lr and r["n_latents"] in cfg.n_latents and r["steps"] in cfg.steps]
    C = [r["compute"] for r in grid]
    L = [r["loss"] for r in grid]
    front = pareto_frontier(C, L)
    fpts = [grid[i] for i in front]
    fits: dict[str, Any] = {"frontier": {
        "runs": [run_id(r["n_latents"], r["steps"], r["lr"]) for r in fpts],
        "loss": _d(fit_power_law([r["compute"] for r in fpts], [r["loss"] for r in fpts])),
        "n_latents": _d(fit_power_law([r["compute"] for r in fpts], [r["n_latents"] for r in fpts])),
        "steps": _d(fit_power_law([r["compute"] for r in fpts], [r["steps"] for r in fpts])),
    }}
    levels = isoflop_levels([r["n_latents"] for r in grid], [r["steps"] for r in grid], L)
    inner = [v for v in levels if v["interior"]]
    fits["isoflop"] = {
        "levels": levels,
        "n_latents": _d(fit_power_law([v["compute"] for v in inner], [v["n_star"] for v in inner])),
        "steps": _d(fit_power_law([v["compute"] for v in inner], [v["s_star"] for v in inner])),
        "loss": _d(fit_power_law([v["compute"] for v in inner], [v["loss_star"] for v in inner])),
    }
    par = fit_parametric([r["n_latents"] for r in grid], [r["steps"] for r in grid], L)
    fits["parametric"] = par.to_dict() if par else None
    if par is not None:
        cs = np.geomspace(min(C), max(C), 32)
        fits["parametric"]["frontier_loss"] = _d(fit_power_law(cs, par.optimal_loss(cs)))
    # optimal lr per compute level, from the lr sweep
    levels = []
    by_cfg: dict[tuple[int, int], list[dict]] = {}
    for r in runs:
        by_cfg.setdefault((r["n_latents"], r["steps"]), []).append(r)
    for (n, s), rs in sorted(by_cfg.items(), key=lambda kv: kv[0][0] * kv[0][1]):
        lrs = sorted({r["lr"] for r in rs})
        if len(lrs) < 3:
            continue
        lr_star, interior = best_lr([r["lr"] for r in rs], [r["loss"] for r in rs])
        levels.append({"n_latents": n, "steps": s, "compute": float(n) * s, "lr_star": lr_star,
                       "interior": interior, "lrs": lrs, "losses": [min(x["loss"] for x in rs if x["lr"] == lr)
                                                                   for lr in lrs]})
    fits["recommendation_model"] = ("isoflop" if fits["isoflop"]["n_latents"] else
                                    "parametric" if fits["parametric"] else
                                    "frontier" if fits["frontier"]["n_latents"] else None)
    # levels whose best lr is at the edge of the swept range only bound lr*; fit without them if we can
    used = [v for v in levels if v["interior"]]
    if len(used) < 2:
        used = levels
    fits["lr"] = {"levels": levels, "fit_on": [v["compute"] for v in used],
                  "fit": _d(fit_power_law([v["compute"] for v in used], [v["lr_star"] for v in used]))}
    return fits


def _d(p: PowerLaw | None):
    return p.to_dict() if p is not None else None


def run_sweep(store, out: str | Path, cfg: SweepConfig | None = None, plots: bool = True,
              progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the grid and the lr sweep, fit, plot, and write `<out>/sweep.json` (rank 0)."""
    cfg = cfg or SweepConfig()
    cfg.validate()
    out = Path(out)
    hook = cfg.hook or (store.hooks[0] if len(store.hooks) == 1 else None)
    if hook is None:
        raise SAEError(f"the store holds several hooks ({', '.join(store.hooks)}); say which (hook=...)")
    eval_set, eval_start = _eval_batches(store, cfg, hook)
    if max(cfg.steps) > eval_start and comm.current().is_main:
        print(f"note: runs longer than {eval_start} steps read the evaluation rows; use a larger store for a "
              f"held-out evaluation", flush=True)
    t0 = time.perf_counter()
    grid = [(n, s, cfg.lr, "grid") for n in sorted(set(cfg.n_latents)) for s in sorted(set(cfg.steps))]
    # longest runs first, so parallel ranks finish together
    grid.sort(key=lambda t: -t[0] * t[1])
    _run_many(store, cfg, grid, out, hook, eval_set, eval_start, progress)
    if cfg.lr_levels > 0 and len(cfg.lr_mults) >= 3:
        fits = fit_results(_load_runs(out), cfg)
        lr_cfgs = pick_lr_configs(fits, _load_runs(out), cfg)
        todo = [(n, s, cfg.lr * m, "lr") for n, s in lr_cfgs for m in cfg.lr_mults if m != 1.0]
        _run_many(store, cfg, todo, out, hook, eval_set, eval_start, progress)
    runs = _load_runs(out)
    results = {"format": FORMAT, "format_version": 1, "config": asdict(cfg),
               "loss_name": loss_name(cfg), "loss_definition": loss_definition(cfg), "compute_units": f"latents × steps at batch {cfg.batch_size}",
               "store": {"path": str(getattr(store, "path", "")), "hook": hook, "d_model": store.d_model,
                         "rows": store.n_rows() if hasattr(store, "n_rows") else None},
               "eval": {"batches": len(eval_set), "first_batch": eval_start},
               "runs": sorted(runs, key=lambda r: (r["n_latents"], r["steps"], r["lr"])),
               "fits": fit_results(runs, cfg), "seconds": time.perf_counter() - t0}
    if comm.current().is_main:
        if plots:
            from .plots import plot_sweep

            results["plots"] = [str(p) for p in plot_sweep(results, out)]
        atomic_write_text(out / RESULTS, json.dumps(results, indent=1))
    comm.barrier()
    return results


def pick_lr_configs(fits: dict, runs: list[dict], cfg: SweepConfig) -> list[tuple[int, int]]:
    """`lr_levels` frontier runs spread over the compute range (lowest, highest, and between)."""
    ids = fits["frontier"]["runs"]
    byid = {run_id(r["n_latents"], r["steps"], r["lr"]): r for r in runs}
    front = [byid[i] for i in ids if i in byid]
    if not front:
        return []
    k = min(cfg.lr_levels, len(front))
    idx = sorted({int(round(x)) for x in np.linspace(0, len(front) - 1, k)})
    return [(front[i]["n_latents"], front[i]["steps"]) for i in idx]


def load_results(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS
    try:
        res = json.loads(path.read_text())
    except FileNotFoundError:
        raise SAEError(f"{path} does not exist: run `monoscope sweep` first") from None
    if res.get("format") != FORMAT:
        raise SAEError(f"{path} is not a sweep result ({FORMAT})")
    return res


# ---- recommendations --------------------------------------------------------------------------------
def recommend(results: dict, budget: float, multiple_of: int = 1) -> dict[str, Any]:
    """Latents, steps and lr for a compute budget C (latents × steps at the sweep's batch size)."""
    if not budget > 0:
        raise SAEError(f"the budget must be positive, got {budget}")
    cfg = SweepConfig(**results["config"])
    fits = results["fits"]
    par = fits.get("parametric")
    p = ParametricFit(**{k: par[k] for k in ("E", "A", "alpha", "B", "beta", "rmse_log", "n_points")}) \
        if par else None
    source = fits.get("recommendation_model")
    if source == "isoflop":
        n_opt = float(PowerLaw(**fits["isoflop"]["n_latents"])(budget))
    elif source == "parametric":
        n_opt = float(p.optimal_n(budget))
    elif source == "frontier":
        n_opt = float(PowerLaw(**fits["frontier"]["n_latents"])(budget))
    else:
        raise SAEError("the sweep has no usable fit (too few runs, or no run beat its neighbours)")
    predicted = None
    n = max(multiple_of, int(round(n_opt / multiple_of)) * multiple_of)
    if cfg.architecture == "topk":
        n = max(n, cfg.k)
    s = max(1, int(round(budget / n)))
    lr_fit = fits.get("lr", {}).get("fit")
    lr = float(PowerLaw(**lr_fit)(budget)) if lr_fit else cfg.lr
    lo, hi = min(r["compute"] for r in results["runs"]), max(r["compute"] for r in results["runs"])
    d = results["store"]["d_model"]
    if source == "isoflop" and fits["isoflop"]["loss"]:
        predicted = float(PowerLaw(**fits["isoflop"]["loss"])(budget))
    elif p is not None:
        predicted = float(p.loss(n, s))
    return {"budget": float(budget), "n_latents": n, "steps": s, "lr": lr, "lr_source": "fit" if lr_fit else "sweep lr",
            "batch_size": cfg.batch_size, "tokens": s * cfg.batch_size, "n_latents_exact": n_opt,
            "predicted_loss": predicted, "source": source,
            "flops": flops_per_token(cfg, d, n) * s * cfg.batch_size,
            "extrapolated": not (lo <= budget <= hi), "grid_compute_range": [lo, hi]}


def verify_recommendation(store, results: dict, budget: float, out: str | Path | None = None,
                          progress: bool = False) -> dict[str, Any]:
    """Train the recommended size for `budget` and its neighbours one grid step either side on the same
    iso-compute line (n_latents ÷ and × the grid's spacing ρ, steps = budget / n_latents), all at the
    sweep's fixed lr, and compare their losses."""
    cfg = SweepConfig(**results["config"])
    rec = recommend(results, budget)
    Ns = sorted(set(cfg.n_latents))
    rho = float(np.exp(np.mean(np.diff(np.log(Ns))))) if len(Ns) > 1 else 2.0
    n0 = rec["n_latents"]
    cands = [("recommended", n0), ("grid step smaller", max(1, int(round(n0 / rho)))),
             ("grid step larger", int(round(n0 * rho)))]
    if cfg.architecture == "topk":
        cands = [(label, n) for label, n in cands if n >= cfg.k]
    hook = results["store"]["hook"]
    eval_set, _ = _eval_batches(store, cfg, hook)
    device = comm.pick_device(cfg.device)
    rows = []
    for label, n in cands:
        s = max(1, int(round(budget / n)))
        r = train_one(store, cfg, n, s, cfg.lr, hook, device, eval_set)
        r["label"] = label
        rows.append(r)
        if progress:
            print(f"{label}: N={n} S={s} loss {r['loss']:.4g}", flush=True)
    best_nb = min((r["loss"] for r in rows[1:]), default=math.inf)
    res = {"budget": budget, "recommendation": rec, "grid_spacing": rho, "runs": rows, "recommended_loss": rows[0]["loss"],
           "best_neighbour_loss": best_nb, "beats_neighbours": rows[0]["loss"] <= best_nb}
    if out is not None:
        atomic_write_text(Path(out) / f"verify_{budget:.4g}.json", json.dumps(res, indent=1))
    return res


def main(argv: list[str] | None = None) -> None:
    """`torchrun --nproc-per-node N -m monoscope.scaling.sweep STORE --out DIR ...` (one device per rank)."""
    import argparse

    from ..store.reader import ActivationStore

    ap = argparse.ArgumentParser(prog="python -m monoscope.scaling.sweep")
    ap.add_argument("store")
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", required=True, help="SweepConfig fields: a YAML/JSON file, or JSON text")
    a = ap.parse_args(argv)
    cfg = load_sweep_config(a.config)
    comm.init_from_env(cfg.device)
    try:
        run_sweep(ActivationStore(a.store), a.out, cfg)
    finally:
        comm.shutdown()


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["SweepConfig", "evaluate", "load_sweep_config", "fit_results", "flops_per_token", "load_results", "loss_definition",
           "loss_name", "recommend", "run_sweep", "train_one", "verify_recommendation"]
