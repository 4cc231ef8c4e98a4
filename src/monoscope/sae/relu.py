"""ReLU SAE, Anthropic's April-2024 recipe (Scaling Monosemanticity).

f = ReLU(W_e x + b_e), x̂ = W_d f + b_d; untied; no b_d subtracted before the encoder; decoder norms free;
L = ‖x − x̂‖² + λ Σ_i f_i ‖d_i‖. Init: decoder rows random directions of norm 0.1, W_e = W_dᵀ, zero biases
(`SAE.init_weights`). The trainer ramps λ linearly from 0 over the first 5% of steps.
"""
from __future__ import annotations

import torch

from .base import SAE, SAEOutput, finish_output


class ReluSAE(SAE):
    architecture = "relu"
    uses_sparsity_coeff = True

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z)

    def _forward(self, x: torch.Tensor, l1_coeff: float | None = None, **_) -> SAEOutput:
        lam = self.cfg.l1_coeff if l1_coeff is None else l1_coeff
        f = torch.relu(self.pre_acts(x))
        recon = f @ self.W_dec.to(f.dtype) + self.b_dec.to(f.dtype)
        dec_norms = self.W_dec.norm(dim=1)
        sparsity = lam * (f.float() * dec_norms).sum(-1).mean()
        active = f > 0
        return finish_output(x, recon, f, sparsity, active.sum(-1).float().mean().detach(),
                             active.any(0).detach())
