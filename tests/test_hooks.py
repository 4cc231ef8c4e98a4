"""Uniform hook points mean the same thing in every family we support.

Each family is a tiny random model built from its transformers config class, so these tests check the
real module layout of the installed transformers, not a mock of it. The ground truth is HF's own
`output_hidden_states`: entry L is the input of block L and entry L+1 its output, except that decoder
families replace the last entry with the final norm applied to it (checked below, not assumed).
"""
from __future__ import annotations

import functools

import pytest
import torch
import transformers as T

from monoscope.models import HookedModel, HookPointError, ModelNotFoundError, load

V, SEQ = 101, 10
ATTN = dict(num_attention_heads=4, num_key_value_heads=2)



@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add contention (100x slower on a busy 2-core box)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

def _llama_like(config_cls, model_cls, **extra):
    def build():
        return model_cls(config_cls(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                    max_position_embeddings=64, **ATTN, **extra))
    return build


FAMILIES = {
    "llama": _llama_like(T.LlamaConfig, T.LlamaForCausalLM),
    "mistral": _llama_like(T.MistralConfig, T.MistralForCausalLM, sliding_window=4),
    "qwen2": _llama_like(T.Qwen2Config, T.Qwen2ForCausalLM),
    "qwen3": _llama_like(T.Qwen3Config, T.Qwen3ForCausalLM, head_dim=8),
    # Sliding window shorter than the sequence, so local and global layers really differ.
    "gemma2": _llama_like(T.Gemma2Config, T.Gemma2ForCausalLM, head_dim=8, sliding_window=4),
    "gemma3": _llama_like(T.Gemma3TextConfig, T.Gemma3ForCausalLM, head_dim=8, sliding_window=4),
    "gpt2": lambda: T.GPT2LMHeadModel(T.GPT2Config(vocab_size=V, n_embd=32, n_layer=3, n_head=4, n_positions=64,
                                                   bos_token_id=0, eos_token_id=0)),
    "gpt_neox": lambda: T.GPTNeoXForCausalLM(T.GPTNeoXConfig(
        vocab_size=V, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=64, use_parallel_residual=True, bos_token_id=0, eos_token_id=0)),
    "gpt_neox_sequential": lambda: T.GPTNeoXForCausalLM(T.GPTNeoXConfig(
        vocab_size=V, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=64, use_parallel_residual=False, bos_token_id=0, eos_token_id=0)),
    "bert": lambda: T.BertModel(T.BertConfig(vocab_size=V, hidden_size=64, intermediate_size=128,
                                             num_hidden_layers=2, num_attention_heads=4,
                                             max_position_embeddings=64)),
}
# Where HF's last hidden_states entry is the final norm of the last block's output (None: it is not).
FINAL_NORM = {"llama": "model.norm", "mistral": "model.norm", "qwen2": "model.norm", "qwen3": "model.norm",
              "gemma2": "model.norm", "gemma3": "model.norm", "gpt2": "transformer.ln_f",
              "gpt_neox": "gpt_neox.final_layer_norm", "gpt_neox_sequential": "gpt_neox.final_layer_norm",
              "bert": None}
PRE_NORM = [f for f in FAMILIES if f != "bert"]  # block output = input + attn_out + mlp_out


@functools.cache
def _model(family: str) -> HookedModel:
    torch.manual_seed(0)
    model = FAMILIES[family]().eval()
    with torch.no_grad():  # random init gives Gemma zero-centred norms (weight 0 = identity); perturb them
        for name, p in model.named_parameters():
            if "norm" in name and p.ndim == 1:
                p.add_(0.1 * torch.randn_like(p))
    return HookedModel(model)


def _ids(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, V, (2, SEQ), generator=torch.Generator().manual_seed(seed))


