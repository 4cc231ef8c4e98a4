"""`monoscope sweep` and `monoscope recommend`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()

# The demo: a synthetic store (planted power-law features) and a grid that runs in about a minute on a CPU.
DEMO_STORE = dict(n_tokens=100_352, d=16, n_features=512, mean_active=4.0, alpha=0.8, noise=0.02, seed=0)
DEMO_SWEEP = dict(n_latents=[16, 32, 64, 128, 256], steps=[16, 32, 64, 128, 256], batch_size=128, lr=1e-2, k=4,
                  lr_mults=[0.25, 0.5, 1.0, 2.0, 4.0, 8.0], lr_levels=3, eval_batches=16)


def _fail(e: Exception | str) -> None:
    console.print(f"[red]error:[/red] {e}")
    raise typer.Exit(1)


def _ints(s: str) -> list[int]:
    return [int(float(x)) for x in s.split(",") if x.strip()]


def _floats(s: str) -> list[float]:
    return [float(x) for x in s.split(",") if x.strip()]


def describe_fits(res: dict) -> Table:
    f = res["fits"]
    t = Table(title=f"scaling laws ({res['config']['architecture']}, {len(res['runs'])} runs; loss = "
                    f"{res.get('loss_name', 'loss')}; C = {res['compute_units']})")
    for c in ("fit", "form", "exponent", "R² / rmse", "points"):
        t.add_column(c)

    def row(name, form, p, key="exponent"):
        if p:
            t.add_row(name, form, f"{p[key]:+.3f}", f"{p['r2']:.3f}", str(p["n_points"]))
        else:
            t.add_row(name, form, "–", "–", "0")

    row("frontier loss (Pareto runs)", "L = k·C^γ", f["frontier"]["loss"])
    row("frontier N", "N = a·C^p", f["frontier"]["n_latents"])
    row("frontier S", "S = b·C^q", f["frontier"]["steps"])
    iso = f.get("isoflop") or {}
    row("isoFLOP optimal loss", "L* = k·C^γ", iso.get("loss"))
    row("isoFLOP N*", "N* = a·C^p", iso.get("n_latents"))
    row("isoFLOP S*", "S* = C/N*", iso.get("steps"))
    p = f.get("parametric")
    if p:
        t.add_row("parametric", f"E + A·N^-α + B·S^-β: E={p['E']:.3g} α={p['alpha']:.3f} β={p['beta']:.3f}",
                  f"N*∝C^{p['n_exponent']:.3f}, S*∝C^{p['s_exponent']:.3f}", f"{p['rmse_log']:.3f}",
                  str(p["n_points"]))
    lr = (f.get("lr") or {}).get("fit")
    row("optimal lr", "lr* = c·C^δ", lr)
    return t


def describe_recommendation(rec: dict) -> Table:
    t = Table(title=f"recommendation for a budget of C = {rec['budget']:.4g} latent-steps", show_header=False)
    t.add_row("latents", f"{rec['n_latents']:,}  (fit: {rec['n_latents_exact']:.1f}, from the {rec['source']} fit)")
    t.add_row("steps", f"{rec['steps']:,}  = {rec['tokens']:,} tokens at batch {rec['batch_size']}")
    t.add_row("learning rate", f"{rec['lr']:.3g}  ({rec['lr_source']})")
    if rec.get("predicted_loss") is not None:
        t.add_row("predicted loss", f"{rec['predicted_loss']:.4g}")
    t.add_row("training FLOP", f"{rec['flops']:.3g}")
    if rec["extrapolated"]:
        lo, hi = rec["grid_compute_range"]
        t.add_row("[yellow]note", f"[yellow]extrapolated beyond the sweep's compute range {lo:.3g}–{hi:.3g}")
    return t


def register(app: typer.Typer) -> None:
    @app.command()
    def sweep(
        ctx: typer.Context,
        store: Path = typer.Argument(None, help="activation store (omit with --demo)"),
        config: Path = typer.Option(None, help="YAML (or JSON) file of sweep settings (SweepConfig fields); "
                                               "options given on the command line override it"),
        out: Path = typer.Option(..., help="sweep directory: runs/, sweep.json, plots (re-running resumes)"),
        demo: bool = typer.Option(False, help="make (or reuse) a synthetic demo store in OUT/store and use the "
                                              "demo grid, unless given explicitly"),
        latents: str = typer.Option("", help="comma-separated n_latents grid, e.g. 64,128,256,512"),
        steps: str = typer.Option("", help="comma-separated steps grid, e.g. 500,1000,2000,4000"),
        arch: str = typer.Option("topk", help="topk (loss = MSE) or relu (loss = MSE + λ·L1, the paper's proxy)"),
        k: int = typer.Option(0, help="top-k k (default 8; demo 4)"),
        l1_coeff: float = typer.Option(5.0, help="relu: λ"),
        batch_size: int = typer.Option(0, help="fixed batch size (default 256; demo 128)"),
        lr: float = typer.Option(0.0, help="fixed learning rate of the grid (default 2e-3; demo 1e-2)"),
        lr_mults: str = typer.Option("", help="lr sweep: multiples of --lr (default 0.25,0.5,1,2,4)"),
        lr_levels: int = typer.Option(-1, help="frontier runs at which lr is swept (default 3; 0 = no lr sweep)"),
        eval_batches: int = typer.Option(16, help="evaluation batches (held out at the end of the first epoch)"),
        hook: str = typer.Option("", help="hook point, if the store holds several"),
        seed: int = typer.Option(0),
        device: str = typer.Option("auto", help="auto | cpu | cuda"),
        nproc: int = typer.Option(0, help="run the grid in parallel over this many processes (one per GPU) "
                                          "with torchrun (default: every GPU when there are several, else 1)"),
    ):
        """Scaling-law sweep: an n_latents × steps grid at fixed lr and batch, an lr sweep at frontier
        points, power-law fits (frontier, isoFLOP, parametric, lr), plots and sweep.json."""
        from ..sae.config import SAEError
        from ..store.manifest import StoreError
        from .sweep import SweepConfig, run_sweep

        try:
            from click.core import ParameterSource

            from .sweep import load_sweep_config

            base = {**asdict(SweepConfig()), **DEMO_SWEEP} if demo else asdict(SweepConfig())
            if config is not None:
                base = asdict(load_sweep_config(config, base))
            given = {"n_latents": _ints(latents), "steps": _ints(steps), "k": k, "batch_size": batch_size, "lr": lr,
                     "lr_mults": _floats(lr_mults), "lr_levels": lr_levels if lr_levels >= 0 else None}
            base.update({kk: v for kk, v in given.items() if v})
            if lr_levels == 0:
                base["lr_levels"] = 0
            always = {"architecture": ("arch", arch), "l1_coeff": ("l1_coeff", l1_coeff),
                      "eval_batches": ("eval_batches", eval_batches), "hook": ("hook", hook or None),
                      "seed": ("seed", seed), "device": ("device", device)}
            for field_, (param, value) in always.items():   # a config file wins over these options' defaults
                if config is None or ctx.get_parameter_source(param) != ParameterSource.DEFAULT:
                    base[field_] = value
            cfg = SweepConfig(**base)
            if demo and store is None:
                from .demo import write_synthetic_store

                store = out / "store"
                write_synthetic_store(store, **DEMO_STORE)
                console.print(f"demo store: {store} (synthetic, {DEMO_STORE['n_features']} planted features in "
                              f"d={DEMO_STORE['d']})")
            if store is None:
                _fail("which store? give STORE, or --demo")
            cfg.validate()
            if nproc <= 0:
                import torch

                nproc = torch.cuda.device_count() if torch.cuda.device_count() > 1 and device != "cpu" else 1
            if nproc > 1:
                out.mkdir(parents=True, exist_ok=True)
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                       "-m", "monoscope.scaling.sweep", str(store), "--out", str(out), "--config",
                       json.dumps(asdict(cfg))]
                console.print("launching: " + " ".join(cmd[:8]) + " …")
                rc = subprocess.call(cmd, env=os.environ.copy())
                if rc != 0:
                    _fail(f"torchrun exited with status {rc}")
                from .sweep import load_results

                res = load_results(out)
            else:
                from ..store.reader import ActivationStore

                res = run_sweep(ActivationStore(store), out, cfg)
        except (SAEError, StoreError, ValueError) as e:
            _fail(e)
        console.print(describe_fits(res))
        for p in res.get("plots", []):
            console.print(f"plot: {p}")
        console.print(f"results: {out / 'sweep.json'}   ({res['seconds']:.0f}s)")

    @app.command()
    def recommend(
        budget: float = typer.Option(..., help="compute budget C = latents × steps at the sweep's batch size "
                                               "(or training FLOP with --flops)"),
        results: Path = typer.Option(..., help="sweep directory or its sweep.json"),
        flops: bool = typer.Option(False, help="the budget is in training FLOP"),
        multiple_of: int = typer.Option(1, help="round the number of latents to a multiple of this"),
        verify: bool = typer.Option(False, help="train the recommendation and its neighbours one grid step "
                                                "either side at the same budget, and compare losses"),
        store: Path = typer.Option(None, help="store for --verify (default: the sweep's)"),
        json_out: bool = typer.Option(False, "--json", help="print JSON"),
    ):
        """Given a compute budget, which number of latents, steps and learning rate to train."""
        from ..sae.config import SAEError
        from .sweep import SweepConfig, flops_per_token, load_results, recommend as _rec, verify_recommendation

        try:
            res = load_results(results)
            C = budget
            if flops:
                # FLOP = fpt(N)·B·S and C = N·S; fpt is affine in N, so solve with the fit's N at the budget
                cfg = SweepConfig(**res["config"])
                d = res["store"]["d_model"]
                C = budget / (cfg.batch_size * flops_per_token(cfg, d, 1))   # first guess: per-latent cost
                for _ in range(20):
                    n = _rec(res, C)["n_latents_exact"]
                    C = budget / (cfg.batch_size * flops_per_token(cfg, d, n)) * n
            rec = _rec(res, C, multiple_of=multiple_of)
            out = {"recommendation": rec}
            if verify:
                from ..store.reader import ActivationStore

                st = ActivationStore(store or res["store"]["path"])
                v = verify_recommendation(st, res, C, out=Path(results) if Path(results).is_dir() else None)
                out["verification"] = v
        except (SAEError, ValueError, FileNotFoundError) as e:
            _fail(e)
        if json_out:
            print(json.dumps(out, indent=1, default=float))
            return
        console.print(describe_recommendation(rec))
        if verify:
            t = Table(title="verification at the same budget (sweep's fixed lr)")
            for c in ("run", "latents", "steps", "loss", "fvu"):
                t.add_column(c)
            for r in out["verification"]["runs"]:
                t.add_row(r["label"], str(r["n_latents"]), str(r["steps"]), f"{r['loss']:.4g}", f"{r['fvu']:.3f}")
            console.print(t)
            ok = out["verification"]["beats_neighbours"]
            console.print(("[green]the recommendation beats" if ok else "[yellow]the recommendation does not beat")
                          + " its grid neighbours")
