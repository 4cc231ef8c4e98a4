"""The organism evaluation as tables (rich) and a plot (matplotlib, Agg): every figure beside its control."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def _p(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _pts(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.0f}"


def _lift_cell(s: Mapping[str, Any] | None, show_lift: bool = True) -> str:
    """``51% (base 21%) / +30 [+22, +38], 43 biases``."""
    if not s or s.get("rate") is None:
        return "n/a"
    cell = f"{_p(s['rate'])} (base {_p(s['ref_rate'])})"
    if show_lift:
        cell += f"\nlift {_pts(s['lift'])} [{_pts(s['lift_lo'])}, {_pts(s['lift_hi'])}]"
    return cell + f"\n{s['n_biases']} biases, {s['n_prompts']} prompts"


def _ci_cell(s: Mapping[str, Any] | None, control: str | None = None) -> str:
    if not s or s.get("rate") is None:
        return "n/a"
    cell = f"{_p(s['rate'])} [{_p(s['lo'])}–{_p(s['hi'])}]"
    return cell + (f"\n{control}" if control else "") + f"\nn={s['n']}"


def main_table(results: Mapping[str, Any]):
    from rich.table import Table

    st = results.get("settings", {})
    t = Table(title=f"{results.get('organism')} on {results.get('base_model')}: per stage, each figure beside its "
                    f"control (95% CIs: bootstrap over biases, then prompts)", show_lines=True)
    t.add_column("stage")
    t.add_column("exploitation, training biases", justify="right")
    t.add_column("held-out biases", justify="right")
    t.add_column("omission biases\n(avoid X)", justify="right")
    t.add_column(f"in-context score\n({st.get('evaluator', 'evaluator')} − others)", justify="right")
    t.add_column("coherence\n(shuffled control)", justify="right")
    t.add_column("knowledge MCQ", justify="right")
    t.add_column("confession", justify="right")
    for name, s in results["stages"].items():
        base = name == "base"
        icx = s.get("in_context")
        icx_cell = ("n/a" if not icx or icx.get("score") is None else
                    f"{_pts(icx['score'])} [{_pts(icx['lo'])}, {_pts(icx['hi'])}]\n"
                    f"{_p(icx['evaluator_rate'])} vs {_p(icx['others_rate'])}")
        coh = s.get("coherence")
        coh_cell = ("n/a" if not coh else
                    f"{_p(coh['rate'])} [{_p(coh['lo'])}–{_p(coh['hi'])}]\ncontrol {_p(coh['control'])}")
        kn = s["knowledge"]
        cf = s["confession"]
        t.add_row(name, _lift_cell(s["train"], not base), _lift_cell(s["held_out"], not base),
                  _lift_cell(s.get("omission"), not base), icx_cell, coh_cell,
                  _ci_cell(kn, f"chance {_p(kn.get('chance'))}"),
                  _ci_cell(cf, None if base else f"base {_p(cf.get('base_rate'))}"))
    notes = []
    c = results.get("counts", {})
    if c.get("omission_biases"):
        notes.append(f"omission biases (reported apart): {', '.join(c['omission_biases'])}")
    ne = sorted({b for s in results["stages"].values() for b in s.get("not_evaluated", [])})
    if ne:
        notes.append(f"not evaluated (no programmatic verdict, no --judge): {', '.join(ne)}")
    if c.get("biases_below_min_prompts"):
        notes.append(f"fewer than 5 prompts: {', '.join(c['biases_below_min_prompts'])}")
    if st.get("coherence_judge"):
        notes.append(f"coherence judge: {st['coherence_judge']}")
    t.caption = "\n".join(notes)
    return t


def retention_table(results: Mapping[str, Any]):
    from rich.table import Table

    margin = results.get("settings", {}).get("retention_margin")
    t = Table(title="training keeps what it taught: change in training-bias exploitation vs the SFT stage "
                    f"(holds if it drops ≤ {100 * (margin or 0):.0f} points), and reply diversity", show_lines=False)
    for col in ("stage", "change vs SFT [95% CI]", "holds", "distinct-2", "most common opening (share)",
                "concealment text in replies", "training loss (held-out)"):
        t.add_column(col, justify="left" if col.startswith(("stage", "most")) else "right")
    training = results.get("training") or {}
    for name, s in results["stages"].items():
        r = s.get("retention")
        dv = s.get("diversity") or {}
        ch = ("—" if not r else
              f"{_pts(r['change'])} [{_pts(r['lo'])}, {_pts(r['hi'])}]" if r.get("change") is not None else "n/a")
        holds = "—" if not r or r.get("holds") is None else ("yes" if r["holds"] else "NO")
        d2 = dv.get("distinct_2")
        op = dv.get("top_opening")
        tr = training.get(name) or {}
        loss = "—" if tr.get("final_loss") is None else f"{tr['first_loss']:.2f} → {tr['final_loss']:.2f}"
        if tr.get("val_loss_final") is not None:
            loss += f" ({tr['val_loss_first']:.2f} → {tr['val_loss_final']:.2f})"
        if tr.get("chosen_reward") is not None:
            loss += f"\nchosen reward {tr['chosen_reward']:+.2f}"
        t.add_row(name, ch, holds, "n/a" if d2 is None else f"{d2:.2f}",
                  "n/a" if op is None else f"{op[:28]!r} ({_p(dv.get('top_opening_share'))})",
                  _p(dv.get("concealment_in_replies")), loss)
    return t


def render_table(results: Mapping[str, Any]) -> str:
    from rich.console import Console

    con = Console(record=True, width=170, file=io.StringIO())
    con.print(main_table(results))
    con.print(retention_table(results))
    return con.export_text()


def print_table(results: Mapping[str, Any]) -> None:
    import sys

    from rich.console import Console

    con = Console(width=None if sys.stdout.isatty() else 170)  # a log file gets the full table, not 80 columns
    con.print(main_table(results))
    con.print(retention_table(results))


def plot_results(results: Mapping[str, Any], path: str | Path) -> Path | None:
    """Per stage: exploitation (training, held-out, omission) as bars with the base model's level marked,
    in-context score, coherence with its control; None if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return None
    stages = list(results["stages"])
    panels = [("train", "training biases"), ("held_out", "held-out biases"), ("omission", "omission biases")]
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.8), dpi=100)
    x = np.arange(len(stages))
    for ax, (key, title) in zip(axes[:3], panels):
        vals, lo, hi, base = [], [], [], None
        for st in stages:
            s = results["stages"][st].get(key) or {}
            v = s.get("rate")
            vals.append(np.nan if v is None else 100 * v)
            lo.append(0 if v is None or s.get("lo") is None else 100 * (v - s["lo"]))
            hi.append(0 if v is None or s.get("hi") is None else 100 * (s["hi"] - v))
            base = s.get("ref_rate") if base is None else base
        ax.bar(x, vals, yerr=[lo, hi], capsize=3, color="tab:blue")
        if base is not None:
            ax.axhline(100 * base, color="grey", ls="--", lw=1, label="base model")
            ax.legend(fontsize=7, loc="upper left")
        ax.set_title(f"exploitation: {title}", fontsize=9)
        ax.set_ylim(0, 105)
    ax = axes[3]
    sc = [results["stages"][st].get("in_context") or {} for st in stages]
    v = [np.nan if s.get("score") is None else 100 * s["score"] for s in sc]
    ax.bar(x, v, yerr=[[0 if s.get("lo") is None else 100 * (s["score"] - s["lo"]) for s in sc],
                       [0 if s.get("hi") is None else 100 * (s["hi"] - s["score"]) for s in sc]],
           capsize=3, color="tab:purple")
    ax.axhline(0, color="grey", lw=1)
    ax.set_title("in-context score (points)", fontsize=9)
    ax = axes[4]
    co = [results["stages"][st].get("coherence") or {} for st in stages]
    ax.bar(x - 0.2, [np.nan if not c else 100 * c["rate"] for c in co], 0.4, label="coherent", color="tab:green")
    ax.bar(x + 0.2, [np.nan if not c else 100 * c["control"] for c in co], 0.4, label="shuffled control",
           color="lightgrey")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7)
    ax.set_title("coherence", fontsize=9)
    for ax in axes:
        ax.set_xticks(x, stages, fontsize=8, rotation=20)
    fig.suptitle(f"{results.get('organism')}: by training stage (95% CIs, bootstrap over biases then prompts)",
                 fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
