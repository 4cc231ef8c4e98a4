"""A feature-sharded SAE: each rank holds a contiguous slice of the latents.

Rank r owns latents [lo_r, hi_r): rows lo_r..hi_r of W_enc, b_enc and W_dec. b_dec is replicated. Every
rank sees the same (full) batch x. For a top-k SAE one step is

    z_r     = W_enc[r] x + b_enc[r]                      local encoder, [B, n/W]       (no communication)
    cand_r  = top-k(z_r)                                 local candidates (value, global latent id)
    cand    = all-gather(cand_r)                         [B, W·k]                      (B·W·k values + ids)
    sel     = top-k(cand)                                the global top-k: the same set a 1-rank SAE picks
    x̂_r     = Σ_{i in sel ∩ shard r} f_i · W_dec[i]      local partial decode (sparse), [B, d]
    x̂       = all-reduce-sum(x̂_r) + b_dec                                              (B·d values)

and the loss is computed identically on every rank from x̂. The all-reduce's backward is the identity
(each rank already holds dL/dx̂), so gradients reach exactly the rows that were active on this shard; the
encoder gradient stays local too. b_dec's gradient is the same on every rank (averaged anyway, for
safety); the gradient-norm clip sums squared norms over shards. Adam is element-wise, so a sharded
optimizer is the full optimizer. AuxK (dead latents reconstruct the residual) uses the same two-stage
selection restricted to dead latents.

The ReLU recipe shards the same way with no selection: f_r = ReLU(z_r), x̂ = Σ_r f_r W_dec[r] + b_dec, and
the decoder-norm-weighted L1 term is a sum over shards (also all-reduced with an identity backward).

Memory per rank: 2·(n/W)·d weights (+ 2× that for Adam, + 1× for gradients), the [B, n/W] encoder
pre-activations, and O(B·(W·k + d)) for the collectives.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import SAEOutput, finish_output, tied_init_
from .config import SAEConfig, SAEError
from .sparse import SparsePattern, sparse_decode, sparse_encoder_values
from ..comm import all_gather_cat, all_reduce_, sum_partials

SHARDABLE = ("topk", "relu")


def init_rows(n: int, d: int, lo: int, hi: int, seed: int, chunk_elems: int = 1 << 22) -> torch.Tensor:
    """Rows [lo, hi) of `torch.randn(n, d, generator=Generator().manual_seed(seed))`, without holding the
    whole matrix: rows are drawn in chunks whose size is a multiple of 16 elements, which keeps the CPU
    generator's stream identical to one big draw (tested)."""
    g = torch.Generator().manual_seed(seed)
    step = 16 // _gcd(d, 16)
    rows = max(step, (chunk_elems // max(d, 1)) // step * step)
    out = torch.empty(hi - lo, d)
    r = 0
    while r < hi:
        m = min(rows, n - r)
        block = torch.randn(m, d, generator=g)
        a, b = max(r, lo), min(r + m, hi)
        if a < b:
            out[a - lo:b - lo] = block[a - r:b - r]
        r += m
    return out


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


class ShardedSAE(nn.Module):
    """The latents [lo, hi) of a top-k or ReLU SAE of config `cfg` (n_latents is the global count)."""

    def __init__(self, cfg: SAEConfig, lo: int, hi: int):
        super().__init__()
        if cfg.architecture not in SHARDABLE:
            raise SAEError(f"feature sharding supports {', '.join(SHARDABLE)} SAEs, not {cfg.architecture!r}")
        if not 0 <= lo < hi <= cfg.n_latents:
            raise SAEError(f"bad latent shard [{lo}, {hi}) of {cfg.n_latents}")
        self.cfg, self.lo, self.hi = cfg, lo, hi
        n, d = hi - lo, cfg.d_in
        self.W_enc = nn.Parameter(torch.zeros(n, d))
        self.b_enc = nn.Parameter(torch.zeros(n))
        self.W_dec = nn.Parameter(torch.zeros(n, d))
        self.b_dec = nn.Parameter(torch.zeros(d))

    @property
    def n_local(self) -> int:
        return self.hi - self.lo

    def sharded_parameters(self) -> list[nn.Parameter]:
        return [self.W_enc, self.b_enc, self.W_dec]

    def replicated_parameters(self) -> list[nn.Parameter]:
        return [self.b_dec]

    @torch.no_grad()
    def init_weights(self, seed: int) -> "ShardedSAE":
        """The same initialisation as `SAE.init_weights(Generator().manual_seed(seed))`, for our rows."""
        tied_init_(self, init_rows(self.cfg.n_latents, self.cfg.d_in, self.lo, self.hi, seed))
        return self

    # ---- forward -----------------------------------------------------------------------------------
    def _encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.b_dec if self.cfg.apply_b_dec_to_input else x

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self._encoder_input(x), self.W_enc.to(x.dtype), self.b_enc.to(x.dtype))

    def forward(self, x: torch.Tensor, dead_mask: torch.Tensor | None = None, n_dead: int | None = None,
                aux_k: int | None = None, aux_coeff: float = 0.0, l1_coeff: float | None = None,
                **_) -> SAEOutput:
        """x: the full, normalised batch [B, d] (the same on every rank). Returns the global loss terms;
        `acts` holds this shard's active entries as (values, pattern) and `fired` is per local latent."""
        if self.cfg.architecture == "relu":
            return self._forward_relu(x, l1_coeff)
        return self._forward_topk(x, dead_mask, n_dead, aux_k, aux_coeff)

    def _global_topk(self, z: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                torch.Tensor]:
        """Two-stage top-k over the sharded latent axis. Returns (selected pre-activations [B, k],
        local column per entry (0 where not ours), mask of entries on this shard, global ids)."""
        B = z.shape[0]
        kl = min(k, self.n_local)
        v, i = z.topk(kl, dim=-1, sorted=False)
        gi = i + self.lo
        if kl < k:
            v = torch.cat([v, v.new_full((B, k - kl), float("-inf"))], 1)
            gi = torch.cat([gi, gi.new_full((B, k - kl), -1)], 1)
        cand_v = all_gather_cat(v.contiguous(), dim=1)
        cand_i = all_gather_cat(gi.contiguous(), dim=1)
        sv, sp = cand_v.topk(k, dim=-1, sorted=False)
        sg = cand_i.gather(1, sp)
        mine = (sg >= self.lo) & (sg < self.hi) & torch.isfinite(sv)
        cols = torch.where(mine, sg - self.lo, torch.zeros_like(sg))
        pre = torch.where(mine, sv, torch.zeros_like(sv))
        return pre, cols, mine, sv

    def _forward_topk(self, x, dead_mask, n_dead, aux_k, aux_coeff) -> SAEOutput:
        k = self.cfg.k
        with torch.no_grad():
            z = self.pre_acts(x)
            pre, cols, mine, sel = self._global_topk(z, k)
        pattern = SparsePattern.from_topk(cols, self.n_local)
        xin = self._encoder_input(x).float()
        vals = sparse_encoder_values(pre.float(), xin, self.W_enc, self.b_enc, pattern).relu()
        vals = vals * mine
        recon = sum_partials(sparse_decode(vals, self.W_dec, pattern)) + self.b_dec
        aux = None
        if dead_mask is not None and aux_coeff > 0:
            aux = aux_coeff * self._auxk(z, xin, x.float() - recon, dead_mask, n_dead,
                                         aux_k or self.cfg.d_in // 2)
        with torch.no_grad():
            active = mine & (pre > 0)
            fired = torch.zeros(self.n_local, dtype=torch.bool, device=x.device)
            fired[cols[active]] = True
            l0 = (sel > 0).sum().float() / x.shape[0]          # global: every rank sees every selection
        return finish_output(x, recon, (vals, pattern), x.new_zeros((), dtype=torch.float32), l0, fired, aux)

    def _auxk(self, z, xin, residual, dead_mask, n_dead, k_aux) -> torch.Tensor:
        if n_dead is None:
            n_dead = int(all_reduce_(dead_mask.sum().reshape(1).long(), "sum"))
        if n_dead == 0:
            return residual.new_zeros(())
        ka = min(k_aux, n_dead)
        scale = min(n_dead / k_aux, 1.0)
        with torch.no_grad():
            pre, cols, mine, _ = self._global_topk(z.masked_fill(~dead_mask[None], float("-inf")), ka)
        pattern = SparsePattern.from_topk(cols, self.n_local)
        vals = sparse_encoder_values(pre.float(), xin, self.W_enc, self.b_enc, pattern).relu() * mine
        e_hat = sum_partials(sparse_decode(vals, self.W_dec, pattern))
        return scale * (e_hat - residual.detach()).pow(2).sum(-1).mean()

    def _forward_relu(self, x, l1_coeff) -> SAEOutput:
        lam = self.cfg.l1_coeff if l1_coeff is None else l1_coeff
        f = torch.relu(self.pre_acts(x))
        recon = sum_partials((f @ self.W_dec.to(f.dtype)).float()) + self.b_dec
        dec_norms = self.W_dec.norm(dim=1)
        sparsity = lam * sum_partials((f.float() * dec_norms).sum(-1)).mean()
        with torch.no_grad():
            active = f > 0
            l0 = all_reduce_(active.sum().float().reshape(1), "sum")[0] / x.shape[0]
        return finish_output(x, recon, f, sparsity, l0, active.any(0))

    # ---- training hooks (row-wise, hence local) -----------------------------------------------------
    @torch.no_grad()
    def remove_parallel_decoder_grad(self) -> None:
        if self.cfg.normalize_decoder and self.W_dec.grad is not None:
            W, G = self.W_dec, self.W_dec.grad
            G -= (G * W).sum(1, keepdim=True) * W

    @torch.no_grad()
    def after_step(self) -> None:
        if self.cfg.normalize_decoder:
            self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
