"""Scaling-law fits for SAE sweeps: the compute frontier, compute-optimal size and steps, optimal lr.

Compute is C = N·S (latents × steps at a fixed batch size), as in Scaling Monosemanticity, where the
training cost per step is proportional to the number of latents. Two estimates of the compute-optimal
allocation are made from one N × S grid:

* **frontier** (the paper's view): the Pareto frontier of the runs (each frontier run has a lower loss
  than every cheaper run); power laws L = k·C^γ, N = a·C^p, S = b·C^q are fitted to it by least squares in
  log-log space. Honest, but coarse: a grid offers few distinct N and S values.
* **isoFLOP** (used for recommendations): runs of equal compute (the diagonals of a geometric grid) are
  an iso-compute curve of loss against log N; a parabola through the best run and its two neighbours
  locates N*(C) and L*(C) at that level (levels whose best run is at the end of the curve are reported
  but not used), and power laws are fitted across levels; S*(C) = C / N*(C).
* **parametric** (smooth, extrapolates; fallback): L(N, S) = E + A·N^-α + B·S^-β, fitted to every run
  (Huber loss on log L, several starts). Minimising over N at fixed C = N·S gives
      N*(C) = G·C^(β/(α+β)),  S*(C) = C^(α/(α+β)) / G,   G = (αA / (βB))^(1/(α+β)),
  so the two exponents sum to 1 and "N grows faster than S" means β > α.

The optimal learning rate comes from an lr sweep at a few compute levels: a parabola in log lr through
the best lr and its neighbours locates lr*(C) (the edge value is used, and flagged, when the best lr is
at the end of the range), and lr* = c·C^δ is fitted across levels.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np


@dataclass
class PowerLaw:
    """y = coef · x^exponent, fitted in log-log space."""

    coef: float
    exponent: float
    r2: float
    n_points: int

    def __call__(self, x):
        return self.coef * np.asarray(x, dtype=float) ** self.exponent

    def to_dict(self) -> dict:
        return asdict(self)


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> PowerLaw | None:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2 or np.ptp(np.log(x)) == 0:
        return None
    lx, ly = np.log(x), np.log(y)
    slope, icpt = np.polyfit(lx, ly, 1)
    pred = icpt + slope * lx
    ss = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - float(((ly - pred) ** 2).sum()) / ss if ss > 0 else 1.0
    return PowerLaw(coef=float(math.exp(icpt)), exponent=float(slope), r2=r2, n_points=int(len(x)))


def pareto_frontier(compute: Sequence[float], loss: Sequence[float]) -> list[int]:
    """Indices of runs with lower loss than every run of less (or equal) compute, by increasing compute."""
    order = sorted(range(len(compute)), key=lambda i: (compute[i], loss[i]))
    best, keep = math.inf, []
    for i in order:
        if loss[i] < best:
            keep.append(i)
            best = loss[i]
    return keep


@dataclass
class ParametricFit:
    """L(N, S) = E + A·N^-alpha + B·S^-beta."""

    E: float
    A: float
    alpha: float
    B: float
    beta: float
    rmse_log: float               # root-mean-square error of log L over the runs
    n_points: int

    def loss(self, N, S):
        N, S = np.asarray(N, float), np.asarray(S, float)
        return self.E + self.A * N ** -self.alpha + self.B * S ** -self.beta

    @property
    def n_exponent(self) -> float:
        return self.beta / (self.alpha + self.beta)

    @property
    def s_exponent(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def optimal_n(self, C):
        return self.G * np.asarray(C, float) ** self.n_exponent

    def optimal_s(self, C):
        return np.asarray(C, float) / self.optimal_n(C)

    def optimal_loss(self, C):
        return self.loss(self.optimal_n(C), self.optimal_s(C))

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(n_exponent=self.n_exponent, s_exponent=self.s_exponent, G=self.G)
        return d


def fit_parametric(N: Sequence[float], S: Sequence[float], L: Sequence[float], huber_delta: float = 1e-2
                   ) -> ParametricFit | None:
    """Least squares (Huber) on log L over parameters (log E, log A, alpha, log B, beta), many starts."""
    from scipy.optimize import least_squares

    N, S, L = (np.asarray(v, float) for v in (N, S, L))
    ok = (N > 0) & (S > 0) & (L > 0) & np.isfinite(L)
    N, S, L = N[ok], S[ok], L[ok]
    if len(L) < 5:
        return None
    lN, lS, lL = np.log(N), np.log(S), np.log(L)

    def pred(p):
        e, a, al, b, be = p
        return np.logaddexp(np.logaddexp(e, a - al * lN), b - be * lS)

    def resid(p):
        return pred(p) - lL

    best = None
    lmin = float(np.log(L.min()))
    for e0 in (lmin - 3.0, lmin - 1.0, lmin - 0.2):
        for al0 in (0.2, 0.6, 1.2):
            for be0 in (0.2, 0.6, 1.2):
                a0 = float(np.log(L.max())) + al0 * float(lN.min())
                b0 = float(np.log(L.max())) + be0 * float(lS.min())
                try:
                    r = least_squares(resid, [e0, a0, al0, b0, be0], loss="huber", f_scale=huber_delta,
                                      bounds=([-30, -30, 1e-3, -30, 1e-3], [10, 60, 4.0, 60, 4.0]), max_nfev=4000)
                except ValueError:
                    continue
                if best is None or r.cost < best.cost:
                    best = r
    if best is None:
        return None
    e, a, al, b, be = best.x
    rmse = float(np.sqrt(np.mean(resid(best.x) ** 2)))
    return ParametricFit(E=float(math.exp(e)), A=float(math.exp(a)), alpha=float(al), B=float(math.exp(b)),
                         beta=float(be), rmse_log=rmse, n_points=int(len(L)))


def best_lr(lrs: Sequence[float], losses: Sequence[float]) -> tuple[float, bool]:
    """The loss-minimising lr: vertex of a parabola in log lr through the best point and its neighbours.
    Returns (lr*, interior): interior is False when the best lr sits at the edge of the swept range."""
    pts = sorted((float(a), float(b)) for a, b in zip(lrs, losses) if a > 0 and np.isfinite(b))
    if not pts:
        raise ValueError("no finite losses in the lr sweep")
    x = np.log([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    i = int(np.argmin(y))
    if i == 0 or i == len(pts) - 1:
        return pts[i][0], False
    c2, c1, _ = np.polyfit(x[i - 1:i + 2], y[i - 1:i + 2], 2)
    if c2 <= 0:
        return pts[i][0], True
    v = -c1 / (2 * c2)
    v = min(max(v, x[i - 1]), x[i + 1])
    return float(math.exp(v)), True


def isoflop_levels(N: Sequence[float], S: Sequence[float], L: Sequence[float], rel_tol: float = 0.02) -> list[dict]:
    """Group runs by compute N·S (within rel_tol) and locate each group's loss minimum along log N."""
    pts = sorted(zip((float(n) * float(s) for n, s in zip(N, S)), map(float, N), map(float, L)))
    groups: list[list[tuple[float, float, float]]] = []
    for p in pts:
        if groups and abs(math.log(p[0] / groups[-1][0][0])) <= rel_tol:
            groups[-1].append(p)
        else:
            groups.append([p])
    levels = []
    for g in groups:
        g = sorted(g, key=lambda p: p[1])
        C = float(np.exp(np.mean([math.log(p[0]) for p in g])))
        ns = np.array([p[1] for p in g])
        ls = np.array([p[2] for p in g])
        rec = {"compute": C, "n_latents": ns.tolist(), "losses": ls.tolist(), "interior": False,
               "n_star": None, "s_star": None, "loss_star": None}
        if len(g) >= 3:
            i = int(np.argmin(ls))
            if 0 < i < len(g) - 1:
                x = np.log(ns[i - 1:i + 2])
                c2, c1, c0 = np.polyfit(x, ls[i - 1:i + 2], 2)
                if c2 > 0:
                    v = min(max(-c1 / (2 * c2), x[0]), x[2])
                    n_star = float(math.exp(v))
                    rec.update(interior=True, n_star=n_star, s_star=C / n_star,
                               loss_star=float(c2 * v * v + c1 * v + c0), curvature=float(c2))
        levels.append(rec)
    return levels
