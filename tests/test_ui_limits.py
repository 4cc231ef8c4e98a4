"""Dashboard limits, said aloud: one prompt cap for inspector, search and steering (shown on the page), clamps
finite within a stated range (400, never a 500 or an empty answer), and a bounded wait for the model."""
from __future__ import annotations

import threading

import pytest

from monoscope.ui.limits import CLAMP_RANGE, MAX_PROMPT_TOKENS, BusyError, model_turn
from tests.test_ui_dashboard import shared_hostile_env


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from monoscope.ui import create_app

    lm, sae, db = shared_hostile_env(tmp_path_factory)
    return TestClient(create_app(db, lm=lm, sae=sae), raise_server_exceptions=False)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", str(CLAMP_RANGE[1] * 2), "ten"])
def test_clamps_outside_the_stated_range_are_a_400_naming_it(client, value):
    """Each of these used to give an empty output (nan, inf) or a 500 (1e308)."""
    r = client.post("/steer", data={"prompt": "The bridge", "feature": "2", "value": value,
                                    "max_new_tokens": "2"})
    assert r.status_code == 400, (value, r.status_code)
    assert "must be" in r.text and f"{CLAMP_RANGE[1]:g}" in r.text


def test_a_finite_clamp_in_range_steers(client):
    r = client.post("/steer", data={"prompt": "The bridge", "feature": "2", "value": "3", "max_new_tokens": "2"})
    assert r.status_code == 200


def test_a_steering_generation_is_cut_at_its_time_limit_and_the_page_says_so(client, monkeypatch):
    """One steering request cannot hold the model indefinitely: decoding stops at the time limit (here 0 s,
    so one token per side) and the page names the cut sides. Fails if max_time is not passed to generate or
    the cut is not reported."""
    import monoscope.ui.app as app_module

    r = client.post("/steer", data={"prompt": "The bridge", "feature": "2", "value": "3", "max_new_tokens": "64"})
    assert r.status_code == 200 and 'id="cut"' not in r.text
    monkeypatch.setattr(app_module, "GENERATE_MAX_S", 0.0)
    r = client.post("/steer", data={"prompt": "The bridge", "feature": "2", "value": "3", "max_new_tokens": "64"})
    assert r.status_code == 200 and 'id="cut"' in r.text and "unsteered and steered" in r.text


def test_one_prompt_cap_for_inspector_search_and_steering_shown_on_the_page(client):
    """A prompt over the cap is refused with its length on all three tools (search and the inspector used to
    cut it silently; steering had no cap)."""
    long = " ".join(str(i % 97) for i in range(4 * MAX_PROMPT_TOKENS))      # digits: no BPE merges learned
    for r in (client.get("/inspect", params={"prompt": long}),
              client.get("/search", params={"prompt": long}),
              client.post("/steer", data={"prompt": long, "feature": "2", "value": "3", "max_new_tokens": "2"})):
        assert r.status_code == 400 and f"at most {MAX_PROMPT_TOKENS:,} tokens" in r.text, r.status_code
    page = client.get("/inspect").text
    assert f"prompts up to {MAX_PROMPT_TOKENS:,} tokens" in page


def test_a_request_waits_for_the_model_only_a_bounded_time():
    lock = threading.Lock()
    lock.acquire()
    with pytest.raises(BusyError, match="busy"):
        with model_turn(lock, wait_s=0.05):
            pass
    lock.release()
    with model_turn(lock, wait_s=0.05):
        assert lock.locked()
    assert not lock.locked()
