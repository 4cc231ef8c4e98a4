"""Top-k SAE (Gao et al. 2024) with AuxK, on the sparse path: no dense batch × n tensor after the encoder.

z = W_e x + b_e (optionally on x − b_d), f = ReLU(top-k(z)), x̂ = W_d f + b_d, decoder rows kept unit norm.
AuxK: the k_aux largest pre-activations among dead latents reconstruct the residual e = x − x̂. The
residual already contains b_d (x̂ includes it), so the auxiliary reconstruction is W_dᵀ f_aux with *no*
bias — adding b_d again would count it twice (a bug in two popular libraries).
"""
from __future__ import annotations

import torch

from .base import SAE, SAEOutput, SparseActs, finish_output
from .sparse import SparsePattern, sparse_decode, sparse_encoder_values


class TopKSAE(SAE):
    architecture = "topk"
    uses_auxk = True

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        v, i = z.topk(self.cfg.k, dim=-1, sorted=False)
        return torch.zeros_like(z).scatter_(-1, i, v.relu())

    def _encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.b_dec if self.cfg.apply_b_dec_to_input else x

    def _select(self, z: torch.Tensor) -> tuple[torch.Tensor, SparsePattern]:
        v, i = z.topk(self.cfg.k, dim=-1, sorted=False)
        return v, SparsePattern.from_topk(i, self.cfg.n_latents)

    def _forward(self, x: torch.Tensor, dead_mask: torch.Tensor | None = None, aux_k: int | None = None,
                 aux_coeff: float = 0.0, n_dead: int | None = None, **_) -> SAEOutput:
        with torch.no_grad():
            z = self.pre_acts(x)
            pre, pattern = self._select(z)
        xin = self._encoder_input(x).float()
        vals = sparse_encoder_values(pre.float(), xin, self.W_enc, self.b_enc, pattern).relu()
        recon = sparse_decode(vals, self.W_dec, pattern) + self.b_dec
        aux = None
        if dead_mask is not None and aux_coeff > 0:
            aux = aux_coeff * auxk_loss(self, z, xin, x.float() - recon, dead_mask,
                                        aux_k or self.cfg.d_in // 2, n_dead)
        active = vals > 0
        fired = torch.zeros(self.cfg.n_latents, device=x.device).index_add_(
            0, pattern.cols, active.reshape(-1).float()) > 0         # no host sync
        l0 = active.sum().float() / x.shape[0]
        return finish_output(x, recon, SparseActs(vals, pattern), x.new_zeros((), dtype=torch.float32),
                             l0.detach(), fired, aux)

    def decoder_norm_fold_is_exact(self, norms: torch.Tensor) -> bool:
        # Folding rescales z_i by ‖d_i‖, which reorders the top-k unless all norms are equal (as they
        # are for a unit-norm decoder, also after the norm scalar is folded).
        return _norms_equal(norms)


def auxk_loss(sae: SAE, z: torch.Tensor, xin: torch.Tensor, residual: torch.Tensor, dead_mask: torch.Tensor,
              k_aux: int, n_dead: int | None = None) -> torch.Tensor:
    """Mean over tokens of ‖W_dᵀ f_aux − e‖², scaled down when fewer than k_aux latents are dead."""
    if n_dead is None:
        n_dead = int(dead_mask.sum())
    if n_dead == 0:
        return residual.new_zeros(())
    ka = min(k_aux, n_dead)
    scale = min(n_dead / k_aux, 1.0)
    with torch.no_grad():
        va, ia = z.masked_fill(~dead_mask[None], float("-inf")).topk(ka, dim=-1, sorted=False)
    pattern = SparsePattern.from_topk(ia, sae.cfg.n_latents)
    vals = sparse_encoder_values(va.float(), xin, sae.W_enc, sae.b_enc, pattern).relu()
    e_hat = sparse_decode(vals, sae.W_dec, pattern)          # no b_dec: the residual already has it
    return scale * (e_hat - residual.detach()).pow(2).sum(-1).mean()


def _norms_equal(norms: torch.Tensor, rtol: float = 1e-4) -> bool:
    return bool((norms.max() - norms.min()) <= rtol * norms.max())
