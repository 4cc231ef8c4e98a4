"""Sparse top-k encoder backward and decoder: never a dense batch × n_latents tensor in the hot path.

A top-k (or batch-top-k) SAE touches only k latents per token, so after the dense encoder matmul
everything else is sparse:

    decode         x̂[b]        = Σ_{e in row b}    v[e] · W_dec[col[e]]          (gather-sum by row)
    d/dv           g_v[e]      = ⟨g_x̂[row[e]], W_dec[col[e]]⟩                  (gather-dot)
    d/dW_dec       g_W_dec[l]  = Σ_{e: col[e]=l}   v[e] · g_x̂[row[e]]          (gather-sum by latent)
    d/dW_enc       g_W_enc[l]  = Σ_{e: col[e]=l}   g_z[e] · x[row[e]]           (gather-sum by latent)

Both "gather-sum" forms are one primitive, `segment_gather_sum(table, index, weight, offsets)`:
out[s] = Σ_{e in segment s} weight[e] · table[index[e]]. On CUDA with Triton it is a Triton kernel (one
program per segment and feature block, no atomics, deterministic); elsewhere it is `embedding_bag(mode="sum",
per_sample_weights=…)`, which is exact and fast on CPU. The latent-major ordering (a stable sort of the
active indices) is computed once per step and shared by the encoder and decoder backward.

The top-k ideal cost is 2·d·n (encoder) + 8·d·k (decode, its two gradients, sparse encoder gradient)
FLOP per token, against 10·d·n for a dense autograd step.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F

try:  # Triton is optional: only used for CUDA tensors
    import triton
    import triton.language as tl

    HAVE_TRITON = True
except Exception:  # pragma: no cover - depends on the environment
    triton = tl = None
    HAVE_TRITON = False

_FORCE = os.environ.get("MONOSCOPE_SPARSE_BACKEND", "")  # "eager" | "triton" | "" (auto)


def set_backend(name: str) -> str:
    """Force the sparse backend: "eager", "triton" or "auto" (Triton for CUDA tensors). Returns the old one."""
    global _FORCE
    if name not in ("eager", "triton", "auto", ""):
        raise ValueError(f"unknown sparse backend {name!r}")
    if name == "triton" and not HAVE_TRITON:
        raise RuntimeError("triton is not installed")
    old, _FORCE = _FORCE or "auto", "" if name == "auto" else name
    return old


def use_triton(t: torch.Tensor) -> bool:
    if _FORCE == "eager" or not HAVE_TRITON:
        return False
    if _FORCE == "triton":
        return True
    return t.is_cuda


# ------------------------------------------------------------------------------------------------
# Sparsity pattern
# ------------------------------------------------------------------------------------------------
class SparsePattern:
    """Active (row, latent) pairs of one batch, row-major, with a lazily built latent-major view.

    `cols` [nnz] latent ids, `row_offsets` [B] start of each row's entries (row-major order). Fixed-k
    patterns (top-k) also keep `k` so the gather-dot can use a batched matmul.
    """

    def __init__(self, cols: torch.Tensor, row_offsets: torch.Tensor, n_rows: int, n_latents: int,
                 k: int | None = None, rows: torch.Tensor | None = None):
        self.cols = cols.reshape(-1).long()
        self.row_offsets = row_offsets.long()
        self.n_rows, self.n_latents, self.k = n_rows, n_latents, k
        self._rows = rows
        self._by_latent: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def from_topk(cls, idx: torch.Tensor, n_latents: int) -> "SparsePattern":
        B, k = idx.shape
        offs = torch.arange(0, B * k, k, device=idx.device)
        return cls(idx, offs, B, n_latents, k=k)

    @classmethod
    def from_coo(cls, rows: torch.Tensor, cols: torch.Tensor, n_rows: int, n_latents: int) -> "SparsePattern":
        """Entries must be sorted by row (as `nonzero` returns them)."""
        counts = _count(rows, n_rows)
        offs = torch.zeros(n_rows, dtype=torch.long, device=rows.device)
        offs[1:] = counts.cumsum(0)[:-1]
        return cls(cols, offs, n_rows, n_latents, rows=rows.long())

    @property
    def nnz(self) -> int:
        return self.cols.numel()

    @property
    def rows(self) -> torch.Tensor:
        if self._rows is None:
            if self.k is not None:
                self._rows = torch.arange(self.n_rows, device=self.cols.device).repeat_interleave(self.k)
            else:
                counts = torch.diff(self.row_offsets, append=self.row_offsets.new_tensor([self.nnz]))
                self._rows = torch.arange(self.n_rows, device=self.cols.device).repeat_interleave(counts)
        return self._rows

    def by_latent(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(order, rows in latent-major order, latent offsets [n_latents])."""
        if self._by_latent is None:
            order = torch.argsort(self.cols, stable=True)
            counts = _count(self.cols, self.n_latents)
            offs = torch.zeros(self.n_latents, dtype=torch.long, device=self.cols.device)
            offs[1:] = counts.cumsum(0)[:-1]
            self._by_latent = (order, self.rows[order], offs)
        return self._by_latent


