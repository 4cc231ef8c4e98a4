"""BatchTopK SAE (Bussmann et al. 2024): keep the B·k largest activations of the whole batch.

Training selects over the batch, so tokens get a variable number of latents (k on average). Inference
uses a threshold θ (an EMA of the smallest kept activation during training): f = z·1[z > θ]. θ is kept per
latent so that folding decoder norms stays exact (θ_i ← θ_i‖d_i‖). AuxK as for top-k.
"""
from __future__ import annotations

import torch

from .base import SAE, SAEOutput, SparseActs, finish_output
from .config import SAEConfig
from .sparse import SparsePattern, sparse_decode, sparse_encoder_values
from .topk import auxk_loss


class BatchTopKSAE(SAE):
    architecture = "batchtopk"
    selects_across_batch = True
    uses_auxk = True

    def __init__(self, cfg: SAEConfig):
        super().__init__(cfg)
        self.register_buffer("threshold", torch.zeros(cfg.n_latents))

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        th = self.threshold.to(z.dtype).clamp_min(0)
        return torch.where(z > th, z, torch.zeros((), dtype=z.dtype, device=z.device))

    def _encode_sparse(self, x: torch.Tensor):
        """Batch top-k selection and the sparse activations: (z, encoder input, vals, pattern)."""
        B, n = x.shape[0], self.cfg.n_latents
        with torch.no_grad():
            z = self.pre_acts(x)
            flat = z.reshape(-1).relu()
            top = flat.topk(min(B * self.cfg.k, flat.numel()), sorted=False).indices
            top = top[flat[top] > 0].sort().values                   # row-major order
            rows, cols = top // n, top % n
            pre = z.reshape(-1)[top]
            pattern = SparsePattern.from_coo(rows, cols, B, n)
        xin = (x - self.b_dec if self.cfg.apply_b_dec_to_input else x).float()
        vals = sparse_encoder_values(pre.float(), xin, self.W_enc, self.b_enc, pattern).relu()
        if self.training and vals.numel():
            self._update_threshold(vals.detach())
        return z, xin, vals, pattern

    def _forward(self, x: torch.Tensor, dead_mask: torch.Tensor | None = None, aux_k: int | None = None,
                 aux_coeff: float = 0.0, n_dead: int | None = None, **_) -> SAEOutput:
        z, xin, vals, pattern = self._encode_sparse(x)
        recon = sparse_decode(vals, self.W_dec, pattern) + self.b_dec
        return self._finish(x, z, xin, vals, pattern, recon, dead_mask, aux_k, aux_coeff, n_dead)

    def _finish(self, x, z, xin, vals, pattern, recon, dead_mask, aux_k, aux_coeff, n_dead) -> SAEOutput:
        aux = None
        if dead_mask is not None and aux_coeff > 0:
            aux = aux_coeff * auxk_loss(self, z, xin, x.float() - recon, dead_mask,
                                        aux_k or self.cfg.d_in // 2, n_dead)
        fired = torch.zeros(self.cfg.n_latents, dtype=torch.bool, device=x.device)
        fired[pattern.cols] = True
        return finish_output(x, recon, SparseActs(vals, pattern), x.new_zeros((), dtype=torch.float32),
                             torch.tensor(float(vals.numel()) / x.shape[0]), fired, aux)

    @torch.no_grad()
    def _update_threshold(self, vals: torch.Tensor) -> None:
        m = vals.min().float()
        if bool((self.threshold == 0).all()):
            self.threshold.fill_(m)
        else:
            mom = self.cfg.batchtopk_threshold_momentum
            self.threshold.mul_(1 - mom).add_(mom * m)

    def _scale_thresholds(self, s: torch.Tensor) -> None:
        self.threshold.mul_(s)
