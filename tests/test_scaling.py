"""Scaling-law sweeps: the fits on known laws, and a sweep on a small synthetic demo store whose
recommendation for a held-out budget beats its grid-step neighbours (fast grid here; the CLI demo grid in
the slow test)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from monoscope.scaling.fit import (best_lr, fit_parametric, fit_power_law, isoflop_levels, pareto_frontier)

FAST_STORE = dict(n_tokens=32_768, d=16, n_features=512, mean_active=4.0, alpha=0.8, noise=0.02, seed=0,
                  shard_tokens=8192)
FAST_SWEEP = dict(n_latents=[16, 32, 64, 128], steps=[16, 32, 64, 128], batch_size=128, lr=1e-2, k=4,
                  lr_mults=[0.5, 1.0, 2.0], lr_levels=2, eval_batches=16, device="cpu")


# ---- fits on known laws -------------------------------------------------------------------------------
def test_power_law_fit_recovers_exponent():
    x = np.geomspace(1e2, 1e6, 9)
    f = fit_power_law(x, 3.0 * x ** -0.27)
    assert f.exponent == pytest.approx(-0.27, abs=1e-9) and f.coef == pytest.approx(3.0) and f.r2 == pytest.approx(1)
    assert fit_power_law([1.0], [2.0]) is None


def test_parametric_fit_recovers_the_law_and_its_optimum():
    E, A, al, B, be = 1.5, 40.0, 0.8, 25.0, 0.45
    N, S = np.meshgrid(2.0 ** np.arange(4, 10), 2.0 ** np.arange(4, 10))
    N, S = N.ravel(), S.ravel()
    p = fit_parametric(N, S, E + A * N ** -al + B * S ** -be)
    assert p.alpha == pytest.approx(al, rel=0.02) and p.beta == pytest.approx(be, rel=0.02)
    assert p.n_exponent == pytest.approx(be / (al + be), rel=0.02)
    assert p.n_exponent + p.s_exponent == pytest.approx(1.0)
    # the analytic optimum is the numerical minimum along the iso-compute line
    C = 3e4
    ns = np.geomspace(4, C / 4, 20001)
    assert float(p.optimal_n(C)) == pytest.approx(ns[np.argmin(p.loss(ns, C / ns))], rel=0.01)


def test_isoflop_levels_locate_the_minimum():
    # loss along each iso-compute line is a parabola in log N with its vertex at N* = 0.5·C^0.6
    Ns, Ss, Ls = [], [], []
    for c in (2 ** 12, 2 ** 14, 2 ** 16):
        for n in 2.0 ** np.arange(3, 14):
            if c / n >= 1:
                Ns.append(n), Ss.append(c / n), Ls.append(1 + 0.3 * (math.log(n) - math.log(0.5 * c ** 0.6)) ** 2)
    lv = [v for v in isoflop_levels(Ns, Ss, Ls) if v["interior"]]
    assert len(lv) == 3
    for v in lv:
        assert v["n_star"] == pytest.approx(0.5 * v["compute"] ** 0.6, rel=1e-6)
        assert v["loss_star"] == pytest.approx(1.0, abs=1e-9)
    assert fit_power_law([v["compute"] for v in lv], [v["n_star"] for v in lv]).exponent == pytest.approx(0.6)


def test_best_lr_and_frontier():
    lrs = [1e-3, 2e-3, 4e-3, 8e-3]
    lr, interior = best_lr(lrs, [(math.log(x) - math.log(3e-3)) ** 2 for x in lrs])
    assert interior and lr == pytest.approx(3e-3, rel=1e-6)
    assert best_lr(lrs, [4, 3, 2, 1]) == (8e-3, False)
    assert pareto_frontier([1, 2, 2, 4, 8], [5, 4, 6, 4.5, 3]) == [0, 1, 4]


# ---- a real sweep on a demo store ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def fast_sweep(tmp_path_factory):
    import torch

    from monoscope.scaling.demo import write_synthetic_store
    from monoscope.scaling.sweep import SweepConfig, run_sweep

    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("sweep")
    store = write_synthetic_store(base / "store", **FAST_STORE)
    res = run_sweep(store, base / "out", SweepConfig(**FAST_SWEEP), progress=False)
    return store, base / "out", res


def test_sweep_fits_exponents_and_plots(fast_sweep):
    store, out, res = fast_sweep
    on_disk = json.loads((out / "sweep.json").read_text())
    assert on_disk["fits"] == json.loads(json.dumps(res["fits"]))
    assert len([r for r in res["runs"] if r["kind"] == "grid"]) == 16
    assert len([r for r in res["runs"] if r["kind"] == "lr"]) == 2 * 2
    assert not any(r["eval_overlap"] for r in res["runs"])
    f = res["fits"]
    assert f["frontier"]["loss"]["exponent"] < 0 and f["frontier"]["loss"]["r2"] > 0.9
    iso = f["isoflop"]
    assert f["recommendation_model"] == "isoflop"
    assert 0 < iso["n_latents"]["exponent"] < 1 and 0 < iso["steps"]["exponent"] < 1
    assert iso["n_latents"]["exponent"] + iso["steps"]["exponent"] == pytest.approx(1.0)
    assert iso["loss"]["exponent"] < 0
    assert len(f["lr"]["levels"]) == 2 and f["lr"]["fit"] is not None
    for name in ("frontier.png", "isoflop.png", "optimal.png", "lr.png"):
        png = out / name
        assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_resumes_without_retraining(fast_sweep):
    from monoscope.scaling.sweep import SweepConfig, run_sweep

    store, out, res = fast_sweep
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    again = run_sweep(store, out, SweepConfig(**FAST_SWEEP), progress=False, plots=False)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()} == before
    assert again["fits"]["isoflop"] == res["fits"]["isoflop"]


def test_recommendation_for_held_out_budget_beats_grid_neighbours(fast_sweep):
    from monoscope.scaling.sweep import verify_recommendation

    store, out, res = fast_sweep
    budget = 2900.0                                   # between the grid's compute levels 2048 and 4096
    assert budget not in {r["compute"] for r in res["runs"]}
    v = verify_recommendation(store, res, budget, out=out)
    rec = v["recommendation"]
    assert rec["source"] == "isoflop" and not rec["extrapolated"]
    assert rec["n_latents"] * rec["steps"] == pytest.approx(budget, rel=0.02)
    labels = [r["label"] for r in v["runs"]]
    assert labels == ["recommended", "grid step smaller", "grid step larger"]
    assert v["beats_neighbours"], v["runs"]
    assert (out / f"verify_{budget:.4g}.json").exists()


def test_recommend_cli(fast_sweep):
    import typer
    from typer.testing import CliRunner

    from monoscope.scaling.cli import register

    app = typer.Typer()
    register(app)
    store, out, res = fast_sweep
    r = CliRunner().invoke(app, ["recommend", "--budget", "3000", "--results", str(out), "--json"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output)["recommendation"]
    lr_fit = res["fits"]["lr"]["fit"]
    assert rec["lr"] == pytest.approx(lr_fit["coef"] * 3000 ** lr_fit["exponent"])
    r = CliRunner().invoke(app, ["recommend", "--budget", str(rec["flops"]), "--flops", "--results", str(out),
                                 "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["recommendation"]["n_latents"] == pytest.approx(rec["n_latents"], abs=1)
    r = CliRunner().invoke(app, ["recommend", "--budget", "1e3", "--results", str(out / "nope")])
    assert r.exit_code == 1 and "monoscope sweep" in r.output


@pytest.mark.slow
def test_demo_sweep_one_command_and_held_out_budgets(tmp_path):
    """`monoscope sweep --demo` (the full demo grid + lr sweep) and `recommend --verify` at held-out budgets
    inside and beyond the grid's compute range."""
    import typer
    from typer.testing import CliRunner

    from monoscope.scaling.cli import register

    app = typer.Typer()
    register(app)
    out = tmp_path / "demo"
    r = CliRunner().invoke(app, ["sweep", "--demo", "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "sweep.json").read_text())
    assert len(res["fits"]["lr"]["levels"]) == 3 and res["fits"]["isoflop"]["n_latents"]["r2"] > 0.9
    assert all((out / p).exists() for p in ("frontier.png", "isoflop.png", "optimal.png", "lr.png"))
    for budget in (6000, 11585, 23000):
        r = CliRunner().invoke(app, ["recommend", "--budget", str(budget), "--results", str(out), "--verify",
                                     "--json"])
        assert r.exit_code == 0, r.output
        v = json.loads(r.output)["verification"]
        assert v["beats_neighbours"], v["runs"]