def _out(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(input_ids=ids)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def _full_capture(h: HookedModel, ids: torch.Tensor):
    with torch.no_grad(), h.capture(h.points) as cache:
        out = h.model(input_ids=ids, output_hidden_states=True)
    return cache, out.hidden_states


def _hook_count(model) -> int:
    """Registered hooks after a warm-up forward: HF installs its own output-recording hooks the first
    time hidden states are requested, so tests compare counts rather than expect none."""
    with torch.no_grad():
        model(input_ids=_ids(), output_hidden_states=True)
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("family", FAMILIES)
def test_resid_sites_match_hidden_states(family):
    h = _model(family)
    hooks_before = _hook_count(h.model)
    cache, hs = _full_capture(h, _ids())
    assert len(hs) == h.n_layers + 1 and len(cache) == 4 * h.n_layers
    for layer in range(h.n_layers):
        torch.testing.assert_close(cache[f"resid_pre.{layer}"], hs[layer], rtol=0, atol=0)
        if layer + 1 < h.n_layers:
            torch.testing.assert_close(cache[f"resid_post.{layer}"], hs[layer + 1], rtol=0, atol=0)
            # Nothing sits between blocks: one block's output is the next block's input.
            torch.testing.assert_close(cache[f"resid_post.{layer}"], cache[f"resid_pre.{layer + 1}"], rtol=0, atol=0)
    last = cache[f"resid_post.{h.n_layers - 1}"]
    norm_path = FINAL_NORM[family]
    if norm_path is None:  # BERT: no final norm, the last entry is the last block's output
        torch.testing.assert_close(last, hs[-1], rtol=0, atol=0)
    else:  # decoders: HF reports the *normed* stream last, so resid_post.last is the pre-norm value
        assert not torch.allclose(last, hs[-1], atol=1e-3)
        with torch.no_grad():
            normed = h.model.get_submodule(norm_path)(last)
        torch.testing.assert_close(normed, hs[-1], rtol=1e-5, atol=1e-5)
    assert _hook_count(h.model) == hooks_before


@pytest.mark.parametrize("family", PRE_NORM)
def test_attn_and_mlp_out_rebuild_the_residual(family):
    """Pre-norm (and Gemma's sandwich-norm, and NeoX's parallel) blocks add exactly these two tensors."""
    h = _model(family)
    cache, _ = _full_capture(h, _ids())
    for layer in range(h.n_layers):
        pre, attn, mlp = (cache[f"{k}.{layer}"] for k in ("resid_pre", "attn_out", "mlp_out"))
        assert attn.shape == mlp.shape == pre.shape
        assert attn.abs().max() > 1e-4 and mlp.abs().max() > 1e-4
        torch.testing.assert_close(pre + attn + mlp, cache[f"resid_post.{layer}"], rtol=1e-5, atol=1e-5)


def test_bert_post_ln_sites():
    """BERT is post-LN: attn_out/mlp_out are what enters each residual add, before its LayerNorm."""
    h = _model("bert")
    cache, _ = _full_capture(h, _ids())
    for layer, block in enumerate(h.layers):
        pre, attn, mlp = (cache[f"{k}.{layer}"] for k in ("resid_pre", "attn_out", "mlp_out"))
        with torch.no_grad():
            mid = block.attention.output.LayerNorm(pre + attn)
            post = block.output.LayerNorm(mid + mlp)
        torch.testing.assert_close(post, cache[f"resid_post.{layer}"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_run_to_stops_after_deepest_site(family):
    h = _model(family)
    ids = _ids(1)
    hooks_before = _hook_count(h.model)
    fired: list[int] = []
    handles = [block.register_forward_pre_hook(lambda m, a, i=i: fired.append(i)) for i, block in enumerate(h.layers)]
    try:
        got = h.run_to(["resid_post.0", "mlp_out.0"], input_ids=ids)
    finally:
        for handle in handles:
            handle.remove()
    assert fired == [0]  # block 1 never ran
    assert set(got) == {"resid_post.0", "mlp_out.0"}
    with torch.no_grad():
        hs = h.model(input_ids=ids, output_hidden_states=True).hidden_states
    torch.testing.assert_close(got["resid_post.0"], hs[1], rtol=0, atol=0)
    assert _hook_count(h.model) == hooks_before
    # A resid_pre site is read before its block runs, so the block itself is skipped too.
    fired.clear()
    handles = [block.register_forward_hook(lambda m, a, o, i=i: fired.append(i)) for i, block in enumerate(h.layers)]
    try:
        got = h.run_to("resid_pre.1", input_ids=ids)
    finally:
        for handle in handles:
            handle.remove()
    assert fired == [0]
    torch.testing.assert_close(got["resid_pre.1"], hs[1], rtol=0, atol=0)


@pytest.mark.parametrize("bad", ["resid_post.99", "resid_mid.0", "mlp_out", "blocks.0.hook_resid_post", ""])
def test_unknown_hook_point_lists_valid_points(bad):
    h = _model("llama")
    hooks_before = _hook_count(h.model)
    with pytest.raises(HookPointError) as info:
        h.parse(bad)
    msg = str(info.value)
    assert repr(bad) in msg and "resid_pre.0" in msg and "mlp_out.2" in msg and "resid_post.2" in msg
    with pytest.raises(HookPointError):
        with h.hooks({bad: lambda x: None}):
            pass
    with pytest.raises(HookPointError):  # a bad name after a good one must not leave the good one behind
        with h.hooks({"resid_post.0": torch.zeros_like, bad: lambda x: None}):
            pass
    with pytest.raises(HookPointError):
        h.run_to(bad, input_ids=_ids())
    assert _hook_count(h.model) == hooks_before
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("family", FAMILIES)
def test_intervention_changes_output_and_removal_restores_it(family):
    h = _model(family)
    ids = _ids(2)
    base = _out(h.model, ids)
    hooks_before = _hook_count(h.model)
    shift = torch.randn(h.d_model, generator=torch.Generator().manual_seed(3))
    with h.hooks({"resid_post.0": lambda x: x + shift}):
        steered = _out(h.model, ids)
    assert not torch.allclose(steered, base, atol=1e-4)
    # Rewriting block 0's output is the same as rewriting block 1's input.
    with h.hooks({"resid_pre.1": lambda x: x + shift}):
        torch.testing.assert_close(_out(h.model, ids), steered, rtol=0, atol=0)
    assert _hook_count(h.model) == hooks_before
    assert torch.equal(_out(h.model, ids), base)


@pytest.mark.parametrize("family", PRE_NORM)
def test_replacing_attn_out_is_what_the_residual_receives(family):
    """A rewrite of attn_out must reach the residual add, whatever the attention module returns (tuple or not)."""
    h = _model(family)
    ids = _ids(4)
    base = _out(h.model, ids)
    with h.hooks({"attn_out.1": torch.zeros_like}), torch.no_grad(), \
            h.capture(["resid_pre.1", "attn_out.1", "mlp_out.1", "resid_post.1"]) as c:
        ablated = _out(h.model, ids)
    assert torch.equal(c["attn_out.1"], torch.zeros_like(c["attn_out.1"]))
    torch.testing.assert_close(c["resid_pre.1"] + c["mlp_out.1"], c["resid_post.1"], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ablated, base, atol=1e-4)
    assert torch.equal(_out(h.model, ids), base)


def test_points_and_middle():
    h = _model("llama")
    assert h.points[:4] == ["resid_pre.0", "attn_out.0", "mlp_out.0", "resid_post.0"]
    assert len(h.points) == 12 and h.middle() == "resid_post.1"
    assert [p.name for p in h.parse_many("resid_post.1, attn_out.0,resid_pre.1")] == \
        ["attn_out.0", "resid_pre.1", "resid_post.1"]


def test_unknown_hub_id_offline_mentions_network(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MONOSCOPE_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # so "does/not-exist" cannot be a local directory
    with pytest.raises(ModelNotFoundError) as info:
        load("does/not-exist")
    msg = str(info.value)
    assert "does/not-exist" in msg and "network" in msg


def test_directory_without_config_is_rejected(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="config.json"):
        load(str(tmp_path))
