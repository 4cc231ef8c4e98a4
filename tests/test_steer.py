"""Splice exactness, clamping at the hook, attribution vs finite-difference ablation, SE_α, fuzzing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from monoscope.steer import (DirectionAdd, SpliceError, Steerer, ablation_effects, attribute, clamp,
                             diff_of_means, fuzz, logit_diff, steering_effects)
from tests.conftest import random_sae


@pytest.fixture(scope="module")
def steerer(tiny_lm):
    sae = random_sae(tiny_lm.d_model, 64, "resid_post.1", bias=-0.05)
    return Steerer(tiny_lm, sae)


def _ids(lm, text="In the beginning God created the heavens and the earth ."):
    return lm.tokenizer(text, return_tensors="pt").input_ids


def test_splice_without_intervention_is_exact(steerer, tiny_lm):
    ids = _ids(tiny_lm)
    with torch.no_grad():
        plain = tiny_lm.model(input_ids=ids).logits
    assert torch.equal(steerer.logits(ids), plain.float())
    # A clamp to the feature's own current value also changes nothing (exactly x + 0).
    assert torch.equal(steerer.logits(ids, [clamp(3, 0.0, positions=[])]), plain.float())


def test_generation_stops_at_its_time_limit_and_says_so(steerer, tiny_lm):
    """With max_time=0 decoding stops after its first token and `stopped_by_time` is set; without a limit the
    same call decodes all tokens and the flag is clear. Breaks if the deadline is ignored or never reported."""
    full = steerer.generate("In the beginning", chat=False, max_new_tokens=12)
    assert not steerer.stopped_by_time
    cut = steerer.generate("In the beginning", chat=False, max_new_tokens=12, max_time=0.0)
    assert steerer.stopped_by_time
    n = lambda t: len(tiny_lm.tokenizer(t, add_special_tokens=False).input_ids)
    assert n(cut[0]) < n(full[0]) and full[0].startswith(cut[0])
    steerer.generate("In the beginning", chat=False, max_new_tokens=2, max_time=60.0)
    assert not steerer.stopped_by_time


def test_generation_progress_bar_counts_new_tokens(steerer, capsys):
    """The `monoscope steer` progress bar ticks once per generated token (not the prompt) and leaves the
    output unchanged. Breaks if the streamer counts the prompt as a token or is never called."""
    quiet = steerer.generate("In the beginning", chat=False, max_new_tokens=8)
    capsys.readouterr()
    shown = steerer.generate("In the beginning", chat=False, max_new_tokens=8, progress=True, desc="gen")
    err = capsys.readouterr().err
    assert shown == quiet
    assert "gen: 100%" in err and "8/8" in err and "9/8" not in err


def test_clamp_sets_activation_at_hook(steerer, tiny_lm):
    ids = _ids(tiny_lm)
    steerer.max_acts = torch.full((64,), 2.0)
    try:
        with torch.no_grad(), tiny_lm.hooked.capture(["resid_post.1"]) as clean:
            tiny_lm.model(input_ids=ids)
        with torch.no_grad(), steerer.intervene([clamp([5, 9], 3.0)], record=True) as plan:
            with tiny_lm.hooked.capture(["resid_post.1"]) as edited:  # registered after: sees the edit
                tiny_lm.model(input_ids=ids)
    finally:
        steerer.max_acts = None
    # The SAE latents used at the hook are exactly 3 × max activation (2.0) = 6.0 everywhere ...
    latents = plan.record[0]
    assert torch.equal(latents[0, :, [5, 9]], torch.full_like(latents[0, :, [5, 9]], 6.0))
    # ... and the residual moved by exactly (6 − f_i)·d_i per feature, the rest of x (error term) kept.
    f = steerer.sae.encode(clean["resid_post.1"])
    W = steerer.sae.W_dec.detach()
    expected = clean["resid_post.1"] + (6.0 - f[..., [5, 9]]) @ W[[5, 9]]
    torch.testing.assert_close(edited["resid_post.1"], expected, atol=1e-5, rtol=1e-5)


def test_generation_with_clamp_differs_and_plain_is_unchanged(steerer, tiny_lm):
    """Catches a splice that perturbs the model when nothing is clamped (x̂ + error must be exactly x): the
    Steerer's generation without interventions equals the bare model's greedy generation, token for token;
    and a large clamp changes it."""
    prompt = "In the beginning"
    ids = tiny_lm.tokenizer(prompt, return_tensors="pt").input_ids
    plain = tiny_lm.model.generate(input_ids=ids, max_new_tokens=8, do_sample=False, pad_token_id=3)
    text = tiny_lm.tokenizer.decode(plain[0, ids.shape[1]:], skip_special_tokens=True)
    spliced = steerer.generate(prompt, chat=False, max_new_tokens=8)
    assert text.strip() and spliced[0] == text
    steered = steerer.generate(prompt, [clamp(list(range(64)), 50.0)], chat=False, max_new_tokens=8)
    assert steered[0] != spliced[0]


def test_attribution_matches_finite_difference_ablation(tiny_lm):
    sae = random_sae(tiny_lm.d_model, 48, "resid_post.0", seed=1, bias=0.0)
    st = Steerer(tiny_lm, sae)
    ids = _ids(tiny_lm)
    metric = logit_diff(tiny_lm.tokenizer, "earth", "waters")
    res = attribute(st, ids, metric, top=48)
    # Ablation of a feature scaled down by ε is linear for small ε: compare attribution to the true
    # finite-difference derivative, feature by feature, on the positions attribution counts (all but the
    # first token: the attention sink is left out by default).
    clean = metric(st.logits(ids)).item()
    eps = 1e-3
    from monoscope.steer import scale
    counted = list(range(1, ids.shape[1]))
    for f, a in zip(res.features[:10], res.attribution[:10]):
        fd = (clean - metric(st.logits(ids, [scale(int(f), 1 - eps, positions=counted)])).item()) / eps
        assert fd == pytest.approx(a, rel=2e-2, abs=1e-4)
    corr = res.correlations()
    assert corr["attribution"] > 0.5


def test_ablation_effects_batched_equals_one_at_a_time(steerer, tiny_lm):
    ids = _ids(tiny_lm)
    metric = logit_diff(tiny_lm.tokenizer, "earth", "waters")
    feats = [1, 2, 3, 7, 11]
    batched = ablation_effects(steerer, ids, metric, feats, batch_size=4)
    single = [ablation_effects(steerer, ids, metric, [f], batch_size=1)[0] for f in feats]
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_steering_effect_zero_for_inactive_and_sorted(steerer, tiny_lm):
    p, c = _ids(tiny_lm, "In the beginning"), _ids(tiny_lm, "God created")
    effects = steering_effects(steerer, p, c, features=list(range(64)), alpha=4.0, batch_size=16)
    assert len(effects) == 64
    mags = [abs(e.effect) for e in effects]
    assert mags == sorted(mags, reverse=True) and mags[0] > 0
    f = steerer.sae.encode(tiny_lm.hooked.run_to(["resid_post.1"], input_ids=p)["resid_post.1"])[0]
    inactive = set(torch.nonzero(f.sum(0) == 0).flatten().tolist())
    assert all(e.effect == 0.0 for e in effects if e.feature in inactive)


def test_fuzz_and_diff_of_means(steerer, tiny_lm):
    samples = fuzz(steerer, "In the beginning", alphas=(0, 8), n_vectors=2, samples_per_vector=1,
                   max_new_tokens=5, chat=False)
    assert len(samples) == 3 and {s["alpha"] for s in samples} == {0, 8}
    v = diff_of_means(steerer, ["God created the heavens"], ["the lazy dog"])
    assert v.shape == (tiny_lm.d_model,) and v.norm() > 0
    out = steerer.generate("In the beginning", adds=[DirectionAdd(v, 4.0)], chat=False, max_new_tokens=5)
    assert isinstance(out[0], str)


def test_sae_for_another_model_is_refused(tiny_lm):
    with pytest.raises(SpliceError, match="width 16 does not match"):
        Steerer(tiny_lm, random_sae(16, 8, "resid_post.1", bias=-0.05))
    from monoscope.models import HookPointError
    with pytest.raises(HookPointError, match="valid points"):
        Steerer(tiny_lm, random_sae(tiny_lm.d_model, 8, "resid_post.7", bias=-0.05))


def test_chat_without_template_is_a_clear_error(steerer):
    with pytest.raises(ValueError, match="no chat template"):
        steerer.generate("hello", chat=True)


def test_steer_and_attribute_take_model_and_hook_from_the_sae_cfg(tmp_path):
    """No --model / --hook: the SAE's cfg names glassllm and resid_post.1. The old hard-coded default
    (smollm2-135m) fails this with a width mismatch."""
    from typer.testing import CliRunner

    from monoscope.cli import app
    from monoscope.models import load
    from monoscope.sae import save_sae

    lm = load("glassllm")
    sae = random_sae(lm.d_model, 16, "resid_post.1", model=lm.name)
    save_sae(sae, tmp_path / "sae")
    r = CliRunner().invoke(app, ["steer", "the cat", "--clamp", "3=2", "--sae", str(tmp_path / "sae"),
                                 "--max-new-tokens", "2", "--no-chat"])
    assert r.exit_code == 0, (r.output, r.exception)
    assert "steered: 3=2" in r.output
    r = CliRunner().invoke(app, ["attribute", "the cat", "--good", "a", "--bad", "the", "--sae",
                                 str(tmp_path / "sae"), "--top", "3"])
    assert r.exit_code == 0, (r.output, r.exception)


def test_token_probability_shift_is_unsteered_then_steered(steerer):
    """Catches a shift whose baseline is computed with the edits (or the steered side without them): with no
    edit both sides equal (the splice is exact); with a clamp the steered side is the clamped probability."""
    from monoscope.steer import token_probability, token_probability_shift

    prompts, ids = ["In the beginning God created", "and the earth was"], [3, 5, 7, 11]
    base, same = token_probability_shift(steerer, prompts, ids, chat=False)
    assert base == pytest.approx(same, abs=1e-7) and 0 < base < 1
    edit = [clamp(1, 50.0)]
    base2, steered = token_probability_shift(steerer, prompts, ids, edit, chat=False)
    assert base2 == pytest.approx(base) and steered == token_probability(steerer, prompts, ids, edit, chat=False)
    assert steered != pytest.approx(base, abs=1e-9)
