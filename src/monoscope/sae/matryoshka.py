"""Matryoshka BatchTopK SAE (Bussmann, Nabeshima, Karvonen & Nanda 2025, "Learning Multi-Level Features
with Matryoshka Sparse Autoencoders").

One BatchTopK dictionary whose latent prefixes [0, m_1) ⊂ [0, m_2) ⊂ … ⊂ [0, n) must each reconstruct the
input on their own: the selection is the ordinary batch top-k over all n latents, and the loss adds one
reconstruction term per prefix,

    L = Σ_j ‖x − (W_d[:m_j]ᵀ f[:m_j] + b_d)‖² + α·AuxK,

so early latents learn general, frequent features (they are penalised at every level) and later ones
specialise without absorbing them. The outermost level is the ordinary BatchTopK reconstruction. Inference
is BatchTopK's (a per-latent threshold), which is also how it exports to SAELens (as "jumprelu", as SAELens
itself saves Matryoshka SAEs). `cfg.matryoshka_widths` holds the prefix sizes m_j (default n/8, n/4, n/2, n).
"""
from __future__ import annotations

import torch

from .base import SAEOutput
from .batchtopk import BatchTopKSAE
from .sparse import sparse_decode


class MatryoshkaSAE(BatchTopKSAE):
    architecture = "matryoshka"

    def _forward(self, x: torch.Tensor, dead_mask: torch.Tensor | None = None, aux_k: int | None = None,
                 aux_coeff: float = 0.0, n_dead: int | None = None, **_) -> SAEOutput:
        z, xin, vals, pattern = self._encode_sparse(x)
        recon = sparse_decode(vals, self.W_dec, pattern) + self.b_dec
        out = self._finish(x, z, xin, vals, pattern, recon, dead_mask, aux_k, aux_coeff, n_dead)
        inner = []
        for m in self.cfg.matryoshka_widths[:-1]:
            v = vals * (pattern.cols < m).to(vals.dtype)                  # only the prefix's latents
            partial = sparse_decode(v, self.W_dec, pattern) + self.b_dec
            inner.append((x.float() - partial).pow(2).sum(-1).mean())
        if inner:
            inner_sum = torch.stack(inner).sum()
            out.loss = out.loss + inner_sum
            out.extras["inner_mse"] = [float(t.detach()) for t in inner]
            out.extras["inner_mse_sum"] = inner_sum.detach()
        return out
