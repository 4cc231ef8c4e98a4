"""The converted GlassLM must be the same model as glassllm's own NumPy one: same ids, same logits."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

glassllm = pytest.importorskip("glassllm")

# The opening of Alice's Adventures in Wonderland (public domain): the text GlassLM was trained on.
ALICE = ("Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing "
         "to do: once or twice she had peeped into the book her sister was reading, but it had no pictures "
         "or conversations in it, \u2018and what is the use of a book,\u2019 thought Alice \u2018without "
         "pictures or conversations?\u2019\n\nSo she was considering in her own mind (as well as she could, "
         "for the hot day made her feel very sleepy and stupid), whether the pleasure of making a "
         "daisy-chain would be worth the trouble of getting up and picking the daisies, when suddenly a "
         "White Rabbit with pink eyes ran close by her.")

TRICKY = ["", " ", "  two  spaces  ", "\n\nnew\nlines\n", "tab\there", "e\u0301cole caf\u00e9 (NFC)",
          "\u00c6sop \u00f9 \u2014 \u201cquoted\u201d", "emoji \U0001F600 unknown", "\u2581literal\u2581marker",
          "aaaaaaa", "the the the", "'Curiouser and curiouser!' cried Alice", "1865: 42 [chapter I]"]



@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add contention (100x slower on a busy 2-core box)."""
    import contextlib

    try:  # the NumPy reference forward goes through BLAS, which has its own thread pool
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = lambda limits: contextlib.nullcontext()  # noqa: E731
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)

@pytest.fixture(scope="module")
def reference():
    return glassllm.load_pretrained("en")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from monoscope.models.glassllm import build_glassllm

    out = tmp_path_factory.mktemp("glassllm") / "model"
    build_glassllm(out)
    return AutoModelForCausalLM.from_pretrained(out).eval(), AutoTokenizer.from_pretrained(out), out


def _glass_logits(model, ids: list[list[int]]) -> np.ndarray:
    from glassllm import no_grad

    with no_grad():
        return model.forward(np.asarray(ids)).data


def test_directory_is_a_plain_llama(converted):
    model, tok, out = converted
    assert (Path(out) / "config.json").exists() and (Path(out) / "model.safetensors").exists()
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.vocab_size) == (4, 128, 1024)
    assert len(tok) == 1024
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == ("<bos>", "<eos>", "<pad>", "<unk>")
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (2, 3, 0)
    assert (model.config.bos_token_id, model.config.eos_token_id) == (2, 3)


def test_tokenizer_ids_match_glassllm(reference, converted):
    _, gtok = reference
    _, tok, _ = converted
    for text in [ALICE, *TRICKY]:
        assert tok(text)["input_ids"] == gtok.encode(text), repr(text)
    # Random strings over the alphabet, spaces and a few unknown characters: merge order and chunking.
    rng = random.Random(0)
    chars = gtok.alphabet + [" "] * 15 + ["\t", "\u00e9", "\u0301", "\u00df"]
    for _ in range(300):
        text = "".join(rng.choice(chars) for _ in range(rng.randint(0, 40)))
        assert tok(text)["input_ids"] == gtok.encode(text), repr(text)


def test_tokenizer_round_trip(reference, converted):
    _, gtok = reference
    _, tok, _ = converted
    ids = tok(ALICE)["input_ids"]
    assert tok.decode(ids) == gtok.decode(ids) == ALICE


def test_logits_match_glassllm_numpy_forward(reference, converted):
    gmodel, gtok = reference
    model, _, _ = converted
    ids = gtok.encode(ALICE)
    assert len(ids) > gmodel.cfg.max_len
    batch = [ids[:gmodel.cfg.max_len], ids[-gmodel.cfg.max_len:]]  # every position up to max_len
    ref = _glass_logits(gmodel, batch)
    with torch.no_grad():
        got = model(input_ids=torch.tensor(batch)).logits.numpy()
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-4
    # Not vacuous: the model is a trained one, so it predicts the real text far better than chance.
    logp = torch.log_softmax(torch.from_numpy(ref[0, :-1]), -1)
    nll = -logp.gather(1, torch.tensor(batch[0][1:])[:, None]).mean().item()
    assert nll < 0.7 * np.log(1024)


def test_load_embedded_glassllm(monkeypatch, tmp_path, reference):
    from monoscope.models import load

    monkeypatch.setenv("MONOSCOPE_CACHE", str(tmp_path / "cache"))
    lm = load("glassllm")
    assert (tmp_path / "cache" / "models" / "glassllm-en" / "config.json").exists()
    assert lm.kind == "causal" and lm.n_layers == 4 and lm.d_model == 128
    assert lm.default_hook() == "resid_post.2"
    gmodel, gtok = reference
    ids = gtok.encode("Alice was beginning to get very tired")
    assert lm.tokenizer("Alice was beginning to get very tired")["input_ids"] == ids
    got = lm.hooked.run_to("resid_post.3", input_ids=torch.tensor([ids]))
    assert set(got) == {"resid_post.3"} and got["resid_post.3"].shape == (1, len(ids), 128)
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([ids])).logits.numpy()
    assert np.abs(logits - _glass_logits(gmodel, [ids])).max() < 1e-4
    # A second load reads the cache instead of converting again.
    import monoscope.models.glassllm as conv

    monkeypatch.setattr(conv, "build_glassllm", lambda out: pytest.fail("converted twice"))
    assert load("glassllm").source == "embedded:glassllm"
