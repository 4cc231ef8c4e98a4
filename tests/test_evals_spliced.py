"""Spliced-in loss: a lossless SAE recovers all of the loss, a useless one none of it."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from monoscope.evals.spliced import spliced_loss, store_contexts


class SignSplitSAE(torch.nn.Module):
    """Exact ReLU dictionary: latents [relu(x), relu(−x)], decoder [I; −I] (scaled by `gain`)."""

    def __init__(self, d: int, hook: str, gain: float = 1.0):
        super().__init__()
        self.d, self.gain = d, gain
        self.cfg = SimpleNamespace(hook=hook, model=None)
        self.W_dec = torch.cat([torch.eye(d), -torch.eye(d)]) * gain

    def encode(self, x):
        return torch.cat([torch.relu(x), torch.relu(-x)], -1)

    def decode(self, f):
        return f @ self.W_dec


def test_lossless_and_useless_saes(tiny_lm, text_corpus, tmp_path):
    from monoscope.store import harvest

    store = harvest(tiny_lm, tmp_path / "s", hooks="resid_post.1", corpus=str(text_corpus), n_tokens=640,
                    context_len=32, progress=False).store
    ctx = store_contexts(store, 8)
    assert ctx.shape == (8, 32) and (ctx[:, 0] == tiny_lm.tokenizer.bos_token_id).all()
    exact = spliced_loss(tiny_lm, SignSplitSAE(tiny_lm.d_model, "resid_post.1"), ctx, progress=False)
    assert exact.ce_sae == pytest.approx(exact.ce_clean, abs=1e-5) and exact.kl_sae == pytest.approx(0, abs=1e-6)
    assert exact.loss_recovered == pytest.approx(1.0, abs=1e-3) and exact.n_tokens == 8 * 30
    useless = spliced_loss(tiny_lm, SignSplitSAE(tiny_lm.d_model, "resid_post.1", gain=0.0), ctx, progress=False)
    assert useless.ce_sae == pytest.approx(useless.ce_zero, abs=1e-5)
    assert useless.loss_recovered == pytest.approx(0.0, abs=1e-3) and useless.kl_sae > 0
