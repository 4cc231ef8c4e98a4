"""The training curves a researcher looks at first: loss and FVU, L0 and the dead fraction against steps,
drawn from `metrics.jsonl` (the whole run, resumed parts included) into `loss_curve.png` beside it."""
from __future__ import annotations

import json
from pathlib import Path

LOSS_CURVE = "loss_curve.png"


def plot_training_curves(metrics: str | Path, out: str | Path | None = None) -> Path | None:
    """Write the curves of one run's metrics.jsonl to `out` (default: loss_curve.png beside it); None when the
    log has fewer than two points (nothing to draw)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = Path(metrics)
    recs = []
    for line in metrics.read_text().splitlines() if metrics.exists() else []:
        try:
            recs.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    recs = [r for r in recs if "step" in r]
    if len(recs) < 2:
        return None
    steps = [r["step"] for r in recs]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for key in ("loss", "fvu"):
        ys = [r.get(key) for r in recs]
        if all(isinstance(y, (int, float)) and y > 0 for y in ys):
            axes[0].plot(steps, ys, label=key)
    axes[0].set_yscale("log")
    axes[0].set_title("loss and FVU (log scale)")
    axes[0].legend()
    axes[1].plot(steps, [r.get("l0", float("nan")) for r in recs], color="tab:green")
    axes[1].set_title("L0 (active latents per token)")
    axes[2].plot(steps, [r.get("dead_frac", float("nan")) for r in recs], color="tab:red")
    axes[2].set_ylim(0, 1)
    axes[2].set_title("dead fraction")
    for ax in axes:
        ax.set_xlabel("step")
    fig.tight_layout()
    out = Path(out) if out is not None else metrics.parent / LOSS_CURVE
    from ..fileio import atomic_write

    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return out
