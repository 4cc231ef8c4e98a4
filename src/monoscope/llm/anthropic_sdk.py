"""Anthropic Messages API backend over the official ``anthropic`` SDK (``pip install 'monoscope[anthropic]'``).

Key from the argument or ``ANTHROPIC_API_KEY``; base URL from the argument or ``ANTHROPIC_BASE_URL``
(default ``https://api.anthropic.com``). Requests go to ``{base}/v1/messages``; timeouts and retries are the
SDK's (``max_retries``: connection errors, timeouts, 408/409/429/5xx/529 with backoff and ``Retry-After``).

* System messages are joined into the top-level ``system`` field; consecutive same-role turns are merged.
* ``prefill`` is native: it is sent as the final assistant message. The API rejects a final assistant
  message that ends in whitespace, so trailing whitespace is removed from what is sent; the returned text
  still starts with the prefill as given.
* ``n > 1`` makes ``n`` requests; ``seed`` is not supported by the API and is ignored; ``stop`` maps to
  ``stop_sequences``; temperatures above 1 are rejected by the API.
* Tools: native ``tools``/``tool_use``/``tool_result`` blocks; ``tool_choice`` maps to
  ``{"type": "auto"|"any"|"tool"|"none"}``.
* No raw completion and no logprobs: those raise :class:`UnsupportedFeature`.
"""
from __future__ import annotations

import os
from typing import Any

from .base import (BackendHTTPError, ChatBackend, ChatResponse, Completion, LLMError, Message, ToolCall,
                   _check_sampling, _stops, as_messages, as_tools, tool_choice_name)
from .sdk_errors import check_base_url, import_sdk, sdk_errors, split_body

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


def to_anthropic_messages(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """(system text, Messages-API turns) from a conversation that may hold tool calls and results."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            role, blocks = "user", [{"type": "tool_result", "tool_use_id": m.tool_call_id or "",
                                     "content": m.content}]
        elif m.role == "assistant":
            role = "assistant"
            blocks = [{"type": "text", "text": m.content}] if m.content else []
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                       for c in (m.tool_calls or [])]
        else:
            role, blocks = "user", [{"type": "text", "text": m.content}]
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    # tool results must come first in their user turn
    for t in turns:
        if t["role"] == "user":
            t["content"].sort(key=lambda b: b["type"] != "tool_result")
    return system, turns


def tool_choice_to_anthropic(tool_choice: Any) -> dict[str, Any]:
    name = tool_choice_name(tool_choice)
    if name is not None:
        return {"type": "tool", "name": name}
    mapping = {"auto": "auto", None: "auto", "required": "any", "any": "any", "none": "none"}
    if tool_choice not in mapping:
        raise ValueError(f"tool_choice must be 'auto', 'none', 'required' or {{'name': ...}}, got {tool_choice!r}")
    return {"type": mapping[tool_choice]}


class AnthropicBackend(ChatBackend):
    supports_prefill = True
    supports_complete = False
    supports_logprobs = False
    native_tools = True

    def __init__(self, model: str, *, api_key: str | None = None, base_url: str | None = None,
                 timeout: float = 120.0, max_retries: int = 3, http_client: Any = None,
                 extra_body: dict[str, Any] | None = None):
        if not model:
            raise ValueError("AnthropicBackend needs a model name, e.g. 'claude-sonnet-4-5'")
        self.model = model
        self.name = f"anthropic:{model}"
        self.sdk = import_sdk("anthropic", "anthropic", f"the {self.name} backend")
        self.base_url = check_base_url(base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL,
                                       "Anthropic")
        key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY", "")
        if not key and self.base_url == DEFAULT_BASE_URL:
            raise LLMError("the Anthropic API needs a key: pass api_key= or set ANTHROPIC_API_KEY")
        self.max_retries = int(max_retries)
        self.client = self.sdk.Anthropic(api_key=key or "unused", base_url=self.base_url, timeout=timeout,
                                         max_retries=self.max_retries, http_client=http_client)
        self.extra_body = dict(extra_body or {})

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        named, extra = split_body(self.client.messages.create, body)
        with sdk_errors(self.sdk, "Anthropic endpoint", self.base_url, self.max_retries):
            return self.client.messages.create(**named, extra_body=extra or None).model_dump()

    def _body(self, messages: list[Message], *, max_tokens: int, temperature: float, stop: list[str],
              prefill: str | None, top_p: float = 1.0) -> dict[str, Any]:
        system, turns = to_anthropic_messages(messages)
        if prefill:
            sent = prefill.rstrip()
            if sent:
                if turns and turns[-1]["role"] == "assistant":
                    raise ValueError("prefill given but the conversation already ends with an assistant turn")
                turns.append({"role": "assistant", "content": [{"type": "text", "text": sent}]})
        if not turns or turns[0]["role"] != "user":
            raise ValueError("an Anthropic conversation must start with a user message (after any system)")
        body: dict[str, Any] = {"model": self.model, "max_tokens": max(1, max_tokens), "messages": turns,
                                "temperature": temperature}
        if system:
            body["system"] = system
        if stop:
            body["stop_sequences"] = stop
        if top_p != 1.0:
            body["top_p"] = top_p
        body.update(self.extra_body)
        return body

    @staticmethod
    def _parse(data: dict[str, Any]) -> tuple[str, list[ToolCall], str]:
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise BackendHTTPError(f"Anthropic response without content blocks: {str(data)[:300]}")
        text = "".join(b.get("text", "") for b in data["content"] if b.get("type") == "text")
        calls = [ToolCall(name=b["name"], arguments=b.get("input") or {}, id=b.get("id", ""))
                 for b in data["content"] if b.get("type") == "tool_use"]
        finish = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                  "tool_use": "tool_calls"}.get(data.get("stop_reason"), "stop")
        return text, calls, finish

    def generate_chat(self, messages, *, max_tokens, temperature, stop, seed, prefill, n, top_p=1.0):
        body = self._body(as_messages(messages), max_tokens=max_tokens, temperature=temperature, stop=stop,
                          prefill=prefill, top_p=top_p)
        out = []
        sent = (prefill or "").rstrip()
        for _ in range(n):
            data = self._create(body)
            text, _, finish = self._parse(data)
            if prefill:  # the model continued the whitespace-stripped prefill; re-base on the caller's
                full = sent + text
                text = full[len(prefill):] if full.startswith(prefill) else text.lstrip()
            usage = data.get("usage") or {}
            out.append(Completion(text, finish, usage.get("input_tokens", 0), usage.get("output_tokens", 0)))
        return out

    def chat_with_tools(self, messages, tools, *, tool_choice="auto", max_tokens=512, temperature=0.0,
                        seed=None, stop=None) -> ChatResponse:
        _check_sampling(max_tokens, temperature, 1)
        tl = as_tools(tools)
        body = self._body(as_messages(messages), max_tokens=max_tokens, temperature=temperature,
                          stop=_stops(stop), prefill=None)
        if tl:
            body["tools"] = [t.to_anthropic() for t in tl]
            body["tool_choice"] = tool_choice_to_anthropic(tool_choice)
        data = self._create(body)
        text, calls, finish = self._parse(data)
        return ChatResponse(content=text, tool_calls=calls, finish_reason=finish, raw=data)

    def close(self) -> None:
        self.client.close()
