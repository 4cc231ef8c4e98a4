"""Learning-rate and sparsity-coefficient schedules: pure functions of the step, so resume is exact."""
from __future__ import annotations

import math


def lr_factor(step: int, total: int, warmup_steps: int = 0, decay_frac: float = 0.2,
              decay_to: float = 0.0, shape: str = "linear") -> float:
    """Multiplier of the base learning rate at `step` (0-based) of `total`.

    Linear warm-up over `warmup_steps`, constant, then decay over the last `decay_frac` of the steps to
    `decay_to`× (the April recipe: linear to 0 over the last 20%). `shape="cosine"` decays along a cosine.
    """
    if total <= 0:
        return 1.0
    f = 1.0
    if warmup_steps > 0 and step < warmup_steps:
        f = (step + 1) / warmup_steps
    decay_steps = int(round(decay_frac * total))
    start = total - decay_steps
    if decay_steps > 0 and step >= start:
        t = (step - start) / decay_steps                # in [0, 1): every step still learns
        t = min(max(t, 0.0), 1.0)
        d = (1 - t) if shape == "linear" else 0.5 * (1 + math.cos(math.pi * t))
        f *= decay_to + (1 - decay_to) * d
    return f


def sparsity_coeff(step: int, total: int, final: float, warmup_frac: float = 0.05) -> float:
    """λ ramps linearly from 0 to `final` over the first `warmup_frac` of the steps, then stays."""
    warm = int(round(warmup_frac * total))
    if warm <= 0 or step >= warm:
        return final
    return final * step / warm
