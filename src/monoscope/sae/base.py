"""The common SAE base class: parameters, raw-space encode/decode, export folding.

Layout (shared by every architecture and by the native file format):

    W_enc [n_latents, d_in]   encoder rows (one per latent)
    b_enc [n_latents]
    W_dec [n_latents, d_in]   decoder rows = feature directions
    b_dec [d_in]

    z = W_enc · (x_n − b_dec·[apply_b_dec_to_input]) + b_enc,   x_n = norm_scalar · x
    f = activation(z)                          (architecture-specific)
    x̂_n = W_decᵀ f + b_dec,                    x̂ = x̂_n / norm_scalar

`encode`/`decode`/`reconstruct` take and return raw activations; `forward(x_n, normalized=True)` is the
training entry and returns an `SAEOutput` with the reconstruction, activations and loss terms.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .config import SAEConfig, SAEError
from .sparse import SparsePattern, sparse_decode


@dataclass
class SparseActs:
    """Activations stored sparsely: values at (row, latent) entries described by a `SparsePattern`."""

    vals: torch.Tensor
    pattern: SparsePattern

    def to_dense(self) -> torch.Tensor:
        p = self.pattern
        f = torch.zeros(p.n_rows, p.n_latents, dtype=self.vals.dtype, device=self.vals.device)
        f[p.rows, p.cols] = self.vals.reshape(-1)
        return f


@dataclass
class SAEOutput:
    recon: torch.Tensor                    # x̂ in the input space of the call
    acts: torch.Tensor | SparseActs        # dense [B, n] or sparse activations
    loss: torch.Tensor                     # total training loss (mse + sparsity + aux)
    mse: torch.Tensor                      # mean over tokens of ‖x − x̂‖²
    sparsity: torch.Tensor                 # sparsity term (already multiplied by its coefficient)
    aux: torch.Tensor                      # AuxK term (already multiplied by its coefficient)
    l0: torch.Tensor                       # mean active latents per token
    fired: torch.Tensor                    # [n] bool: latents active on at least one token
    fvu: torch.Tensor                      # Σ‖x − x̂‖² / Σ‖x − mean x‖² over the batch
    extras: dict = field(default_factory=dict)



@torch.no_grad()
def tied_init_(sae, w: torch.Tensor) -> None:
    """Set decoder rows to the directions of `w` ([rows, d_in], modified in place) with norm `decoder_init_norm`
    (unit when the decoder is kept normalised), the encoder to the same rows, and both biases to zero. One
    rule for the whole SAE (`SAE.init_weights`) and for one rank's rows of a sharded one."""
    w /= w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    if not sae.cfg.normalize_decoder:
        w *= sae.cfg.decoder_init_norm
    sae.W_dec.copy_(w)
    sae.W_enc.copy_(w)
    sae.b_enc.zero_()
    sae.b_dec.zero_()


