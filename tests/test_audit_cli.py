"""`monoscope audit game`: bad input is one clear error line (exit 2), before any model is loaded."""
from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from monoscope.audit.setup import SAEMismatchError, check_sae


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monoscope", "audit", "game", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args,needle", [
    (["default", "--haystack-rate", "0"], "--haystack-rate must be in (0, 1]"),
    (["default", "--haystack-rate", "2"], "--haystack-rate must be in (0, 1]"),
    (["default", "--tiers", "api,magic"], "unknown tier(s) magic"),
    (["/nonexistent/organism"], "does not exist"),
])
def test_bad_input_is_one_error_line(args, needle):
    r = _cli(*args)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr


def test_organism_without_its_data_is_one_error_line(tmp_path):
    (tmp_path / "organism.json").write_text('{"format": "monoscope-organism/1", "name": "x", "base_model": "x", '
                                            '"stages": ["sft"], "final_stage": "sft", "adapters": {}}')
    r = _cli(str(tmp_path), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no training data" in r.stderr, r.stderr


def test_sae_of_another_model_or_layer_is_refused(tiny_chat_lm):
    d = tiny_chat_lm.d_model
    ok = SimpleNamespace(W_dec=torch.zeros(8, d), cfg=SimpleNamespace(hook="resid_post.1", model="tiny-chat"))
    check_sae(ok, tiny_chat_lm, {"tiny-chat"}, "resid_post.1")
    cases = [
        (SimpleNamespace(W_dec=torch.zeros(8, d + 1), cfg=SimpleNamespace(hook="resid_post.1", model=None)),
         "trained on another model"),
        (SimpleNamespace(W_dec=torch.zeros(8, d), cfg=SimpleNamespace(hook="resid_post.0", model=None)),
         "audit probes 'resid_post.1'"),
        (SimpleNamespace(W_dec=torch.zeros(8, d), cfg=SimpleNamespace(hook="resid_post.1", model="gpt2")),
         "trained on 'gpt2'"),
    ]
    for sae, needle in cases:
        with pytest.raises(SAEMismatchError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            check_sae(sae, tiny_chat_lm, {"tiny-chat"}, "resid_post.1")
