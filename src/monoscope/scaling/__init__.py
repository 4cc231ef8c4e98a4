"""Scaling laws for SAEs: sweeps over latents × steps, power-law fits, compute-optimal recommendations.

    monoscope sweep --demo --out sweep/               # synthetic demo store, grid, fits, plots
    monoscope sweep STORE --out sweep/ --latents 1024,2048,4096,8192 --steps 1000,2000,4000,8000
    monoscope recommend --results sweep/ --budget 3e7 [--verify]
"""
from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    'ParametricFit': 'fit',
    'PowerLaw': 'fit',
    'best_lr': 'fit',
    'fit_parametric': 'fit',
    'fit_power_law': 'fit',
    'isoflop_levels': 'fit',
    'pareto_frontier': 'fit',
    'SweepConfig': 'sweep',
    'evaluate': 'sweep',
    'fit_results': 'sweep',
    'flops_per_token': 'sweep',
    'load_results': 'sweep',
    'recommend': 'sweep',
    'run_sweep': 'sweep',
    'verify_recommendation': 'sweep',
})
