"""Scaling laws for SAEs: sweeps over latents × steps, power-law fits, compute-optimal recommendations.

    monoscope sweep --demo --out sweep/               # synthetic demo store, grid, fits, plots
    monoscope sweep STORE --out sweep/ --latents 1024,2048,4096,8192 --steps 1000,2000,4000,8000
    monoscope recommend --results sweep/ --budget 3e7 [--verify]
"""
from .fit import (ParametricFit, PowerLaw, best_lr, fit_parametric, fit_power_law, isoflop_levels,
                  pareto_frontier)
from .sweep import (SweepConfig, evaluate, fit_results, flops_per_token, load_results, recommend, run_sweep,
                    verify_recommendation)

__all__ = ["ParametricFit", "PowerLaw", "SweepConfig", "best_lr", "evaluate", "fit_parametric", "fit_power_law",
           "fit_results", "flops_per_token", "isoflop_levels", "load_results", "pareto_frontier", "recommend",
           "run_sweep", "verify_recommendation"]