def _count(index: torch.Tensor, n: int) -> torch.Tensor:
    """bincount without a host sync (torch.bincount reads the max on the host on CUDA)."""
    return torch.zeros(n, dtype=torch.long, device=index.device).index_add_(
        0, index, torch.ones_like(index, dtype=torch.long))


# ------------------------------------------------------------------------------------------------
# Primitives (eager + Triton)
# ------------------------------------------------------------------------------------------------
def segment_gather_sum(table: torch.Tensor, index: torch.Tensor, weight: torch.Tensor,
                       offsets: torch.Tensor, n_segments: int) -> torch.Tensor:
    """out[s] = Σ_{e in [offsets[s], offsets[s+1])} weight[e] · table[index[e]]  (fp32 accumulate)."""
    if use_triton(table):
        return _segment_gather_sum_triton(table, index, weight, offsets, n_segments)
    t = table if table.dtype == torch.float32 else table.float()
    return F.embedding_bag(index, t, offsets, mode="sum", per_sample_weights=weight.float())


def gather_dot(a: torch.Tensor, rows: torch.Tensor, b: torch.Tensor, cols: torch.Tensor,
               k: int | None = None, chunk_entries: int = 8192) -> torch.Tensor:
    """out[e] = ⟨a[rows[e]], b[cols[e]]⟩ (fp32). With fixed k, rows are implicit (e // k)."""
    if use_triton(b):
        return _gather_dot_triton(a, rows, b, cols)
    a = a.float()
    b = b if b.dtype == torch.float32 else b.float()
    out = torch.empty(cols.numel(), dtype=torch.float32, device=b.device)
    if k is not None:  # batched matmul over row chunks keeps the gathered block in cache
        B = a.shape[0]
        cs = max(1, chunk_entries // k)
        c2 = cols.view(B, k)
        o2 = out.view(B, k, 1)
        for s in range(0, B, cs):
            torch.bmm(b[c2[s:s + cs]], a[s:s + cs, :, None], out=o2[s:s + cs])
        return out
    for s in range(0, cols.numel(), chunk_entries):
        e = slice(s, s + chunk_entries)
        out[e] = (a[rows[e]] * b[cols[e]]).sum(-1)
    return out


if HAVE_TRITON:

    @triton.jit
    def _segment_gather_sum_kernel(table_ptr, index_ptr, weight_ptr, offsets_ptr, out_ptr,
                                   D, stride_t, stride_o, BLOCK_D: tl.constexpr):
        # offsets has n_segments + 1 entries (the last is nnz)
        seg = tl.program_id(0)
        dblk = tl.program_id(1)
        cols = dblk * BLOCK_D + tl.arange(0, BLOCK_D)
        cmask = cols < D
        start = tl.load(offsets_ptr + seg)
        end = tl.load(offsets_ptr + seg + 1)
        acc = tl.zeros([BLOCK_D], dtype=tl.float32)
        for e in range(start, end):
            r = tl.load(index_ptr + e).to(tl.int64)
            w = tl.load(weight_ptr + e).to(tl.float32)
            v = tl.load(table_ptr + r * stride_t + cols, mask=cmask, other=0.0).to(tl.float32)
            acc += w * v
        tl.store(out_ptr + seg.to(tl.int64) * stride_o + cols, acc, mask=cmask)

    @triton.jit
    def _gather_dot_kernel(a_ptr, rows_ptr, b_ptr, cols_ptr, out_ptr, nnz, D, stride_a, stride_b,
                           BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr):
        pid = tl.program_id(0)
        es = pid * BLOCK_E + tl.arange(0, BLOCK_E)
        emask = es < nnz
        r = tl.load(rows_ptr + es, mask=emask, other=0).to(tl.int64)
        c = tl.load(cols_ptr + es, mask=emask, other=0).to(tl.int64)
        acc = tl.zeros([BLOCK_E], dtype=tl.float32)
        for d0 in range(0, D, BLOCK_D):
            ds = d0 + tl.arange(0, BLOCK_D)
            m = emask[:, None] & (ds < D)[None, :]
            av = tl.load(a_ptr + r[:, None] * stride_a + ds[None, :], mask=m, other=0.0).to(tl.float32)
            bv = tl.load(b_ptr + c[:, None] * stride_b + ds[None, :], mask=m, other=0.0).to(tl.float32)
            acc += tl.sum(av * bv, axis=1)
        tl.store(out_ptr + es, acc, mask=emask)


def _segment_gather_sum_triton(table, index, weight, offsets, n_segments):
    table = table.contiguous()
    D = table.shape[1]
    out = torch.empty(n_segments, D, dtype=torch.float32, device=table.device)
    if n_segments == 0:
        return out
    BLOCK_D = min(256, triton.next_power_of_2(D))
    grid = (n_segments, triton.cdiv(D, BLOCK_D))
    offs = torch.cat([offsets.long(), offsets.new_tensor([index.numel()]).long()])
    _segment_gather_sum_kernel[grid](table, index.contiguous(), weight.contiguous(), offs, out,
                                     D, table.stride(0), out.stride(0), BLOCK_D=BLOCK_D)
    return out


def _gather_dot_triton(a, rows, b, cols):
    a, b = a.contiguous(), b.contiguous()
    nnz, D = cols.numel(), b.shape[1]
    out = torch.empty(nnz, dtype=torch.float32, device=b.device)
    if nnz == 0:
        return out
    BLOCK_E, BLOCK_D = 32, min(128, triton.next_power_of_2(D))
    _gather_dot_kernel[(triton.cdiv(nnz, BLOCK_E),)](a, rows.contiguous(), b, cols.contiguous(), out, nnz, D,
                                                      a.stride(0), b.stride(0), BLOCK_E=BLOCK_E,
                                                      BLOCK_D=BLOCK_D)
    return out


# ------------------------------------------------------------------------------------------------
# Autograd functions
# ------------------------------------------------------------------------------------------------
class _SparseDecode(torch.autograd.Function):
    @staticmethod
    def forward(ctx, vals, W_dec, pattern: SparsePattern):
        ctx.pattern = pattern
        ctx.save_for_backward(vals, W_dec)
        return segment_gather_sum(W_dec, pattern.cols, vals.reshape(-1), pattern.row_offsets, pattern.n_rows)

    @staticmethod
    def backward(ctx, g):
        vals, W_dec = ctx.saved_tensors
        p: SparsePattern = ctx.pattern
        g = g.contiguous()
        g_vals = g_W = None
        if ctx.needs_input_grad[0]:
            rows = None if p.k is not None and not use_triton(W_dec) else p.rows
            g_vals = gather_dot(g, rows, W_dec, p.cols, k=p.k).view_as(vals).to(vals.dtype)
        if ctx.needs_input_grad[1]:
            order, rows_l, offs = p.by_latent()
            g_W = segment_gather_sum(g, rows_l, vals.reshape(-1)[order], offs, p.n_latents).to(W_dec.dtype)
        return g_vals, g_W, None


def sparse_decode(vals: torch.Tensor, W_dec: torch.Tensor, pattern: SparsePattern) -> torch.Tensor:
    """Σ_active v·W_dec[latent] per row, [B, d] fp32, without a bias. `vals` matches `pattern.cols`."""
    return _SparseDecode.apply(vals, W_dec, pattern)


class _SparseEncoderGrad(torch.autograd.Function):
    """Returns the already computed pre-activations at the active entries; backward is sparse."""

    @staticmethod
    def forward(ctx, pre, x, W_enc, b_enc, pattern: SparsePattern):
        ctx.pattern = pattern
        ctx.save_for_backward(x, W_enc)
        ctx.b_dtype = b_enc.dtype
        return pre

    @staticmethod
    def backward(ctx, g):
        x, W_enc = ctx.saved_tensors
        p: SparsePattern = ctx.pattern
        gf = g.reshape(-1).float().contiguous()
        g_x = g_W = g_b = None
        if ctx.needs_input_grad[1]:
            g_x = segment_gather_sum(W_enc, p.cols, gf, p.row_offsets, p.n_rows).to(x.dtype)
        if ctx.needs_input_grad[2]:
            order, rows_l, offs = p.by_latent()
            g_W = segment_gather_sum(x, rows_l, gf[order], offs, p.n_latents).to(W_enc.dtype)
        if ctx.needs_input_grad[3]:
            g_b = torch.zeros(p.n_latents, dtype=torch.float32, device=gf.device).index_add_(0, p.cols, gf)
            g_b = g_b.to(ctx.b_dtype)
        return None, g_x, g_W, g_b, None


def sparse_encoder_values(pre: torch.Tensor, x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor,
                          pattern: SparsePattern) -> torch.Tensor:
    """Attach the gradient of pre = x·W_enc[l] + b_enc[l] at the active entries, computed sparsely.

    `pre` holds those pre-activations (taken from a no-grad dense encoder pass), shaped like the values.
    """
    return _SparseEncoderGrad.apply(pre.detach(), x, W_enc, b_enc, pattern)


def dense_reference_decode(vals: torch.Tensor, W_dec: torch.Tensor, pattern: SparsePattern) -> torch.Tensor:
    """The same decode through a dense [B, n] matrix: the reference the sparse path is tested against."""
    f = torch.zeros(pattern.n_rows, pattern.n_latents, dtype=vals.dtype, device=vals.device)
    f[pattern.rows, pattern.cols] = vals.reshape(-1)
    return f @ W_dec
