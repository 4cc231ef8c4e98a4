"""What the official SDK backends share: importing the SDK with an install hint, URL checks, and turning the
SDKs' exceptions into monoscope's (`BackendUnavailable` when the endpoint cannot be reached after the SDK's
retries, `BackendHTTPError` with the status and the server's own message otherwise).

Retries are the SDKs' own: connection errors, timeouts, 408, 409, 429 and 5xx (Anthropic's 529 too) are
retried `max_retries` times with exponential backoff and jitter, honouring ``Retry-After``.
"""
from __future__ import annotations

import importlib
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator
from urllib.parse import urlsplit

from .base import BackendHTTPError, BackendUnavailable


def check_base_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} base URL must look like http(s)://host[:port][/path], got {url!r}")
    return url.rstrip("/")


def import_sdk(package: str, extra: str, what: str) -> ModuleType:
    """The SDK module, or `BackendUnavailable` naming the extra to install (the backend cannot run)."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise BackendUnavailable(f"{what} needs the official {package} SDK: pip install 'monoscope[{extra}]'") from None


def split_body(create, body: dict) -> tuple[dict, dict]:
    """(named arguments, extra_body) for an SDK `create` method: what the SDK version declares goes by name,
    everything else (vLLM's continue_final_message, sampling fields a newer SDK no longer declares) is sent
    in the JSON body unchanged, exactly as on the wire."""
    import inspect

    params = set(inspect.signature(create).parameters)
    named = {k: v for k, v in body.items() if k in params}
    return named, {k: v for k, v in body.items() if k not in params}


def server_message(body) -> str:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err)
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return str(err or body)[:500]


@contextmanager
def sdk_errors(sdk: ModuleType, label: str, base_url: str, max_retries: int) -> Iterator[None]:
    """Map the SDK's exceptions (openai and anthropic share these names) onto monoscope's."""
    try:
        yield
    except sdk.APITimeoutError as e:
        raise BackendUnavailable(f"{label} at {base_url} timed out after {max_retries + 1} attempt(s): {e}") from e
    except sdk.APIConnectionError as e:
        cause = e.__cause__ or e
        raise BackendUnavailable(f"{label} at {base_url} is unreachable after {max_retries + 1} attempt(s): "
                                 f"{type(cause).__name__}: {cause}") from e
    except sdk.APIStatusError as e:
        status = e.status_code
        hint = {401: " (check the API key)", 403: " (check the API key)",
                404: " (check the base URL and the model name)"}.get(status, "")
        msg = server_message(e.body) if e.body is not None else e.message
        raise BackendHTTPError(f"{label} {e.request.method} {e.request.url} failed with HTTP {status}{hint}: {msg}",
                               status, msg) from e
