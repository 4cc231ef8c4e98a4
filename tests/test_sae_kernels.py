"""Triton sparse kernels vs the eager fallback (GPU), and under the Triton CPU interpreter when available."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from monoscope.sae import sparse
from monoscope.sae.sparse import SparsePattern, gather_dot, segment_gather_sum, set_backend

CHECK = textwrap.dedent("""
    import torch
    from monoscope.sae import SAEConfig, build_sae
    from monoscope.sae.sparse import set_backend

    def run(backend, device, arch):
        set_backend(backend)
        torch.manual_seed(0)
        kw = {"k": 8} if arch != "relu" else {}
        sae = build_sae(SAEConfig(arch, d_in=DIM, n_latents=300, apply_b_dec_to_input=True, **kw))
        sae.init_weights(torch.Generator().manual_seed(0)).to(device)
        with torch.no_grad():
            sae.b_dec.normal_(generator=None)
        x = torch.randn(96, DIM, generator=torch.Generator().manual_seed(1)).to(device)
        dead = torch.zeros(300, dtype=torch.bool, device=device); dead[::3] = True
        out = sae(x, normalized=True, dead_mask=dead, aux_coeff=0.5)
        out.loss.backward()
        return [out.recon.detach().cpu()] + [p.grad.detach().cpu() for p in sae.parameters()]

    for arch in ("topk", "batchtopk"):
        a = run("eager", DEVICE, arch)
        b = run("triton", DEVICE, arch)
        for u, v in zip(a, b):
            assert torch.allclose(u, v, rtol=1e-4, atol=1e-4), (arch, (u - v).abs().max())
    print("OK")
""")


def _compare(device):
    torch.manual_seed(0)
    B, n, d = 70, 500, 200                       # d not a multiple of the block: masking is exercised
    W = torch.randn(n, d, device=device)
    g = torch.randn(B, d, device=device)
    idx = torch.stack([torch.randperm(n)[:7] for _ in range(B)]).to(device)
    p = SparsePattern.from_topk(idx, n)
    w = torch.rand(p.nnz, device=device)
    order, rows_l, offs = p.by_latent()
    old = set_backend("eager")
    ref = (segment_gather_sum(W, p.cols, w, p.row_offsets, B), segment_gather_sum(g, rows_l, w[order], offs, n),
           gather_dot(g, p.rows, W, p.cols))
    set_backend("triton")
    got = (segment_gather_sum(W, p.cols, w, p.row_offsets, B), segment_gather_sum(g, rows_l, w[order], offs, n),
           gather_dot(g, p.rows, W, p.cols))
    set_backend(old)
    for a, b in zip(ref, got):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-4), (a - b).abs().max()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or not sparse.HAVE_TRITON, reason="needs CUDA and triton")
def test_triton_kernels_equal_eager_on_gpu():
    _compare("cuda")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = CHECK.replace("DIM", "200").replace("DEVICE", "'cuda'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]


@pytest.mark.slow
def test_triton_kernels_equal_eager_in_cpu_interpreter():
    """Runs the Triton kernels in TRITON_INTERPRET=1 mode on CPU (needs triton importable)."""
    probe = subprocess.run([sys.executable, "-c", "import triton"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("triton is not installed")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    code = CHECK.replace("DIM", "40").replace("DEVICE", "'cpu'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]


def test_backend_switch_validates_names():
    with pytest.raises(ValueError):
        set_backend("cuda-magic")
    old = set_backend("eager")
    assert not sparse.use_triton(torch.zeros(1))
    set_backend(old)
