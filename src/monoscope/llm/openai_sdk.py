"""An OpenAI-compatible backend (``/v1/chat/completions``, ``/v1/completions``) over the official ``openai`` SDK
(``pip install 'monoscope[openai]'``).

Works with ``monoscope serve-llm``, vLLM, llama.cpp's server, and hosted OpenAI-compatible APIs.
``base_url`` includes the API prefix (``http://127.0.0.1:8001/v1``; a bare ``http://host:port`` gets
``/v1`` appended). It comes from the argument or ``OPENAI_BASE_URL`` (default
``https://api.openai.com/v1``); the key from the argument or ``OPENAI_API_KEY`` (needed only by servers
that check it). Without a model name the server's first listed model is used. Timeouts and retries are the
SDK's (``max_retries``: connection errors, timeouts, 408/409/429/5xx, with backoff and ``Retry-After``).

What is supported where:

* ``chat``/``complete``: ``n``, ``seed``, ``stop``, ``temperature``, ``top_p`` are sent as-is.
* ``prefill`` (``prefill_mode``):
  ``"continue"`` (default) sends the prefill as a final assistant message with
  ``continue_final_message: true, add_generation_prompt: false``, the vLLM convention that
  ``monoscope serve-llm`` also implements; ``"last_message"`` sends only the final assistant message
  (llama.cpp's server continues it; DeepSeek-style APIs); ``"none"`` refuses prefill. Hosted OpenAI
  models do not continue assistant messages, so use ``"none"`` there. If a server echoes the prefill
  back, it is not doubled.
* tools: native OpenAI ``tools``/``tool_calls``.
* ``score_logprobs``: ``/v1/completions`` with ``echo: true, logprobs: 0, max_tokens: 0`` (supported by
  ``monoscope serve-llm`` and vLLM; hosted OpenAI chat models do not return prompt logprobs).
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence
from urllib.parse import urlsplit

from .base import (BackendHTTPError, ChatBackend, ChatResponse, Completion, LLMError, Message, ToolCall,
                   UnsupportedFeature, _check_sampling, _stops, as_messages, as_tools, completion_logprob,
                   tool_choice_name)
from .sdk_errors import check_base_url, import_sdk, sdk_errors, split_body

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PREFILL_MODES = ("continue", "last_message", "none")


def normalise_base_url(url: str) -> str:
    url = check_base_url(url, "OpenAI-compatible")
    if urlsplit(url).path in ("", "/"):
        url += "/v1"
    return url


def message_to_openai(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.role == "assistant" and m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                             for c in m.tool_calls]
        out["content"] = m.content or None
    if m.role == "tool":
        out["tool_call_id"] = m.tool_call_id or ""
    if m.name and m.role != "tool":
        out["name"] = m.name
    return out


def tool_choice_to_openai(tool_choice: Any) -> Any:
    name = tool_choice_name(tool_choice)
    if name is not None:
        return {"type": "function", "function": {"name": name}}
    if tool_choice in ("auto", "none", "required"):
        return tool_choice
    raise ValueError(f"tool_choice must be 'auto', 'none', 'required' or {{'name': ...}}, got {tool_choice!r}")


class OpenAIBackend(ChatBackend):
    supports_prefill = True
    supports_complete = True
    supports_logprobs = True
    native_tools = True

    def __init__(self, base_url: str | None = None, model: str | None = None, *, api_key: str | None = None,
                 timeout: float = 120.0, max_retries: int = 3, prefill_mode: str = "continue",
                 http_client: Any = None, extra_body: dict[str, Any] | None = None):
        base = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = normalise_base_url(base)
        self.name = f"openai:{self.base_url}#{model}" if model else f"openai:{self.base_url}"
        self.sdk = import_sdk("openai", "openai", f"the {self.name} backend")
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        if not key and urlsplit(self.base_url).hostname == "api.openai.com":
            raise LLMError("the OpenAI API needs a key: pass api_key= or set OPENAI_API_KEY "
                           "(or point OPENAI_BASE_URL / the spec at a local server)")
        if prefill_mode not in PREFILL_MODES:
            raise ValueError(f"prefill_mode must be one of {PREFILL_MODES}, got {prefill_mode!r}")
        self.prefill_mode = prefill_mode
        self.supports_prefill = prefill_mode != "none"
        self.max_retries = int(max_retries)
        # a local server that checks no key still needs some bearer token for the SDK to start
        self.client = self.sdk.OpenAI(base_url=self.base_url, api_key=key or "unused", timeout=timeout,
                                      max_retries=self.max_retries, http_client=http_client)
        self.extra_body = dict(extra_body or {})
        self._model = model or None

    def _call(self, fn, **kw) -> dict[str, Any]:
        """One SDK request; the response as the plain JSON dict the parsers below read."""
        with sdk_errors(self.sdk, "OpenAI-compatible endpoint", self.base_url, self.max_retries):
            return fn(**kw).model_dump()

    @property
    def model(self) -> str:
        """The model name sent with requests (the server's first listed model if none was given)."""
        if self._model is None:
            data = self.list_models()
            if not data:
                raise LLMError(f"{self.base_url}/models lists no models; give one as openai:URL#MODEL")
            self._model = data[0]
        return self._model

    def list_models(self) -> list[str]:
        with sdk_errors(self.sdk, "OpenAI-compatible endpoint", self.base_url, self.max_retries):
            return [m.id for m in self.client.models.list().data]

    def _create_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        named, extra = split_body(self.client.chat.completions.create, body)
        return self._call(self.client.chat.completions.create, **named, extra_body=extra or None)

    def _create_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        named, extra = split_body(self.client.completions.create, body)
        return self._call(self.client.completions.create, **named, extra_body=extra or None)

    def _sampling_body(self, *, max_tokens: int, temperature: float, stop: list[str], seed: int | None, n: int,
                       top_p: float, **payload: Any) -> dict[str, Any]:
        """The request body both endpoints share: model, payload (messages or prompt), sampling settings; the
        optional ones only when set, so servers that reject unknown or default fields accept it."""
        body: dict[str, Any] = {"model": self.model, **payload, "max_tokens": max_tokens,
                                "temperature": temperature, "n": n}
        if top_p != 1.0:
            body["top_p"] = top_p
        if stop:
            body["stop"] = stop
        if seed is not None:
            body["seed"] = int(seed)
        return body

    # ---- chat --------------------------------------------------------------------------------------------
    def _chat_body(self, messages: list[Message], *, max_tokens: int, temperature: float, stop: list[str],
                   seed: int | None, n: int, top_p: float, prefill: str | None) -> dict[str, Any]:
        msgs = [message_to_openai(m) for m in messages]
        body = self._sampling_body(max_tokens=max_tokens, temperature=temperature, stop=stop, seed=seed, n=n,
                                   top_p=top_p, messages=msgs)
        if prefill:
            if self.prefill_mode == "none":
                raise UnsupportedFeature(f"{self.name} was configured with prefill_mode='none'")
            msgs.append({"role": "assistant", "content": prefill})
            if self.prefill_mode == "continue":
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
        body.update(self.extra_body)
        return body

    @staticmethod
    def _strip_echo(text: str, prefill: str | None) -> str:
        return text[len(prefill):] if prefill and text.startswith(prefill) else text

    def generate_chat(self, messages, *, max_tokens, temperature, stop, seed, prefill, n, top_p=1.0):
        msgs = as_messages(messages)
        out: list[Completion] = []
        for attempt in range(n):  # servers that ignore ``n`` return one choice: ask again for the rest
            if len(out) >= n:
                break
            if attempt and temperature == 0:
                out += [out[-1]] * (n - len(out))
                break
            s = None if seed is None else int(seed) + attempt
            body = self._chat_body(msgs, max_tokens=max_tokens, temperature=temperature, stop=stop, seed=s,
                                   n=n - len(out), top_p=top_p, prefill=prefill)
            data = self._create_chat(body)
            choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
            if not choices:
                raise BackendHTTPError(f"{self.name}: response has no choices: {str(data)[:300]}")
            usage = data.get("usage") or {}
            out += [Completion(self._strip_echo((c.get("message") or {}).get("content") or "", prefill),
                               _finish(c.get("finish_reason")), usage.get("prompt_tokens", 0),
                               usage.get("completion_tokens", 0)) for c in choices]
        return out[:n]

    def generate_completion(self, prompts, *, max_tokens, temperature, stop, seed, n, top_p=1.0):
        body = self._sampling_body(max_tokens=max_tokens, temperature=temperature, stop=stop, seed=seed, n=n,
                                   top_p=top_p, prompt=list(prompts))
        body.update(self.extra_body)
        data = self._create_completion(body)
        choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
        if len(choices) != len(prompts) * n:
            raise BackendHTTPError(f"{self.name}: expected {len(prompts) * n} choices, got {len(choices)}")
        return [[Completion(c.get("text") or "", _finish(c.get("finish_reason")))
                 for c in choices[i * n:(i + 1) * n]] for i in range(len(prompts))]

    # ---- tools -------------------------------------------------------------------------------------------
    def chat_with_tools(self, messages, tools, *, tool_choice="auto", max_tokens=512, temperature=0.0,
                        seed=None, stop=None) -> ChatResponse:
        _check_sampling(max_tokens, temperature, 1)
        tl = as_tools(tools)
        body = self._chat_body(as_messages(messages), max_tokens=max_tokens, temperature=temperature,
                               stop=_stops(stop), seed=seed, n=1, top_p=1.0, prefill=None)
        if tl:
            body["tools"] = [t.to_openai() for t in tl]
            body["tool_choice"] = tool_choice_to_openai(tool_choice)
        data = self._create_chat(body)
        if not data.get("choices"):
            raise BackendHTTPError(f"{self.name}: response has no choices: {str(data)[:300]}")
        choice = data["choices"][0]
        msg = choice.get("message") or {}
        calls = []
        for c in msg.get("tool_calls") or []:
            fn = c.get("function") or {}
            args = fn.get("arguments") or "{}"
            try:
                parsed = json.loads(args) if isinstance(args, str) else args
            except json.JSONDecodeError:
                parsed = {"_raw": args}
            calls.append(ToolCall(name=fn.get("name", ""), arguments=parsed if isinstance(parsed, dict)
                                  else {"value": parsed}, id=c.get("id", "")))
        finish = choice.get("finish_reason") or ("tool_calls" if calls else "stop")
        return ChatResponse(content=msg.get("content") or "", tool_calls=calls, finish_reason=finish, raw=data)

    # ---- scoring -----------------------------------------------------------------------------------------
    def score_logprobs_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        out = []
        for prompt, completion in pairs:
            text = prompt + completion
            body = {"model": self.model, "prompt": text, "max_tokens": 0, "echo": True, "logprobs": 0,
                    "temperature": 0.0}
            data = self._create_completion(body)
            try:
                lp = data["choices"][0]["logprobs"]
                lps, starts = lp["token_logprobs"], lp["text_offset"]
            except (KeyError, IndexError, TypeError) as e:
                raise UnsupportedFeature(f"{self.name} did not return prompt logprobs (echo + logprobs on "
                                         f"/completions); use a local backend or vLLM to score") from e
            ends = list(starts[1:]) + [len(text)]
            out.append(completion_logprob(lps, ends, len(prompt), len(completion)))
        return out

    def close(self) -> None:
        self.client.close()


def _finish(reason: Any) -> str:
    return reason if reason in ("stop", "length", "tool_calls") else "stop"

