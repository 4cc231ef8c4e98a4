"""Synthetic superposition benchmark: planted sparse features with power-law frequencies.

A dictionary of `n_features` random unit directions in R^d is planted. Each sample activates feature i
independently with probability p_i ∝ (i+1)^-alpha, scaled so that Σ p_i = `mean_active` (about 20 active
features per sample), with an Exponential(1) magnitude, plus isotropic Gaussian noise of std `noise`:

    x = Σ_i m_i·1[i active]·u_i + ε,   m_i ~ Exp(1),  ε ~ N(0, σ² I)

An SAE trained on these samples (without ever seeing the directions) is scored by how well its decoder
directions recover the planted ones: for every planted direction the best cosine over the learned decoder
rows, averaged ("mean max cosine"), and the fraction recovered at cos > 0.9; plus the FVU on held-out
samples. Batches are a pure function of (seed, batch index), so a trainer can resume at any position.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import torch


@dataclass(frozen=True)
class SyntheticConfig:
    d: int = 256
    n_features: int = 4096
    mean_active: float = 20.0      # expected number of active features per sample
    alpha: float = 0.6             # p_i ∝ (i+1)^-alpha
    noise: float = 0.01            # std of the isotropic Gaussian noise
    seed: int = 0                  # seeds the planted dictionary; batches use (seed, stream, index)


class SyntheticData:
    """The planted dictionary and a deterministic, resumable stream of batches."""

    def __init__(self, cfg: SyntheticConfig = SyntheticConfig()):
        self.cfg = cfg
        g = torch.Generator().manual_seed(_mix(cfg.seed, 0x5EED, 0))
        dirs = torch.randn(cfg.n_features, cfg.d, generator=g, dtype=torch.float64)
        self.directions = (dirs / dirs.norm(dim=1, keepdim=True)).float()       # [N, d], unit rows
        w = torch.arange(1, cfg.n_features + 1, dtype=torch.float64) ** -cfg.alpha
        p = w * (cfg.mean_active / w.sum())
        if p.max() > 1:
            raise ValueError(f"mean_active={cfg.mean_active} needs a firing probability above 1 for feature 0; "
                             f"lower mean_active or raise n_features")
        self.probs = p.float()                                                    # [N]

    def __repr__(self) -> str:
        return f"SyntheticData({asdict(self.cfg)})"

    def batch(self, index: int, batch_size: int, stream: int = 1) -> torch.Tensor:
        """Batch number `index` of `stream` (stream 1 = training, 2 = held-out evaluation)."""
        g = torch.Generator().manual_seed(_mix(self.cfg.seed, stream, index))
        n = self.cfg.n_features
        active = torch.rand(batch_size, n, generator=g) < self.probs
        rows, cols = active.nonzero(as_tuple=True)
        mags = torch.empty(rows.numel()).exponential_(1.0, generator=g)
        x = torch.randn(batch_size, self.cfg.d, generator=g) * self.cfg.noise
        x.index_add_(0, rows, mags[:, None] * self.directions[cols])
        return x

    def batches(self, batch_size: int, n_batches: int | None = None, start_batch: int = 0,
                stream: int = 1) -> Iterator[torch.Tensor]:
        """Batches start_batch, start_batch+1, … (forever when n_batches is None)."""
        i = start_batch
        while n_batches is None or i < n_batches:
            yield self.batch(i, batch_size, stream)
            i += 1

    def factory(self, batch_size: int, n_batches: int | None = None,
                stream: int = 1) -> Callable[[int], Iterator[torch.Tensor]]:
        """A `start_batch -> iterator` factory, the form the SAE trainer resumes exactly from."""
        return lambda start_batch=0: self.batches(batch_size, n_batches, start_batch, stream)


def _mix(*xs: int) -> int:
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h = ((h ^ (x & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


@dataclass
class RecoveryResult:
    mean_max_cos: float
    frac_recovered: float          # fraction of planted directions with max cos > threshold
    threshold: float
    fvu: float | None = None       # fraction of variance unexplained on held-out samples
    l0: float | None = None        # mean active latents per held-out sample
    n_samples: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        s = (f"recovered {100 * self.frac_recovered:.1f}% of planted features at cos>{self.threshold:g}, "
             f"mean max cos {self.mean_max_cos:.3f}")
        if self.fvu is not None:
            s += f", FVU {self.fvu:.3f}, L0 {self.l0:.1f} over {self.n_samples:,} held-out samples"
        return s


@torch.no_grad()
def direction_recovery(true_dirs: torch.Tensor, learned_dirs: torch.Tensor, threshold: float = 0.9,
                       chunk: int = 4096) -> tuple[torch.Tensor, float, float]:
    """Per planted direction, the best (signed) cosine over the learned directions.

    Returns (max_cos [N], mean max cos, fraction > threshold). Learned directions are rows (any norm).
    """
    t = true_dirs.float() / true_dirs.float().norm(dim=1, keepdim=True).clamp_min(1e-12)
    ld = learned_dirs.float()
    ld = ld / ld.norm(dim=1, keepdim=True).clamp_min(1e-12)
    best = torch.cat([(t[s:s + chunk] @ ld.T).max(dim=1).values for s in range(0, len(t), chunk)])
    return best, float(best.mean()), float((best > threshold).float().mean())


@torch.no_grad()
def evaluate_recovery(sae, data: SyntheticData, n_eval: int = 16384, batch_size: int = 4096,
                      threshold: float = 0.9, input_scale: float | None = None) -> RecoveryResult:
    """Score an SAE on a synthetic problem: decoder-direction recovery plus held-out FVU and L0.

    `sae` needs `W_dec` ([n_latents, d]) and `encode`/`decode` on raw samples (a native monoscope SAE
    does its own input normalisation). `input_scale` multiplies the samples first, for SAEs that expect
    pre-normalised input.
    """
    _, mean_cos, frac = direction_recovery(data.directions, sae.W_dec.detach().cpu(), threshold)
    err = tot = l0 = 0.0
    n = 0
    for i in range(max(1, n_eval // batch_size)):
        x = data.batch(i, batch_size, stream=2)
        if input_scale is not None:
            x = x * input_scale
        dev = sae.W_dec.device
        x = x.to(dev)
        f = sae.encode(x)
        xh = sae.decode(f)
        err += float((x - xh).pow(2).sum())
        tot += float((x - x.mean(0)).pow(2).sum())
        l0 += float((f != 0).sum())
        n += len(x)
    return RecoveryResult(mean_max_cos=mean_cos, frac_recovered=frac, threshold=threshold,
                          fvu=err / tot, l0=l0 / n, n_samples=n)
