"""LLM backends for explainers, judges, auditing agents and document generation.

Pick one with a spec string (CLIs and configs take the same string)::

    get_backend("local:smollm2-135m")                        # offline default: a local HF model
    get_backend("local:/path/to/model?device=cuda&dtype=bfloat16")
    get_backend("openai:http://127.0.0.1:8001/v1#smollm2-135m")  # any OpenAI-compatible server
    get_backend("openai:gpt-4o-mini")                          # base URL from OPENAI_BASE_URL or OpenAI's
    get_backend("anthropic:claude-sonnet-4-5")                 # key from ANTHROPIC_API_KEY
    get_backend(None)                                          # $MONOSCOPE_LLM, else local:smollm2-135m

Options go after ``?`` as ``key=value`` pairs joined by ``&``:
``local``: ``device``, ``dtype``, ``batch_size``;
``openai``: ``timeout``, ``max_retries``, ``prefill`` (``continue``/``last_message``/``none``),
``api_key_env`` (name of the variable holding the key);
``anthropic``: ``timeout``, ``max_retries``, ``api_key_env``, ``base_url``.
For ``anthropic:http://host:port#MODEL`` the base URL may also be given before ``#``.

``openai:`` and ``anthropic:`` use the official SDKs (``pip install 'monoscope[openai]'`` /
``'monoscope[anthropic]'``); without them those backends raise :class:`BackendUnavailable` saying so.

The interface is :class:`ChatBackend` (``chat``, ``chat_batch``, ``complete``, ``chat_with_tools``,
``score_logprobs``, ``score_chat``); see :mod:`monoscope.llm.base`.
"""
from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import parse_qsl

from .base import (BackendHTTPError, BackendSpecError, BackendUnavailable, ChatBackend, ChatResponse, Completion,
                   LLMError, Message, Tool, ToolCall, UnsupportedFeature)

DEFAULT_SPEC = "local:smollm2-135m"
SPEC_FORMS = ("local:MODEL (embedded name, directory or hub id), "
              "openai:[BASE_URL][#MODEL] or openai:MODEL, anthropic:MODEL or anthropic:BASE_URL#MODEL")

__all__ = ["AnthropicBackend", "BackendHTTPError", "BackendSpecError", "BackendUnavailable", "ChatBackend",
           "ChatResponse", "Completion", "DEFAULT_SPEC", "LLMError", "LocalHFBackend", "Message",
           "OpenAIBackend", "Tool", "ToolCall", "UnsupportedFeature", "get_backend", "parse_spec"]

_OPTIONS = {
    "local": {"device", "dtype", "batch_size"},
    "openai": {"timeout", "max_retries", "prefill", "api_key_env"},
    "anthropic": {"timeout", "max_retries", "api_key_env", "base_url"},
}
_cache: dict[str, ChatBackend] = {}
_cache_lock = threading.Lock()


