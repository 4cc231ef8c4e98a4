"""Feature search: prompt ranking (summed / per token) against brute force, contrasts, token and text lookups."""
from __future__ import annotations

import pytest
import torch

from monoscope.features import FeatureDBError, FeatureSearch
from tests.conftest import random_sae

from .test_features_index import HOOK, db, sae, store  # noqa: F401  (module fixtures)

PROMPT = "In the beginning God created the heavens and the earth ."


@pytest.fixture(scope="module")
def search(tiny_lm, sae, db):  # noqa: F811
    return FeatureSearch(tiny_lm, sae, db)


def _brute(tiny_lm, sae, text, first: int = 1):  # noqa: F811
    ids = tiny_lm.tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        h = tiny_lm.model(input_ids=ids, output_hidden_states=True).hidden_states[2][0]
    f = sae.encode(h)
    f[torch.isin(ids[0], torch.tensor(tiny_lm.tokenizer.all_special_ids))] = 0  # BOS etc.
    ordinary = [j for j, i in enumerate(ids[0].tolist()) if i not in tiny_lm.tokenizer.all_special_ids]
    f[ordinary[:first]] = 0  # the first ordinary token(s) (attention sink), excluded by default
    return f


def test_summed_and_token_ranking_match_brute_force(search, tiny_lm, sae):  # noqa: F811
    f = _brute(tiny_lm, sae, PROMPT)
    hits = search.active(PROMPT, mode="summed", k=10)
    want = torch.argsort(f.sum(0), descending=True, stable=True)[:10]
    assert [h.feature for h in hits] == [int(i) for i in want if f.sum(0)[i] > 0]
    assert hits[0].score == pytest.approx(float(f.sum(0).max()), rel=1e-5)
    assert hits[0].token == search.db.token_text([tiny_lm.tokenizer(PROMPT).input_ids[hits[0].position]])[0]
    tok = search.active(PROMPT, mode="token", k=10)
    want = torch.argsort(f.max(0).values, descending=True, stable=True)[:10]
    assert [h.feature for h in tok] == [int(i) for i in want]
    dens = {r["feature"]: r["density"] for r in search.db.list_features(limit=100)}
    cut = sorted(dens.values())[len(dens) // 2]
    sparse = search.active(PROMPT, k=10, max_density=cut)
    assert sparse and all(dens[h.feature] <= cut for h in sparse)
    assert [h.feature for h in sparse] == [h.feature for h in search.active(PROMPT, k=48)
                                           if dens[h.feature] <= cut][:10]
    f1 = _brute(tiny_lm, sae, PROMPT, first=2)  # skip_first=2: the first two ordinary tokens
    skip = search.active(PROMPT, k=10, skip_first=2)
    assert [h.feature for h in skip] == [int(i) for i in torch.argsort(f1.sum(0), descending=True, stable=True)[:10]
                                         if f1.sum(0)[i] > 0]
    page2 = search.active(PROMPT, k=5, offset=5)
    assert [h.feature for h in page2] == [h.feature for h in hits[5:10]]
    assert hits[0].max_act == pytest.approx(search.db.feature(hits[0].feature)["max_act"])
    # normalised ranking divides by each feature's corpus max
    norm = search.active(PROMPT, k=5, normalize=True)
    ma = search.db.max_acts()
    s = torch.where(ma > 0, f / ma.clamp_min(1e-12), torch.zeros_like(f)).sum(0)  # dead features: no scale
    assert [h.feature for h in norm] == torch.argsort(s, descending=True, stable=True)[:5].tolist()


def test_per_token(search, tiny_lm, sae):  # noqa: F811
    f = _brute(tiny_lm, sae, PROMPT)
    out = search.per_token(PROMPT, [3, 7])
    assert len(out["tokens"]) == f.shape[0]
    assert torch.allclose(torch.tensor(out["acts"]), f[:, [3, 7]], atol=1e-6)
    with pytest.raises(FeatureDBError, match="out of range"):
        search.per_token(PROMPT, [999])


def test_contrast_intersects_and_subtracts(search, tiny_lm, sae):  # noqa: F811
    pos = [PROMPT, "And God said , let there be light and the earth was good ."]
    neg = ["def main ( ) : return 42 ."]
    fp = [_brute(tiny_lm, sae, p).sum(0) for p in pos]
    fn = _brute(tiny_lm, sae, neg[0]).sum(0)
    both = (fp[0] > 0) & (fp[1] > 0)
    expected = torch.where(both, (fp[0] + fp[1]) / 2, torch.zeros_like(fp[0])) - fn
    hits = search.contrast(pos, neg, k=48)
    assert [h.feature for h in hits] == [int(i) for i in torch.argsort(expected, descending=True, stable=True)
                                         if expected[i] > 0]
    assert all(both[h.feature] for h in hits)
    excl = search.contrast(pos, neg, negative_mode="exclude", k=48)
    assert excl and all(fn[h.feature] == 0 and both[h.feature] for h in excl)
    loose = search.contrast(pos, require_all=False, k=48)
    assert len(loose) >= len(search.contrast(pos, k=48))


def test_by_token_and_by_explanation(search, db):  # noqa: F811
    # input side: features whose top examples peak on a token
    ex = [e for e in db.examples(int(db.list_features(order="density", limit=1)[0]["feature"]), "top")]
    tok = db.vocab[ex[0]["tokens"][ex[0]["token_index"] - ex[0]["start"]]]
    hits = search.by_token(tok)
    assert hits and all(0 < h["score"] <= 1 for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    # output side: features whose top logit tokens include it
    page = db.feature(5)
    out = search.by_token(page["top_logit_ids"][0], side="output", k=100)
    assert 5 in [h["feature"] for h in out]
    assert search.by_explanation("anything") == []
    db.add_explanations([{"feature": 2, "explanation": "the word God in scripture", "specificity": 2.5},
                         {"feature": 9, "explanation": "Python code: def and return", "specificity": 1.0},
                         {"feature": 4, "explanation": "scripture about the earth"}])
    res = search.by_explanation("God scripture")
    assert [r["feature"] for r in res][:2] == [2, 4]
    assert search.by_explanation("python")[0]["feature"] == 9
    assert db.feature(2)["explanation"] == "the word God in scripture"


def test_search_refuses_mismatched_sae(tiny_lm, db, store):  # noqa: F811
    other = random_sae(store.d_model, 48, HOOK, seed=9)
    with pytest.raises(FeatureDBError, match="built from SAE"):
        FeatureSearch(tiny_lm, other, db)
    s = FeatureSearch(tiny_lm, other)  # no database: prompt search still works
    assert s.active(PROMPT, k=3)
    with pytest.raises(FeatureDBError, match="needs the feature database"):
        s.by_token("God")


def test_first_position_is_excluded_by_default_and_kept_on_request(search, tiny_lm, sae):  # noqa: F811
    """The first position (attention sink) must not score unless asked: broken = it ranks like any token."""
    text = "God created the heavens"  # this tokenizer adds no BOS: position 0 is an ordinary token
    ids = tiny_lm.tokenizer(text).input_ids
    assert ids[0] not in tiny_lm.tokenizer.all_special_ids
    f = _brute(tiny_lm, sae, text, first=0)
    enc = search.encode(text)
    assert enc.special[0] and torch.all(enc.acts[0] == 0)
    torch.testing.assert_close(enc.acts[1:], f[1:])
    kept = search.encode(text, skip_first=0, sink_ratio=0)
    torch.testing.assert_close(kept.acts, f)
    best = int(f[0].argmax())  # a feature strongest at position 0
    hits = {h.feature: h for h in search.active(text, mode="token", k=48, skip_first=0, sink_ratio=0)}
    assert hits[best].position == 0 or f[1:, best].max() >= f[0, best]
    for h in search.active(text, mode="token", k=48):
        assert h.position != 0
    table = search.per_token(text, [best])
    assert table["excluded"][0] and table["acts"][0] == [0.0]


def test_attention_sinks_are_excluded_by_norm(search, tiny_lm, sae):  # noqa: F811
    """A token whose residual norm is over the sink threshold scores nothing, wherever it is (broken: a
    sink in mid-prompt would top every ranking). The threshold is the database's (from the corpus)."""
    text = "God created the heavens and the earth"
    enc = search.encode(text, skip_first=0)
    assert not any(enc.special)  # no sink in this prompt at the database's threshold
    ids = torch.tensor([tiny_lm.tokenizer(text).input_ids])
    with torch.no_grad():
        norms = tiny_lm.hooked.run_to([search.hook], input_ids=ids)[search.hook][0].norm(dim=-1)
    limit = search.sink_norm(10.0)
    assert limit == pytest.approx(search.db.manifest["excluded"]["sink_norm"])
    low = float(norms.min()) * 0.999          # a threshold that turns every token into a "sink"
    ratio = 10.0 * low / limit
    assert all(search.encode(text, skip_first=0, sink_ratio=ratio).special)
