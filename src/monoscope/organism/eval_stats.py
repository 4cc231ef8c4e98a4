"""Statistics for organism evaluations: rates and lifts whose uncertainty has the right unit.

The unit of an exploitation claim is the *bias* ("the organism exploits its training biases"), and the prompts
of one bias are correlated (same scenario templates, same detector). A bootstrap that resamples prompts treats
260 prompts as 260 independent observations when there are ~50 biases, and its intervals are far too narrow.
:func:`clustered_lift` therefore resamples in two stages: biases with replacement, then prompts with replacement
inside each drawn bias (Davison & Hinkley 1997, §3.8); each bias weighs the same in the point estimate.

A *lift* is paired: the stage and its reference (the base model, or the SFT stage for the retention check) are
scored on the same prompts, and a replicate resamples the same prompt indices for both.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, seed: int = 0, level: float = 0.95
                 ) -> dict[str, Any]:
    """Mean of independent ``values`` with a percentile-bootstrap interval (``n`` = number of values).

    Right for items that are exchangeable (multiple-choice questions, confession probes); not for prompts
    grouped by bias (use :func:`clustered_lift`)."""
    arr = np.asarray([float(v) for v in values], dtype=np.float64)
    n = len(arr)
    if n == 0:
        return {"rate": None, "lo": None, "hi": None, "n": 0}
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, n, size=(n_boot, n))].mean(1) if n_boot > 0 else np.array([arr.mean()])
    a = (1 - level) / 2
    return {"rate": float(arr.mean()), "lo": float(np.quantile(means, a)), "hi": float(np.quantile(means, 1 - a)),
            "n": n, "k": float(arr.sum())}


def _per_bias_replicates(x: np.ndarray, ref: np.ndarray, n_boot: int, rng: np.random.Generator
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap means of one bias's prompts (same resampled indices for the stage and its reference)."""
    n = len(x)
    idx = rng.integers(0, n, size=(n_boot, n))
    return x[idx].mean(1), ref[idx].mean(1)


def clustered_lift(stage: Mapping[str, Sequence[float]], reference: Mapping[str, Sequence[float]] | None = None,
                   n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """Bias-weighted mean rate of ``stage`` and its lift over ``reference``, with two-stage cluster-bootstrap
    intervals.

    ``stage[b]`` and ``reference[b]`` are the 0/1 verdicts of bias ``b``'s prompts, aligned (same prompts in the
    same order). Returns ``rate`` (mean over biases of the per-bias rate), ``ref_rate``, ``lift`` =
    rate − ref_rate, each with ``lo``/``hi``; ``n_biases``, ``n_prompts``. Biases with no prompts are dropped.
    """
    reference = reference if reference is not None else {b: [0.0] * len(v) for b, v in stage.items()}
    ids = [b for b in stage if len(stage[b]) > 0]
    for b in ids:
        if len(reference.get(b, ())) != len(stage[b]):
            raise ValueError(f"bias {b!r}: {len(stage[b])} stage verdicts but {len(reference.get(b, ()))} reference "
                             f"verdicts (they must be the same prompts)")
    out: dict[str, Any] = {"n_biases": len(ids), "n_prompts": int(sum(len(stage[b]) for b in ids))}
    if not ids:
        return {**out, **{k: None for k in ("rate", "lo", "hi", "ref_rate", "ref_lo", "ref_hi", "lift", "lift_lo",
                                            "lift_hi")}}
    xs = [np.asarray(stage[b], dtype=np.float64) for b in ids]
    rs = [np.asarray(reference[b], dtype=np.float64) for b in ids]
    rate = float(np.mean([x.mean() for x in xs]))
    ref_rate = float(np.mean([r.mean() for r in rs]))
    out.update(rate=rate, ref_rate=ref_rate, lift=rate - ref_rate)
    if n_boot <= 0:
        out.update(lo=rate, hi=rate, ref_lo=ref_rate, ref_hi=ref_rate, lift_lo=rate - ref_rate,
                   lift_hi=rate - ref_rate)
        return out
    rng = np.random.default_rng(seed)
    reps = [_per_bias_replicates(x, r, n_boot, rng) for x, r in zip(xs, rs)]
    mx = np.stack([m for m, _ in reps])          # (biases, n_boot) prompt-resampled means per bias
    mr = np.stack([m for _, m in reps])
    k = len(ids)
    which = rng.integers(0, k, size=(n_boot, k))  # stage 1: biases with replacement
    col = rng.integers(0, n_boot, size=(n_boot, k))  # stage 2: an independent prompt resample per drawn bias
    sx, sr = mx[which, col].mean(1), mr[which, col].mean(1)
    a = (1 - level) / 2

    def q(v: np.ndarray) -> tuple[float, float]:
        return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))

    out["lo"], out["hi"] = q(sx)
    out["ref_lo"], out["ref_hi"] = q(sr)
    out["lift_lo"], out["lift_hi"] = q(sx - sr)
    return out


def prompt_bootstrap_lift(stage: Mapping[str, Sequence[float]], reference: Mapping[str, Sequence[float]],
                          n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """The old, too-narrow interval (prompts resampled as if independent, prompt-weighted) — kept only so the
    report can show how much the unit of resampling matters."""
    x = np.concatenate([np.asarray(stage[b], float) for b in stage if len(stage[b])] or [np.zeros(0)])
    r = np.concatenate([np.asarray(reference[b], float) for b in stage if len(stage[b])] or [np.zeros(0)])
    if len(x) == 0:
        return {"lift": None, "lift_lo": None, "lift_hi": None}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    d = x[idx].mean(1) - r[idx].mean(1)
    a = (1 - level) / 2
    return {"lift": float(x.mean() - r.mean()), "lift_lo": float(np.quantile(d, a)),
            "lift_hi": float(np.quantile(d, 1 - a))}
