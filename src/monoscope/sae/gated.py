"""Gated SAE (Rajamanoharan et al. 2024, "Improving Dictionary Learning with Gated Sparse Autoencoders").

Two paths share the encoder directions W_e (row layout, one row per latent) and see x̃ = x − b_d:
    gate       π_gate = W_e x̃ + b_gate            decides which latents fire: 1[π_gate > 0]
    magnitude  π_mag  = (exp(r_mag) ⊙ W_e) x̃ + b_mag   how strongly: ReLU(π_mag)
    f = 1[π_gate > 0] ⊙ ReLU(π_mag),   x̂ = W_dᵀ f + b_d
(b_gate is the base class's b_enc.) The Heaviside gate has no gradient, so the paper's loss trains the gate
through a sparsity penalty and an auxiliary reconstruction from the gate path alone, through a *frozen*
copy of the decoder (so the auxiliary term moves only the encoder):
    L = ‖x − x̂(f)‖² + λ Σ_i ReLU(π_gate)_i ‖d_i‖ + ‖x − (W_d,frozenᵀ ReLU(π_gate) + b_d,frozen)‖²
Decoder rows are kept unit norm (so the L1 weight ‖d_i‖ is 1 during training; it keeps the penalty exact
for imported files with free norms). Inference form and file layout match SAELens's "gated" architecture.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import SAE, SAEOutput, finish_output
from .config import SAEConfig


class GatedSAE(SAE):
    architecture = "gated"
    uses_sparsity_coeff = True

    def __init__(self, cfg: SAEConfig):
        super().__init__(cfg)
        self.r_mag = nn.Parameter(torch.zeros(cfg.n_latents))
        self.b_mag = nn.Parameter(torch.zeros(cfg.n_latents))

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None) -> "GatedSAE":
        super().init_weights(generator)
        self.r_mag.zero_()
        self.b_mag.zero_()
        return self

    def _centred(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.b_dec if self.cfg.apply_b_dec_to_input else x

    def _paths(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xc = self._centred(x)
        proj = xc @ self.W_enc.to(x.dtype).T                       # shared by both paths
        pi_gate = proj + self.b_enc.to(x.dtype)
        pi_mag = proj * self.r_mag.exp().to(x.dtype) + self.b_mag.to(x.dtype)
        return pi_gate, pi_mag

    def encode_normalized(self, x: torch.Tensor) -> torch.Tensor:
        pi_gate, pi_mag = self._paths(x)
        return (pi_gate > 0).to(pi_mag.dtype) * torch.relu(pi_mag)

    def activation(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - gated needs both paths
        raise NotImplementedError("a gated SAE's activation needs the input; use encode / encode_normalized")

    def _forward(self, x: torch.Tensor, l1_coeff: float | None = None, **_) -> SAEOutput:
        lam = self.cfg.l1_coeff if l1_coeff is None else l1_coeff
        x = x.float()
        pi_gate, pi_mag = self._paths(x)
        f = (pi_gate > 0).float() * torch.relu(pi_mag)
        recon = f @ self.W_dec + self.b_dec
        gate = torch.relu(pi_gate)
        sparsity = lam * (gate * self.W_dec.norm(dim=1)).sum(-1).mean()
        via_gate = gate @ self.W_dec.detach() + self.b_dec.detach()          # frozen decoder
        aux = (via_gate - x).pow(2).sum(-1).mean()
        active = f > 0
        return finish_output(x, recon, f, sparsity, active.sum(-1).float().mean().detach(),
                             active.any(0).detach(), aux)

    def _scale_thresholds(self, s: torch.Tensor) -> None:
        # Decoder-norm folding scales both paths by ‖d_i‖: the base scales W_e and b_gate (= b_enc); b_mag
        # scales here. r_mag stays: the magnitude weights are exp(r_mag) ⊙ W_e, and W_e is already scaled.
        self.b_mag.mul_(s)