def __getattr__(name: str) -> Any:  # heavy modules (torch, the SDKs) load on first use
    if name == "LocalHFBackend":
        from .local import LocalHFBackend
        return LocalHFBackend
    if name == "OpenAIBackend":
        from .openai_sdk import OpenAIBackend
        return OpenAIBackend
    if name == "AnthropicBackend":
        from .anthropic_sdk import AnthropicBackend
        return AnthropicBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://"))


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``(kind, keyword arguments)`` for a spec string, without building anything."""
    if not isinstance(spec, str) or not spec.strip():
        raise BackendSpecError(f"empty LLM backend spec; expected one of: {SPEC_FORMS}")
    spec = spec.strip()
    if spec.lower() == "local":
        spec = "local:"
    kind, sep, rest = spec.partition(":")
    kind = kind.lower()
    if not sep or kind not in _OPTIONS:
        hint = ""
        if _is_url(spec):
            hint = f" (for an OpenAI-compatible server write 'openai:{spec}')"
        elif not sep:
            hint = f" (for a local model write 'local:{spec}')"
        raise BackendSpecError(f"bad LLM backend spec {spec!r}: expected one of: {SPEC_FORMS}{hint}")
    opts: dict[str, str] = {}
    if "?" in rest:
        rest, _, query = rest.partition("?")
        frag = ""
        if "#" in query:  # 'openai:URL?timeout=5#model' — keep the fragment
            query, _, frag = query.partition("#")
            rest = rest + "#" + frag
        try:
            opts = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=True))
        except ValueError as e:
            raise BackendSpecError(f"bad options {query!r} in LLM backend spec {spec!r}: "
                                   f"use key=value&key=value") from e
        unknown = set(opts) - _OPTIONS[kind]
        if unknown:
            raise BackendSpecError(f"unknown option(s) {sorted(unknown)} for {kind} in {spec!r}; "
                                   f"allowed: {sorted(_OPTIONS[kind])}")
    kw: dict[str, Any] = {}

    def num(key: str, cast):
        if key in opts:
            try:
                kw[key] = cast(opts[key])
            except ValueError as e:
                raise BackendSpecError(f"option {key}={opts[key]!r} in {spec!r} is not a {cast.__name__}") from e

    if kind == "local":
        kw["model"] = rest or DEFAULT_SPEC.split(":", 1)[1]
        for k in ("device", "dtype"):
            if opts.get(k):
                kw[k] = opts[k]
        num("batch_size", int)
    elif kind == "openai":
        url, _, model = rest.partition("#")
        if url and not _is_url(url):
            if model:
                raise BackendSpecError(f"bad LLM backend spec {spec!r}: the part before '#' must be an "
                                       f"http(s) URL, e.g. openai:http://127.0.0.1:8001/v1#MODEL")
            url, model = "", url  # 'openai:gpt-4o-mini'
        if not url and not model and not os.environ.get("OPENAI_BASE_URL"):
            raise BackendSpecError(f"bad LLM backend spec {spec!r}: give a base URL and/or a model, e.g. "
                                   f"openai:http://127.0.0.1:8001/v1#MODEL or openai:MODEL with OPENAI_BASE_URL set")
        kw["base_url"] = url or None
        kw["model"] = model or None
        num("timeout", float)
        num("max_retries", int)
        if "prefill" in opts:
            kw["prefill_mode"] = opts["prefill"]
    else:  # anthropic
        url, _, model = rest.partition("#")
        if not _is_url(url):
            if model:
                raise BackendSpecError(f"bad LLM backend spec {spec!r}: the part before '#' must be an "
                                       f"http(s) URL")
            url, model = "", url
        if not model:
            raise BackendSpecError(f"bad LLM backend spec {spec!r}: name the model, e.g. anthropic:claude-sonnet-4-5")
        kw["model"] = model
        kw["base_url"] = url or opts.get("base_url") or None
        num("timeout", float)
        num("max_retries", int)
    if opts.get("api_key_env"):
        var = opts["api_key_env"]
        if var not in os.environ:
            raise BackendSpecError(f"{spec!r} names api_key_env={var}, but ${var} is not set")
        kw["api_key"] = os.environ[var]
    return kind, kw


def get_backend(spec: "str | ChatBackend | None" = None, *, cache: bool = True) -> ChatBackend:
    """A backend from a spec string (see the module docstring), an existing backend (returned as is), or
    ``None`` for ``$MONOSCOPE_LLM`` / the offline default. Local backends are cached per spec, so
    repeated calls share one loaded model; pass ``cache=False`` for a fresh one."""
    if isinstance(spec, ChatBackend):
        return spec
    if spec is None:
        spec = os.environ.get("MONOSCOPE_LLM") or DEFAULT_SPEC
    kind, kw = parse_spec(spec)
    if kind == "local":
        key = spec.strip()
        with _cache_lock:
            if cache and key in _cache:
                return _cache[key]
            from .local import LocalHFBackend
            backend: ChatBackend = LocalHFBackend(**kw)
            if cache:
                _cache[key] = backend
            return backend
    if kind == "openai":
        from .openai_sdk import OpenAIBackend
        return OpenAIBackend(**kw)
    from .anthropic_sdk import AnthropicBackend
    return AnthropicBackend(**kw)
