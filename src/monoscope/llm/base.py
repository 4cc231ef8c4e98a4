"""The backend interface every LLM-dependent step uses (explainers, judges, auditing agents, doc generation).

A backend answers four kinds of request:

* ``chat(messages, ...)``: one conversation in, ``n`` assistant replies out (strings). With ``prefill`` the
  assistant turn is started with that text and the model continues it; the returned strings are the
  *whole* assistant turn, so each starts with the prefill (a backend that cannot prefill raises
  :class:`UnsupportedFeature`). ``chat_batch`` does many conversations at once (the local backend batches
  them on the accelerator; HTTP backends loop).
* ``complete(prompt, ...)``: raw text continuation with no chat template (local models, OpenAI-compatible
  servers; not Anthropic).
* ``chat_with_tools(messages, tools, ...)``: one step of an agent loop; returns a :class:`ChatResponse`
  whose ``tool_calls`` the caller executes and feeds back as ``Message(role="tool", ...)``. OpenAI and
  Anthropic use their native tool formats; every other backend uses the JSON-in-text protocol of
  :mod:`monoscope.llm.tools`.
* ``score_logprobs(prompt, completion)``: the summed log-probability of ``completion`` after ``prompt``
  (local models and servers that return prompt logprobs, such as ``monoscope serve-llm`` and vLLM).

Sampling is greedy when ``temperature == 0``; with ``seed`` a sampling call is reproducible on the same
backend, inputs and hardware.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence
from ..errors import UserError

ROLES = ("system", "user", "assistant", "tool")


class LLMError(RuntimeError):
    """Base class for errors raised by LLM backends."""


class BackendUnavailable(LLMError):
    """The backend could not be reached (connection refused, DNS, timeout) after all retries."""


class BackendHTTPError(LLMError):
    """The backend answered with an error status; ``status`` and the server's message are kept."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


class UnsupportedFeature(LLMError):
    """The backend cannot do what was asked (e.g. raw completion on Anthropic, logprobs over HTTP)."""


class BackendSpecError(UserError):
    """A backend spec string (``local:...``, ``openai:...``, ``anthropic:...``) could not be parsed."""


@dataclass
class ToolCall:
    """One tool invocation requested by the model; ``arguments`` is already JSON-decoded."""

    name: str
    arguments: dict[str, Any]
    id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass
class Message:
    """A chat message. ``tool_calls`` belongs on assistant messages, ``tool_call_id`` on tool results."""

    role: str
    content: str = ""
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown message role {self.role!r}; expected one of {', '.join(ROLES)}")
        if self.content is None:
            self.content = ""
        if not isinstance(self.content, str):
            raise TypeError(f"message content must be a string, got {type(self.content).__name__}")

    @classmethod
    def coerce(cls, m: "Message | Mapping[str, Any]") -> "Message":
        """Accept a Message or a dict in OpenAI shape (content may be a list of text parts)."""
        if isinstance(m, Message):
            return m
        if not isinstance(m, Mapping) or "role" not in m:
            raise TypeError(f"a message must be a Message or a dict with 'role' and 'content', got {m!r}")
        content = m.get("content")
        if isinstance(content, list):  # OpenAI content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping)
                              and p.get("type", "text") == "text")
        calls = None
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                if isinstance(c, ToolCall):
                    calls.append(c)
                    continue
                fn = c.get("function", c)
                args = fn.get("arguments", {})
                if isinstance(args, str):
                    args = json.loads(args) if args.strip() else {}
                calls.append(ToolCall(name=fn["name"], arguments=args, id=c.get("id", "")))
        return cls(role=m["role"], content=content or "", tool_calls=calls,
                   tool_call_id=m.get("tool_call_id"), name=m.get("name"))


def as_messages(messages: "str | Iterable[Message | Mapping[str, Any]]") -> list[Message]:
    """Normalise a conversation; a bare string is one user message."""
    if isinstance(messages, str):
        return [Message("user", messages)]
    out = [Message.coerce(m) for m in messages]
    if not out:
        raise ValueError("a conversation needs at least one message")
    return out


@dataclass
class Completion:
    """One generated continuation. ``text`` is what the model produced (without any prefill)."""

    text: str
    finish_reason: str = "stop"  # "stop" (end of turn or stop string) or "length"
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class ChatResponse:
    """One assistant turn from ``chat_with_tools``: free text plus zero or more tool calls."""

    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"  # "stop", "length" or "tool_calls"
    raw: Any = None

    def as_message(self) -> Message:
        """The turn as a message to append to the conversation before sending tool results."""
        return Message("assistant", self.content, tool_calls=list(self.tool_calls) or None)


@dataclass
class Tool:
    """A tool definition: name, description and a JSON schema for its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    @classmethod
    def coerce(cls, t: "Tool | Mapping[str, Any]") -> "Tool":
        """Accept ``{"name", "description", "parameters"}``, OpenAI's ``{"type": "function", "function": ...}``
        or Anthropic's ``{"name", "description", "input_schema"}``."""
        if isinstance(t, Tool):
            return t
        if not isinstance(t, Mapping):
            raise TypeError(f"a tool must be a dict with a name and a JSON schema, got {t!r}")
        if t.get("type") == "function" and "function" in t:
            t = t["function"]
        if "name" not in t:
            raise ValueError(f"tool definition without a 'name': {t!r}")
        params = t.get("parameters", t.get("input_schema")) or {"type": "object", "properties": {}}
        return cls(name=t["name"], description=t.get("description", ""), parameters=dict(params))

    def to_openai(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}

    def to_anthropic(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.parameters}


def as_tools(tools: Sequence[Tool | Mapping[str, Any]]) -> list[Tool]:
    out = [Tool.coerce(t) for t in tools]
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate tool names: {names}")
    return out


def tool_choice_name(tool_choice: Any) -> str | None:
    """The forced tool's name if ``tool_choice`` names one (``{"name": X}``, OpenAI's function form)."""
    if isinstance(tool_choice, Mapping):
        if "function" in tool_choice:
            return tool_choice["function"]["name"]
        if "name" in tool_choice:
            return tool_choice["name"]
    return None


def _check_sampling(max_tokens: int, temperature: float, n: int) -> None:
    if not isinstance(max_tokens, int) or max_tokens < 0:
        raise ValueError(f"max_tokens must be a non-negative int, got {max_tokens!r}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")


def _stops(stop: str | Sequence[str] | None) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    return [s for s in stop if s]


def completion_logprob(lps: list[float | None], ends: list[int], prompt_chars: int, completion_chars: int
                       ) -> float:
    """Sum of the token logprobs for tokens whose span ends after the prompt (shared with the server)."""
    if completion_chars == 0:
        return 0.0
    total, counted = 0.0, 0
    for lp, end in zip(lps, ends):
        if end > prompt_chars:
            if lp is None:
                continue  # the very first token has no context to score it against
            total += lp
            counted += 1
    if counted == 0:
        raise LLMError("the completion has no scorable tokens (an empty prompt with no BOS token?)")
    return float(total)


class ChatBackend(ABC):
    """What an explainer, judge or agent needs from a language model. Subclasses implement
    :meth:`generate_chat` (and optionally the other ``generate_*``/``score_*`` hooks)."""

    #: a short human-readable description, e.g. ``local:smollm2-135m``
    name: str = "backend"
    supports_prefill: bool = True
    supports_complete: bool = False
    supports_logprobs: bool = False
    native_tools: bool = False

    # ---- what subclasses implement -------------------------------------------------------------------
    @abstractmethod
    def generate_chat(self, messages: list[Message], *, max_tokens: int, temperature: float,
                      stop: list[str], seed: int | None, prefill: str | None, n: int,
                      top_p: float = 1.0) -> list[Completion]:
        """``n`` continuations of one conversation; ``Completion.text`` excludes the prefill."""

    def generate_chat_batch(self, conversations: list[list[Message]], *, prefills: list[str | None],
                            **kw: Any) -> list[list[Completion]]:
        return [self.generate_chat(c, prefill=p, **kw) for c, p in zip(conversations, prefills)]

    def generate_completion(self, prompts: list[str], *, max_tokens: int, temperature: float,
                            stop: list[str], seed: int | None, n: int, top_p: float = 1.0
                            ) -> list[list[Completion]]:
        raise UnsupportedFeature(f"{self.name} does not support raw text completion; use chat()")

    # ---- public API ----------------------------------------------------------------------------------
    def chat(self, messages: "str | Sequence[Message | Mapping[str, Any]]", *, max_tokens: int = 256,
             temperature: float = 0.0, stop: str | Sequence[str] | None = None, seed: int | None = None,
             prefill: str | None = None, n: int = 1, top_p: float = 1.0) -> list[str]:
        """``n`` assistant replies to one conversation. With ``prefill`` each reply starts with it."""
        return self.chat_batch([messages], max_tokens=max_tokens, temperature=temperature, stop=stop,
                               seed=seed, prefill=prefill, n=n, top_p=top_p)[0]

    def chat_batch(self, conversations: Sequence["str | Sequence[Message | Mapping[str, Any]]"], *,
                   max_tokens: int = 256, temperature: float = 0.0, stop: str | Sequence[str] | None = None,
                   seed: int | None = None, prefill: "str | Sequence[str | None] | None" = None, n: int = 1,
                   top_p: float = 1.0) -> list[list[str]]:
        """Replies to many conversations (one list of ``n`` strings each). ``prefill`` may be one string
        for all conversations or one per conversation."""
        _check_sampling(max_tokens, temperature, n)
        convs = [as_messages(c) for c in conversations]
        prefills = self._prefills(prefill, len(convs))
        if any(prefills) and not self.supports_prefill:
            raise UnsupportedFeature(f"{self.name} does not support assistant prefill")
        outs = self.generate_chat_batch(convs, prefills=prefills, max_tokens=max_tokens,
                                        temperature=temperature, stop=_stops(stop), seed=seed, n=n,
                                        top_p=top_p)
        return [[(p or "") + c.text for c in cs] for cs, p in zip(outs, prefills)]

    def complete(self, prompt: str, *, max_tokens: int = 256, temperature: float = 0.0,
                 stop: str | Sequence[str] | None = None, seed: int | None = None, n: int = 1,
                 top_p: float = 1.0) -> list[str]:
        """``n`` raw continuations of ``prompt`` (no chat template); the prompt is not repeated."""
        return self.complete_batch([prompt], max_tokens=max_tokens, temperature=temperature, stop=stop,
                                   seed=seed, n=n, top_p=top_p)[0]

    def complete_batch(self, prompts: Sequence[str], *, max_tokens: int = 256, temperature: float = 0.0,
                       stop: str | Sequence[str] | None = None, seed: int | None = None, n: int = 1,
                       top_p: float = 1.0) -> list[list[str]]:
        _check_sampling(max_tokens, temperature, n)
        outs = self.generate_completion(list(prompts), max_tokens=max_tokens, temperature=temperature,
                                        stop=_stops(stop), seed=seed, n=n, top_p=top_p)
        return [[c.text for c in cs] for cs in outs]

    def chat_with_tools(self, messages: "Sequence[Message | Mapping[str, Any]]",
                        tools: Sequence[Tool | Mapping[str, Any]], *, tool_choice: Any = "auto",
                        max_tokens: int = 512, temperature: float = 0.0, seed: int | None = None,
                        stop: str | Sequence[str] | None = None) -> ChatResponse:
        """One agent step. ``tool_choice``: ``"auto"``, ``"none"``, ``"required"`` or ``{"name": X}``.
        Default implementation: the JSON-in-text protocol of :mod:`monoscope.llm.tools`."""
        from .tools import chat_with_text_tools

        _check_sampling(max_tokens, temperature, 1)
        return chat_with_text_tools(self, as_messages(messages), as_tools(tools), tool_choice=tool_choice,
                                    max_tokens=max_tokens, temperature=temperature, seed=seed,
                                    stop=_stops(stop))

    def score_logprobs(self, prompt: str, completion: str) -> float:
        """Sum of the log-probabilities (natural log) of ``completion``'s tokens after ``prompt``."""
        return self.score_logprobs_batch([(prompt, completion)])[0]

    def score_logprobs_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        raise UnsupportedFeature(f"{self.name} cannot score log-probabilities")

    def score_chat(self, messages: "Sequence[Message | Mapping[str, Any]]", completion: str) -> float:
        """Log-probability of ``completion`` as the start of the assistant's reply to ``messages``."""
        raise UnsupportedFeature(f"{self.name} cannot score log-probabilities of chat replies")

    def close(self) -> None:
        """Release connections or memory; the backend may not be used afterwards."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @staticmethod
    def _prefills(prefill: "str | Sequence[str | None] | None", k: int) -> list[str | None]:
        if prefill is None or isinstance(prefill, str):
            return [prefill or None] * k
        pre = list(prefill)
        if len(pre) != k:
            raise ValueError(f"got {len(pre)} prefills for {k} conversations")
        return [p or None for p in pre]