class SAE(nn.Module):
    """Base of every architecture. A subclass owns only its encoder (`activation`, `_forward`) and its loss
    terms; what the one trainer has to pass it is declared by the class attributes below, so the trainer
    never branches on architecture names (the SAELens v6 split between an SAE and its training loop)."""

    architecture: ClassVar[str] = ""
    uses_sparsity_coeff: ClassVar[bool] = False   # _forward takes l1_coeff= (the trainer ramps it up)
    uses_auxk: ClassVar[bool] = False             # _forward takes dead_mask=, aux_k=, aux_coeff=, n_dead=
    adam_betas: ClassVar[tuple[float, float]] = (0.9, 0.999)   # the architecture's recipe default
    selects_across_batch: ClassVar[bool] = False  # activations depend on other tokens of the batch: no dp

    def __init__(self, cfg: SAEConfig):
        super().__init__()
        if cfg.architecture != self.architecture:
            raise SAEError(f"{type(self).__name__} needs architecture {self.architecture!r}, "
                           f"config says {cfg.architecture!r}")
        self.cfg = cfg
        n, d = cfg.n_latents, cfg.d_in
        self.W_enc = nn.Parameter(torch.zeros(n, d))
        self.b_enc = nn.Parameter(torch.zeros(n))
        self.W_dec = nn.Parameter(torch.zeros(n, d))
        self.b_dec = nn.Parameter(torch.zeros(d))

    # ---- initialisation ---------------------------------------------------------------------------
    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None) -> "SAE":
        """Decoder rows: random directions with norm `decoder_init_norm` (unit when the decoder is kept
        normalised); encoder = decoderᵀ (W_enc = W_dec in row layout); zero biases."""
        tied_init_(self, torch.randn(self.cfg.n_latents, self.cfg.d_in, generator=generator, dtype=torch.float32))
        return self

    # ---- core maths (input space = normalised) ----------------------------------------------------
    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.apply_b_dec_to_input:
            x = x - self.b_dec
        return F.linear(x, self.W_enc.to(x.dtype), self.b_enc.to(x.dtype))

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        """Dense activation function (inference semantics)."""
        raise NotImplementedError

    def decode_normalized(self, f: torch.Tensor | SparseActs) -> torch.Tensor:
        if isinstance(f, SparseActs):
            return sparse_decode(f.vals.float(), self.W_dec, f.pattern) + self.b_dec
        return f @ self.W_dec.to(f.dtype) + self.b_dec.to(f.dtype)

    def forward(self, x: torch.Tensor, normalized: bool = False, **kw) -> SAEOutput:
        """Training/analysis pass on a [B, d_in] batch. `normalized=False` applies norm_scalar first
        (and reports recon in raw space); the trainer passes already-normalised batches."""
        self.check_input(x)
        c = self.cfg.norm_scalar
        if not normalized and c != 1.0:
            out = self._forward(x * c, **kw)
            out.recon = out.recon / c
            return out
        return self._forward(x, **kw)

    def _forward(self, x: torch.Tensor, **kw) -> SAEOutput:
        raise NotImplementedError

    # ---- raw-space API ----------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.cfg.d_in:
            raise SAEError(f"activations have width {x.shape[-1]}, but this SAE has d_in={self.cfg.d_in} "
                           f"(hook {self.cfg.hook or '?'} of {self.cfg.model or '?'}); wrong hook or model?")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Raw activations [..., d_in] → dense feature activations [..., n_latents]."""
        self.check_input(x)
        shape = x.shape
        x = x.reshape(-1, shape[-1]).to(self.W_enc.dtype)
        if self.cfg.norm_scalar != 1.0:
            x = x * self.cfg.norm_scalar
        return self.encode_normalized(x).reshape(*shape[:-1], self.cfg.n_latents)

    def encode_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """[B, d_in] normalised input → dense activations (inference semantics). Architectures whose
        activation needs more than the pre-activations (gated: a second, magnitude path) override this."""
        return self.activation(self.pre_acts(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Feature activations [..., n_latents] → reconstruction in raw activation space [..., d_in]."""
        shape = f.shape
        out = self.decode_normalized(f.reshape(-1, shape[-1]).to(self.W_dec.dtype))
        if self.cfg.norm_scalar != 1.0:
            out = out / self.cfg.norm_scalar
        return out.reshape(*shape[:-1], self.cfg.d_in)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    # ---- training hooks ---------------------------------------------------------------------------
    @torch.no_grad()
    def remove_parallel_decoder_grad(self) -> None:
        """With a unit-norm decoder, drop the gradient component along each row (it only changes the norm)."""
        if self.cfg.normalize_decoder and self.W_dec.grad is not None:
            W, G = self.W_dec, self.W_dec.grad
            G -= (G * W).sum(1, keepdim=True) * W

    @torch.no_grad()
    def after_step(self) -> None:
        if self.cfg.normalize_decoder:
            self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def buffers_to_save(self) -> dict[str, torch.Tensor]:
        return {}

    # ---- export -----------------------------------------------------------------------------------
    @torch.no_grad()
    def fold_norm_scalar(self) -> None:
        """Make the weights act on raw activations: W_enc·c, W_dec/c, b_dec/c; activations unchanged."""
        c = float(self.cfg.norm_scalar)
        if c == 1.0:
            return
        self.W_enc.mul_(c)
        self.W_dec.div_(c)
        self.b_dec.div_(c)
        self.cfg.folded_norm_scalar = c * (self.cfg.folded_norm_scalar or 1.0)
        self.cfg.norm_scalar = 1.0

    @torch.no_grad()
    def decoder_norm_fold_is_exact(self, norms: torch.Tensor) -> bool:
        return True

    @torch.no_grad()
    def fold_decoder_norms(self) -> bool:
        """The paper's analysis convention: W_e' = W_e‖d‖, b_e' = b_e‖d‖, W_d' = W_d/‖d‖, so a feature's
        vector is its unit decoder row and its activation is f_i‖d_i‖. Returns False (and changes nothing)
        when folding would change which latents fire (top-k over unequal norms)."""
        s = self.W_dec.norm(dim=1)
        s = torch.where(s > 0, s, torch.ones_like(s))
        if not self.decoder_norm_fold_is_exact(s):
            return False
        self.W_enc.mul_(s[:, None])
        self.b_enc.mul_(s)
        self.W_dec.div_(s[:, None])
        self._scale_thresholds(s)
        self.cfg.decoder_norms_folded = True
        return True

    def _scale_thresholds(self, s: torch.Tensor) -> None:
        pass

    def exported(self) -> "SAE":
        """A copy for analysis and sharing: norm scalar folded (works on raw activations) and decoder norms
        folded into the encoder. Outputs are unchanged up to float rounding."""
        sae = copy.deepcopy(self).float()
        sae.cfg = copy.deepcopy(self.cfg)
        sae.fold_norm_scalar()
        sae.fold_decoder_norms()
        sae.train(False)
        return sae


def total_variance(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean(0)).pow(2).sum()


def finish_output(x: torch.Tensor, recon: torch.Tensor, acts, sparsity: torch.Tensor, l0: torch.Tensor,
                  fired: torch.Tensor, aux: torch.Tensor | None = None, **extras) -> SAEOutput:
    err = (x.float() - recon.float()).pow(2).sum(-1)
    mse = err.mean()
    aux = aux if aux is not None else mse.new_zeros(())
    fvu = err.sum().detach() / total_variance(x.float()).clamp_min(1e-12)
    return SAEOutput(recon=recon, acts=acts, loss=mse + sparsity + aux, mse=mse, sparsity=sparsity, aux=aux,
                     l0=l0, fired=fired, fvu=fvu, extras=extras)
