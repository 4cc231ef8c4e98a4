"""Sweep plots (matplotlib, PNG): the loss frontier, compute-optimal size and steps, optimal lr."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .fit import ParametricFit, PowerLaw


def _par(fits) -> ParametricFit | None:
    p = fits.get("parametric")
    if not p:
        return None
    return ParametricFit(**{k: p[k] for k in ("E", "A", "alpha", "B", "beta", "rmse_log", "n_points")})


def plot_sweep(results: dict, out: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors
    from matplotlib.ticker import NullFormatter

    out = Path(out)
    cfg = results["config"]
    fits = results["fits"]
    grid = [r for r in results["runs"] if r["lr"] == cfg["lr"]]
    par = _par(fits)
    paths = []
    Ns = sorted({r["n_latents"] for r in grid})
    norm = colors.LogNorm(vmin=min(Ns), vmax=max(Ns) if max(Ns) > min(Ns) else min(Ns) * 2)
    cmap = cm.viridis
    C = np.array([r["compute"] for r in grid])
    cs = np.geomspace(C.min() / 1.5, C.max() * 1.5, 64)
    front_ids = set(fits["frontier"]["runs"])

    # 1. loss vs compute
    fig, ax = plt.subplots(figsize=(7, 5))
    for n in Ns:
        rs = sorted((r for r in grid if r["n_latents"] == n), key=lambda r: r["compute"])
        ax.plot([r["compute"] for r in rs], [r["loss"] for r in rs], "o-", color=cmap(norm(n)), ms=4, lw=1,
                label=f"N={n}")
    fr = [r for r in grid if f"N{r['n_latents']}_S{r['steps']}_lr{r['lr']:.4g}" in front_ids]
    ax.scatter([r["compute"] for r in fr], [r["loss"] for r in fr], s=90, facecolors="none", edgecolors="red",
               label="Pareto frontier", zorder=5)
    if fits["frontier"].get("loss"):
        f = PowerLaw(**fits["frontier"]["loss"])
        ax.plot(cs, f(cs), "r--", lw=1.2, label=f"frontier fit: L ∝ C^{f.exponent:.3f} (R²={f.r2:.3f})")
    if par is not None:
        ax.plot(cs, par.optimal_loss(cs), ":", color="grey", lw=1.2,
                label=f"L(N,S) = E + A·N^-{par.alpha:.2f} + B·S^-{par.beta:.2f}, at N*(C)")
    iso_l = (fits.get("isoflop") or {}).get("loss")
    if iso_l:
        f = PowerLaw(**iso_l)
        ax.plot(cs, f(cs), "k--", lw=1.2, label=f"isoFLOP optima: L* ∝ C^{f.exponent:.3f} (R²={f.r2:.3f})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"compute C = latents × steps (batch {cfg['batch_size']})")
    ax.set_ylabel(results.get("loss_name", "loss"))
    ax.set_title(f"{cfg['architecture']} SAE sweep: loss vs compute (lr {cfg['lr']:g})")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    paths.append(out / "frontier.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    # 2. isoFLOP curves: loss against N at fixed compute, with the parabola that locates N*
    iso = fits.get("isoflop") or {}
    lv = [v for v in iso.get("levels", []) if len(v["n_latents"]) >= 2]
    if lv:
        fig, ax = plt.subplots(figsize=(7, 5))
        cnorm = colors.LogNorm(vmin=min(v["compute"] for v in lv), vmax=max(v["compute"] for v in lv) * 1.0001)
        for v in lv:
            col = cm.plasma(cnorm(v["compute"]))
            ax.plot(v["n_latents"], v["losses"], "o-", color=col, ms=4, lw=1, label=f"C={v['compute']:.3g}")
            if v["interior"]:
                ns = np.array(v["n_latents"])
                i = int(np.argmin(v["losses"]))
                x = np.log(ns[i - 1:i + 2])
                c = np.polyfit(x, np.array(v["losses"])[i - 1:i + 2], 2)
                xx = np.linspace(x[0], x[-1], 40)
                ax.plot(np.exp(xx), np.polyval(c, xx), "--", color=col, lw=0.8)
                ax.plot([v["n_star"]], [v["loss_star"]], "k*", ms=9)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("latents N (steps = C / N)")
        ax.set_ylabel("loss")
        ax.set_title("isoFLOP curves (★ = fitted optimum N*)")
        ax.legend(fontsize=7, ncol=2)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        paths.append(out / "isoflop.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)

    # 3. compute-optimal N and S
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, label in ((axes[0], "n_latents", "N* (latents)"), (axes[1], "steps", "S* (steps)")):
        ax.scatter([r["compute"] for r in fr], [r[key] for r in fr], color="red", label="Pareto-frontier runs")
        f = fits["frontier"].get(key)
        if f:
            f = PowerLaw(**f)
            ax.plot(cs, f(cs), "r--", lw=1, label=f"frontier fit ∝ C^{f.exponent:.3f}")
        inner = [v for v in iso.get("levels", []) if v["interior"]]
        star = "n_star" if key == "n_latents" else "s_star"
        if inner:
            ax.scatter([v["compute"] for v in inner], [v[star] for v in inner], marker="*", s=120, color="k",
                       label="isoFLOP optima", zorder=5)
        f = iso.get(key)
        if f:
            f = PowerLaw(**f)
            ax.plot(cs, f(cs), "k--", lw=1.2, label=f"isoFLOP fit ∝ C^{f.exponent:.3f} (R²={f.r2:.3f})")
        if par is not None:
            y = par.optimal_n(cs) if key == "n_latents" else par.optimal_s(cs)
            e = par.n_exponent if key == "n_latents" else par.s_exponent
            ax.plot(cs, y, "-", color="grey", lw=1, label=f"parametric ∝ C^{e:.3f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("compute C")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("compute-optimal allocation")
    fig.tight_layout()
    paths.append(out / "optimal.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    # 4. learning rate
    levels = fits.get("lr", {}).get("levels") or []
    if levels:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        lnorm = colors.LogNorm(vmin=min(v["compute"] for v in levels),
                               vmax=max(v["compute"] for v in levels) * 1.0001)
        for v in levels:
            col = cm.plasma(lnorm(v["compute"]))
            axes[0].plot(v["lrs"], v["losses"], "o-", color=col,
                         label=f"N={v['n_latents']} S={v['steps']} (C={v['compute']:.3g})")
            axes[0].axvline(v["lr_star"], color=col, ls=":", lw=1)
        axes[0].set_xscale("log")
        axes[0].set_yscale("log")
        axes[0].xaxis.set_minor_formatter(NullFormatter())
        axes[0].set_xlabel("learning rate")
        axes[0].set_ylabel("loss")
        axes[0].legend(fontsize=7)
        axes[0].grid(True, which="both", alpha=0.3)
        axes[1].scatter([v["compute"] for v in levels], [v["lr_star"] for v in levels],
                        c=["k" if v["interior"] else "orange" for v in levels],
                        label="lr* (orange: at the edge of the swept range)")
        f = fits["lr"].get("fit")
        if f:
            f = PowerLaw(**f)
            axes[1].plot(cs, f(cs), "k--", lw=1, label=f"lr* ∝ C^{f.exponent:.3f}")
        axes[1].set_xscale("log")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("compute C")
        axes[1].set_ylabel("optimal learning rate")
        axes[1].legend(fontsize=8)
        axes[1].grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        paths.append(out / "lr.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths
