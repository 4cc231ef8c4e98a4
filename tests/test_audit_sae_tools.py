"""SAE audit tools: summed vs per-token ranking, paging, contrast, the assistant-token scan."""
from __future__ import annotations

import pytest
import torch

from monoscope.audit.sae_tools import SAEProbe
from tests.conftest import random_sae


def test_active_features_rank_and_page(tiny_chat_lm):
    sae = random_sae(tiny_chat_lm.d_model, 64, "resid_post.1", bias=-0.05)
    probe = SAEProbe(tiny_chat_lm, sae)
    ids = tiny_chat_lm.tokenizer("Alice was beginning to get very tired", return_tensors="pt").input_ids[0]
    f = probe.features(ids)[1:]
    top = probe.active_features(ids, page_size=5)
    assert [h.feature for h in top] == torch.argsort(f.sum(0), descending=True)[:5].tolist()
    page2 = probe.active_features(ids, page=1, page_size=5)
    assert not {h.feature for h in top} & {h.feature for h in page2}
    tok = probe.active_features(ids, mode="token", page_size=3)
    assert tok[0].score == f.max().item() and tok[0].token is not None


def test_assistant_token_scan_threshold(tiny_chat_lm):
    sae = random_sae(tiny_chat_lm.d_model, 64, "resid_post.1", bias=-0.05)
    sae.b_enc.data[7] = 100.0   # a feature that is always on
    sae.b_enc.data[8] = -100.0  # one that never fires
    probe = SAEProbe(tiny_chat_lm, sae)
    hits = probe.assistant_token_scan(["hello there", "what is a rabbit hole?"])
    feats = {h.feature for h in hits}
    assert 7 in feats and 8 not in feats and all(h.score > 0.9 for h in hits)
    contrast = probe.contrast([probe.chat_ids([{"role": "user", "content": "Alice"}])],
                              [probe.chat_ids([{"role": "user", "content": "the bank"}])])
    assert all(h.score > 0 for h in contrast)


def test_sae_for_another_model_or_layer_is_refused(tiny_chat_lm):
    from monoscope.models import HookPointError
    from monoscope.steer import SpliceError

    with pytest.raises(SpliceError, match="trained on another model"):
        SAEProbe(tiny_chat_lm, random_sae(tiny_chat_lm.d_model + 1, 8, "resid_post.1", bias=-0.05))
    with pytest.raises(HookPointError, match="valid points"):
        SAEProbe(tiny_chat_lm, random_sae(tiny_chat_lm.d_model, 8, "resid_post.9", bias=-0.05))
    other = random_sae(tiny_chat_lm.d_model, 8, "resid_post.1", bias=-0.05)
    other.cfg.model = "some-org/another-model"
    with pytest.raises(SpliceError, match="trained on 'some-org/another-model'"):
        SAEProbe(tiny_chat_lm, other)
