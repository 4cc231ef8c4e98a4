"""Spliced-in loss: a lossless SAE recovers all of the loss, a useless one none of it."""
from __future__ import annotations

import json

import pytest
import torch

from monoscope.evals.spliced import spliced_loss, store_contexts


def sign_split_sae(d: int, hook: str, gain: float = 1.0):
    """An exact `monoscope.sae` ReLU dictionary: latents [relu(x), relu(−x)], decoder [I; −I]·gain."""
    from monoscope.sae import SAEConfig, build_sae

    sae = build_sae(SAEConfig("relu", d_in=d, n_latents=2 * d, hook=hook))
    eye = torch.cat([torch.eye(d), -torch.eye(d)])
    with torch.no_grad():
        sae.W_enc.copy_(eye)
        sae.W_dec.copy_(eye * gain)
    return sae.eval()


def test_lossless_and_useless_saes(tiny_lm, text_corpus, tmp_path):
    from monoscope.store import harvest

    store = harvest(tiny_lm, tmp_path / "s", hooks="resid_post.1", corpus=str(text_corpus), n_tokens=640,
                    context_len=32, progress=False).store
    ctx = store_contexts(store, 8)
    assert ctx.shape == (8, 32) and (ctx[:, 0] == tiny_lm.tokenizer.bos_token_id).all()
    exact = spliced_loss(tiny_lm, sign_split_sae(tiny_lm.d_model, "resid_post.1"), ctx, progress=False)
    assert exact.ce_sae == pytest.approx(exact.ce_clean, abs=1e-5) and exact.kl_sae == pytest.approx(0, abs=1e-6)
    assert exact.loss_recovered == pytest.approx(1.0, abs=1e-3) and exact.n_tokens == 8 * 30
    useless = spliced_loss(tiny_lm, sign_split_sae(tiny_lm.d_model, "resid_post.1", gain=0.0), ctx, progress=False)
    assert useless.ce_sae == pytest.approx(useless.ce_zero, abs=1e-5)
    assert useless.loss_recovered == pytest.approx(0.0, abs=1e-3) and useless.kl_sae > 0
    assert exact.delta_ce == pytest.approx(0, abs=1e-5) and useless.delta_ce == pytest.approx(
        useless.ce_zero - useless.ce_clean, abs=1e-5)
    # mean-ablation is the stronger baseline: splicing in the mean costs less than zeroing the stream
    assert useless.ce_mean < useless.ce_zero and exact.recovered_vs_mean == pytest.approx(1.0, abs=1e-3)


def test_heldout_contexts_come_after_the_stores_documents(tiny_lm, text_corpus, tmp_path):
    """Catches held-out text that overlaps training: every held-out context is tokenised from documents
    the store never read, and asking for more than the corpus holds is a clear error."""
    from monoscope.corpus.sources import CorpusError
    from monoscope.evals.spliced import heldout_contexts, heldout_spliced_loss, last_document
    from monoscope.store import harvest

    store = harvest(tiny_lm, tmp_path / "s", hooks="resid_post.1", corpus=str(text_corpus), n_tokens=640,
                    context_len=32, progress=False).store
    last = last_document(store)
    ctx, where = heldout_contexts(store, tiny_lm.tokenizer, 6)
    assert ctx.shape == (6, 32) and f"documents {last + 1:,}+" in where
    docs = [json.loads(line)["text"] for line in text_corpus.read_text().splitlines()]
    later = tiny_lm.tokenizer(" ".join(docs[last + 1:]), add_special_tokens=False).input_ids
    bos = tiny_lm.tokenizer.bos_token_id
    body = [t for t in ctx[0].tolist() if t != bos]
    assert any(later[i:i + len(body)] == body for i in range(len(later) - len(body) + 1))
    spl = heldout_spliced_loss(tiny_lm, sign_split_sae(tiny_lm.d_model, "resid_post.1"), store, n_contexts=4,
                               progress=False)
    assert spl.loss_recovered == pytest.approx(1.0, abs=1e-3) and spl.source.startswith("held out")
    with pytest.raises(CorpusError, match="hold only"):
        heldout_contexts(store, tiny_lm.tokenizer, 10_000)
