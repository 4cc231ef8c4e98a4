"""A small JSON-over-HTTP client with timeouts and retries, shared by the HTTP backends."""
from __future__ import annotations

import random
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from .base import BackendHTTPError, BackendUnavailable

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


def check_base_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} base URL must look like http(s)://host[:port][/path], got {url!r}")
    return url.rstrip("/")


def _server_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:500]
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err)
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(err or body)[:500]


class JSONClient:
    """POST/GET JSON with bounded retries: connection errors, timeouts, 408/409/429/5xx/529 are retried
    with exponential backoff and jitter (honouring ``Retry-After`` up to ``max_backoff``)."""

    def __init__(self, base_url: str, headers: dict[str, str], *, timeout: float = 60.0, max_retries: int = 3,
                 backoff: float = 0.5, max_backoff: float = 20.0, transport: httpx.BaseTransport | None = None,
                 label: str = "LLM endpoint"):
        self.base_url = base_url.rstrip("/")
        self.max_retries = int(max_retries)
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.label = label
        self.client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                   transport=transport)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.base_url + path
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            wait = self.backoff * (2 ** attempt) * (0.5 + random.random() / 2)
            try:
                resp = self.client.request(method, url, json=body)
            except (httpx.TransportError,) as e:  # connect errors, timeouts, protocol errors
                last = e
                if attempt < self.max_retries:
                    time.sleep(min(wait, self.max_backoff))
                    continue
                kind = "timed out" if isinstance(e, httpx.TimeoutException) else "unreachable"
                raise BackendUnavailable(
                    f"{self.label} at {self.base_url} is {kind} after {attempt + 1} attempt(s): "
                    f"{type(e).__name__}: {e}") from e
            if resp.status_code < 400:
                try:
                    return resp.json()
                except ValueError as e:
                    raise BackendHTTPError(f"{self.label} at {url} returned non-JSON: {resp.text[:200]!r}",
                                           resp.status_code, resp.text) from e
            msg = _server_message(resp)
            if resp.status_code in RETRY_STATUS and attempt < self.max_retries:
                retry_after = resp.headers.get("retry-after")
                try:
                    wait = max(wait, float(retry_after)) if retry_after else wait
                except ValueError:
                    pass
                last = BackendHTTPError(msg, resp.status_code)
                time.sleep(min(wait, self.max_backoff))
                continue
            hint = ""
            if resp.status_code in (401, 403):
                hint = " (check the API key)"
            elif resp.status_code == 404:
                hint = " (check the base URL and the model name)"
            raise BackendHTTPError(f"{self.label} {method} {url} failed with HTTP {resp.status_code}{hint}: {msg}",
                                   resp.status_code, msg)
        raise BackendUnavailable(f"{self.label} at {self.base_url} failed after retries: {last}")  # pragma: no cover

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, body)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def close(self) -> None:
        self.client.close()
