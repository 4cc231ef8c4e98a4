"""Attribution in any dtype (bf16 models crashed), on any device, the context-length refusal, and batched
greedy generation (what measuring steering over many prompts uses) against one prompt at a time."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from monoscope.steer import Steerer, attribute, clamp, logit_diff
from monoscope.steer.splice import PromptTooLongError

from tests.conftest import random_sae

from .test_steer import _ids


@pytest.fixture(scope="module")
def bf16_lm():
    from monoscope.models import from_model

    from .conftest import make_tiny_llama, make_tokenizer

    tok = make_tokenizer()
    return from_model(make_tiny_llama(len(tok)).to(torch.bfloat16), tok, name="tiny-bf16")


def test_attribution_runs_on_a_bf16_model_and_agrees_with_fp32(bf16_lm, tiny_lm):
    """Broken: the fp32 leaf handed to a bf16 layer raised 'expected m1 and m2 to have the same dtype'.
    The bf16 result must rank features like the fp32 model does (same weights up to bf16 rounding)."""
    sae = random_sae(tiny_lm.d_model, 48, "resid_post.0", seed=1, bias=0.0)
    ids = _ids(tiny_lm)
    metric = logit_diff(tiny_lm.tokenizer, "earth", "waters")
    res16 = attribute(Steerer(bf16_lm, sae), ids, metric, top=48)
    assert res16.attribution.dtype == np.float32 and res16.ablation is not None
    corr = res16.correlations()
    assert corr["attribution"] > 0.5  # still a linear estimate of the ablation


def test_attribution_positions_mask_and_numpy_outputs(tiny_lm):
    """Attribution restricted to some positions equals the full attribution minus the other positions'
    share: the mask is built on the activations' device and only these rows count."""
    sae = random_sae(tiny_lm.d_model, 48, "resid_post.0", seed=1, bias=0.0)
    st = Steerer(tiny_lm, sae)
    ids = _ids(tiny_lm)
    metric = logit_diff(tiny_lm.tokenizer, "earth", "waters")
    full = attribute(st, ids, metric, top=48, ablate_top=0, positions=list(range(ids.shape[1])))
    first = attribute(st, ids, metric, top=48, ablate_top=0, positions=[0, 1, 2])
    rest = attribute(st, ids, metric, top=48, ablate_top=0, positions=list(range(3, ids.shape[1])))
    tot = {int(f): a for f, a in zip(full.features, full.attribution)}
    parts: dict[int, float] = {}
    for r in (first, rest):
        for f, a in zip(r.features, r.attribution):
            parts[int(f)] = parts.get(int(f), 0.0) + float(a)
    for f, a in tot.items():
        assert parts.get(f, 0.0) == pytest.approx(a, rel=2e-3, abs=1e-5)  # float32 sums in another order


@pytest.mark.gpu
def test_attribution_on_cuda(tiny_lm):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from monoscope.models import from_model

    from .conftest import make_tiny_llama

    lm = from_model(make_tiny_llama(len(tiny_lm.tokenizer)).cuda(), tiny_lm.tokenizer, name="tiny-cuda")
    sae = random_sae(lm.d_model, 48, "resid_post.0", seed=1, bias=0.0).cuda()
    res = attribute(Steerer(lm, sae), _ids(lm), logit_diff(lm.tokenizer, "earth", "waters"), top=10,
                    positions=[1, 2, 3])
    assert isinstance(res.attribution, np.ndarray) and len(res.ablation) == len(res.features)


def test_prompt_longer_than_the_context_is_one_clear_error(tiny_lm):
    st = Steerer(tiny_lm, random_sae(tiny_lm.d_model, 8, "resid_post.0", bias=0.0))
    limit = tiny_lm.model.config.max_position_embeddings
    ids = torch.ones((1, limit + 1), dtype=torch.long)
    with pytest.raises(PromptTooLongError, match=f"{limit + 1} tokens.*context of {limit}"):
        st.logits(ids)
    with pytest.raises(PromptTooLongError, match="plus 8 new tokens"):
        st.generate(" ".join(["God"] * (limit - 4)), chat=False, max_new_tokens=8)
    with pytest.raises(PromptTooLongError):
        attribute(st, ids, logit_diff(tiny_lm.tokenizer, "earth", "waters"))


def test_batched_generation_equals_one_prompt_at_a_time(tiny_lm):
    """Left padding must change nothing: same greedy tokens with and without a clamp (broken position ids
    or an unmasked pad would change them)."""
    sae = random_sae(tiny_lm.d_model, 16, "resid_post.1", seed=3, bias=0.0)
    st = Steerer(tiny_lm, sae, max_acts=torch.ones(16))
    prompts = ["In the beginning", "The quick brown fox jumps over", "God"]
    for edits in ([], [clamp(2, 3.0)]):
        batch = st.generate_batch(prompts, edits, max_new_tokens=6, chat=False, batch_size=3)
        single = [st.generate(p, edits, max_new_tokens=6, chat=False)[0] for p in prompts]
        assert batch == single
