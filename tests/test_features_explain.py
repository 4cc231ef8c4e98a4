"""Auto-interpretation: prompts, parsing, specificity/detection scoring, plots, persistence, backends."""
from __future__ import annotations

import re

import pytest

from monoscope.features.explain import (ExplainConfig, explain, explainer_messages, parse_explanation, render)
from monoscope.llm import BackendUnavailable, ChatBackend, Completion, LLMError

from .test_features_index import db, sae, store  # noqa: F401  (module fixtures)


class ScriptedJudge(ChatBackend):
    """Explains every feature as 'the word X' for X its most frequent peak token, and judges honestly."""

    name = "scripted"

    def __init__(self):
        self.calls = []

    def generate_chat(self, messages, *, max_tokens, temperature, stop, seed, prefill, n, top_p=1.0):
        system, user = messages[0].content, messages[-1].content
        self.calls.append(system[:20])
        if "interpretability researcher" in system:
            peak = re.search(r"Tokens it fires on most: '([^']*)'", user).group(1)
            text = f" the word {peak}. It also likes other things"
        elif "single digit" in system:
            word = re.search(r"Explanation: the word (\S+)", user).group(1)
            hl = re.search(r"<<([^>]*)>>", user)
            text = "3" if hl and hl.group(1).strip() == word else ("1" if word in user else "0")
        else:
            word = re.search(r"Explanation: the word (\S+)", user).group(1)
            body = user.split("Text:")[1].split("Does the text")[0]
            text = "Yes" if re.search(rf"(^|\s){re.escape(word)}(\s|$)", body) else "No"
        return [Completion(text)] * n


def test_render_and_parse():
    assert render(["The", " Golden", " Gate"], [0.0, 2.0, 1.0], 1.5) == "The <<Golden>> Gate"
    assert render(["a", " b<<", "\n"], highlight=1) == "a <<b‹‹>>↵"
    assert parse_explanation("This feature fires on the word 'God'. More text\nsecond") == "the word 'God'"
    assert parse_explanation("Explanation: code tokens") == "code tokens"
    assert parse_explanation("") == "(no explanation)"
    from monoscope.features.explain import _first_digit
    assert _first_digit("Score: 2") == 2 and _first_digit("Score:3\n") == 3
    assert _first_digit("The explanation is irrelevant throughout the context") == 0
    assert _first_digit("It loosely relates, not cleanly") == 2 and _first_digit("no idea") is None


def test_explainer_prompt_has_marked_examples(db):  # noqa: F811
    f = db.list_features(order="density", limit=1)[0]["feature"]
    msgs = explainer_messages(db, f)
    user = msgs[-1]["content"]
    assert user.count("<<") >= 3 and "Tokens it makes more likely next" in user


def test_explain_scores_and_persists(db):  # noqa: F811
    judge = ScriptedJudge()
    feats = [r["feature"] for r in db.list_features(order="density", limit=3, alive_only=True)]
    cfg = ExplainConfig(n_specificity=12, n_detection=8)
    recs = explain(db, feats, backend=judge, cfg=cfg, progress=False)
    assert [r["feature"] for r in recs] == feats
    for r in recs:
        assert r["explanation"].startswith("the word ") and "It also" not in r["explanation"]
        assert 0 <= r["specificity"] <= 3 and r["specificity_n"] >= 8
        assert len(r["specificity_by_bucket"]) == 5
        assert (db.path / r["plot"]).stat().st_size > 1000
        page = db.feature(r["feature"])
        assert page["explanation"] == r["explanation"] and page["specificity"] == pytest.approx(r["specificity"])
        if r.get("detection") is not None:
            assert 0 <= r["detection"] <= 1
    assert (db.path / "plots" / "specificity.png").exists()
    n_calls = len(judge.calls)
    assert explain(db, feats, backend=judge, cfg=cfg, progress=False) == []  # already explained: skipped
    assert len(judge.calls) == n_calls
    again = explain(db, feats[:1], backend=judge, cfg=cfg, progress=False, force=True)
    assert len(again) == 1
    from monoscope.features.explain import load_specificity_samples
    samples = load_specificity_samples(db)
    assert len([s for s in samples if s["feature"] == feats[0]]) == again[0]["specificity_n"]


def test_default_picks_random_alive_features(db):  # noqa: F811
    recs = explain(db, backend=ScriptedJudge(), n_features=2, cfg=ExplainConfig(n_specificity=4, n_detection=2),
                   progress=False, force=True)
    assert len(recs) == 2 and all(db.feature(r["feature"])["alive"] for r in recs)


def test_unreachable_endpoint_is_a_clear_error(db):  # noqa: F811
    with pytest.raises(LLMError) as e:
        explain(db, [db.list_features(alive_only=True, limit=1)[0]["feature"]],
                backend="openai:http://127.0.0.1:9/v1#nobody?timeout=0.5&max_retries=0", progress=False,
                force=True)
    assert isinstance(e.value, BackendUnavailable) and "127.0.0.1:9" in str(e.value)


def test_local_backend_plumbing(db):  # noqa: F811
    """A real local HF backend (tiny random chat model): the whole path runs and records are well-formed."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from monoscope.llm.local import LocalHFBackend
    from tests.conftest import make_chat_tokenizer

    tok = make_chat_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=4096, bos_token_id=1, eos_token_id=2,
                                         pad_token_id=0)).eval()
    backend = LocalHFBackend((model, tok), name="tiny-chat")
    f = db.list_features(order="max_act", limit=1, alive_only=True)[0]["feature"]
    recs = explain(db, [f], backend=backend, cfg=ExplainConfig(n_specificity=4, n_detection=2, max_tokens=8),
                   progress=False, force=True)
    assert len(recs) == 1 and isinstance(recs[0]["explanation"], str) and recs[0]["explanation"]
