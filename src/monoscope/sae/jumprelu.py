"""JumpReLU SAE (Rajamanoharan et al. 2024) with straight-through threshold gradients.

f = z · H(z − θ) with a learned per-latent θ > 0 (kept positive after each step), so the threshold is
applied once: no separate ReLU, no θ-shift of the value. H has zero gradient almost everywhere, so θ gets
a straight-through estimate with a rectangle kernel of width ε (the bandwidth):
∂f/∂θ ≈ −(θ/ε)·K((z−θ)/ε), ∂H/∂θ ≈ −(1/ε)·K((z−θ)/ε), K = 1[|u| < ½]. z gets the plain gradient H(z−θ).

Sparsity loss (`cfg.jumprelu_sparsity_loss`), each times λ = `l1_coeff`, averaged over tokens:
    "step"       Σ_i H(z_i − θ_i)                         the paper's L0 (DeepMind; Gemma Scope)
    "tanh"       Σ_i tanh(c · f_i ‖d_i‖)                  a smooth L0 proxy (Anthropic, Feb 2025 update)
    "quadratic"  (2 / L0*) · (Σ_i H(z_i − θ_i) − L0*)²     pulls L0 towards `target_l0` (Gemma Scope 2)
Defaults (threshold init, bandwidth, λ, Adam β1 = 0) are the papers', converted to monoscope's input
normalisation; see `monoscope.sae.config`.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import SAE, SAEOutput, finish_output
from .config import SAEConfig

MIN_THRESHOLD = 1e-6


def _rect(u: torch.Tensor) -> torch.Tensor:
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, theta, eps):
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return z * (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, g):
        z, theta = ctx.saved_tensors
        eps = ctx.eps
        gz = g * (z > theta).to(g.dtype)
        gt = (-(theta / eps) * _rect((z - theta) / eps) * g).sum(0)
        return gz, gt, None


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, theta, eps):
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, g):
        z, theta = ctx.saved_tensors
        eps = ctx.eps
        gt = (-(1.0 / eps) * _rect((z - theta) / eps) * g).sum(0)
        return None, gt, None


class JumpReLUSAE(SAE):
    architecture = "jumprelu"
    uses_sparsity_coeff = True
    adam_betas = (0.0, 0.999)                  # Gemma Scope: β1 = 0

    def __init__(self, cfg: SAEConfig):
        super().__init__(cfg)
        self.threshold = nn.Parameter(torch.full((cfg.n_latents,), float(cfg.jumprelu_init_threshold)))

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None) -> "JumpReLUSAE":
        super().init_weights(generator)
        self.threshold.fill_(self.cfg.jumprelu_init_threshold)
        return self

    @torch.no_grad()
    def after_step(self) -> None:
        super().after_step()
        self.threshold.clamp_(min=MIN_THRESHOLD)

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        # θ ≤ 0 (possible in imported files) means plain ReLU, as in SAELens
        th = self.threshold.to(z.dtype).clamp_min(0)
        return torch.where(z > th, z, torch.zeros((), dtype=z.dtype, device=z.device))

    def _forward(self, x: torch.Tensor, l1_coeff: float | None = None, **_) -> SAEOutput:
        lam = self.cfg.l1_coeff if l1_coeff is None else l1_coeff
        z = self.pre_acts(x).float()
        theta, eps = self.threshold, self.cfg.jumprelu_bandwidth
        f = _JumpReLU.apply(z, theta, eps)
        mode = self.cfg.jumprelu_sparsity_loss
        if mode == "tanh":
            per_token = torch.tanh(self.cfg.jumprelu_tanh_scale * f * self.W_dec.norm(dim=1)).sum(-1)
        else:
            l0 = _Step.apply(z, theta, eps).sum(-1)
            per_token = l0 if mode == "step" else (2.0 / self.cfg.target_l0) * (l0 - self.cfg.target_l0) ** 2
        recon = f @ self.W_dec + self.b_dec
        active = f > 0
        return finish_output(x, recon, f, lam * per_token.mean(), active.sum(-1).float().mean().detach(),
                             active.any(0).detach())

    def _scale_thresholds(self, s: torch.Tensor) -> None:
        self.threshold.mul_(s)
