"""``monoscope serve-llm``: a small OpenAI-compatible server over a local HF model (or any backend).

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /health``.
Supported request fields: ``model`` (must be the served id, or omitted), ``messages`` (string content or
text parts), ``prompt`` (string or list of strings), ``max_tokens``/``max_completion_tokens``,
``temperature``, ``top_p``, ``n``, ``stop``, ``seed``, ``tools``/``tool_choice`` (JSON-in-text protocol,
answered in OpenAI's ``tool_calls`` shape), vLLM's ``continue_final_message`` (assistant prefill: the
final assistant message is continued and only the new text is returned), and on ``/v1/completions``
``echo`` with ``logprobs`` and ``max_tokens: 0`` (prompt token logprobs, for scoring). Not supported:
streaming, token-id prompts, logprobs of generated tokens (clear 400 errors). Unknown fields are ignored.

There is no authentication: it binds 127.0.0.1 by default; bind elsewhere only on a trusted network.
"""
import contextlib
import json
import socket
import threading
import time
import uuid
from typing import Any, Callable, Iterator

from .base import (BackendHTTPError, BackendSpecError, BackendUnavailable, ChatBackend, LLMError, _check_sampling, _stops,
                   as_messages)

MAX_N = 16


def create_app(backend: ChatBackend, model_id: str | None = None, *, default_max_tokens: int = 256,
               max_tokens_limit: int = 4096):
    """A FastAPI app serving ``backend`` under the name ``model_id``."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict

    served = model_id or getattr(backend, "model_id", None) or backend.name
    created = int(time.time())
    app = FastAPI(title="monoscope serve-llm", version="1", docs_url=None, redoc_url=None)
    app.state.backend = backend
    app.state.model_id = served

    class _Err(Exception):
        def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None):
            self.status, self.message, self.type, self.code = status, message, type_, code

    def err_response(status: int, message: str, type_: str, code: str | None = None) -> JSONResponse:
        return JSONResponse(status_code=status,
                            content={"error": {"message": message, "type": type_, "param": None, "code": code}})

    @app.exception_handler(_Err)
    async def _on_err(request: Request, e: _Err):
        return err_response(e.status, e.message, e.type, e.code)

    @app.exception_handler(RequestValidationError)
    async def _on_validation(request: Request, e: RequestValidationError):
        parts = [f"{'.'.join(str(x) for x in d.get('loc', ()))}: {d.get('msg')}" for d in e.errors()]
        return err_response(400, "invalid request: " + "; ".join(parts), "invalid_request_error")

    def call(fn, *args, **kwargs):
        """Run a backend call, turning the errors a caller can fix into 400s (the server stays up)."""
        try:
            return fn(*args, **kwargs)
        except (BackendUnavailable, BackendHTTPError) as e:
            raise _Err(502, str(e), "upstream_error") from e
        except (ValueError, TypeError, KeyError, LLMError) as e:
            raise _Err(400, f"{type(e).__name__}: {e}") from e

    class _Common(BaseModel):
        model_config = ConfigDict(extra="ignore")
        model: str | None = None
        max_tokens: int | None = None
        max_completion_tokens: int | None = None
        temperature: float = 1.0
        top_p: float = 1.0
        n: int = 1
        stop: str | list[str] | None = None
        seed: int | None = None
        stream: bool = False

    class ChatRequest(_Common):
        messages: list[dict[str, Any]]
        tools: list[dict[str, Any]] | None = None
        tool_choice: str | dict[str, Any] | None = None
        continue_final_message: bool = False
        add_generation_prompt: bool = True

    class CompletionRequest(_Common):
        prompt: str | list[str]
        echo: bool = False
        logprobs: int | None = None

    def check_common(req: _Common) -> int:
        if req.model not in (None, "", served):
            raise _Err(404, f"model {req.model!r} is not served here; available: [{served!r}]",
                       "invalid_request_error", "model_not_found")
        if req.stream:
            raise _Err(400, "streaming is not supported by monoscope serve-llm; send stream=false")
        max_tokens = req.max_tokens if req.max_tokens is not None else req.max_completion_tokens
        max_tokens = default_max_tokens if max_tokens is None else max_tokens
        if max_tokens > max_tokens_limit:
            raise _Err(400, f"max_tokens={max_tokens} exceeds this server's limit of {max_tokens_limit}")
        if not 1 <= req.n <= MAX_N:
            raise _Err(400, f"n must be between 1 and {MAX_N}, got {req.n}")
        if not 0 < req.top_p <= 1:
            raise _Err(400, f"top_p must be in (0, 1], got {req.top_p}")
        try:
            _check_sampling(max_tokens, req.temperature, req.n)
        except ValueError as e:
            raise _Err(400, str(e)) from e
        return max_tokens

    def new_id(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:24]}"

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": served}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": served, "object": "model", "created": created,
                                            "owned_by": "monoscope"}]}

    @app.post("/v1/chat/completions")
    def chat_completions(req: ChatRequest) -> dict[str, Any]:
        max_tokens = check_common(req)
        try:
            msgs = as_messages(req.messages)
        except (TypeError, ValueError, KeyError) as e:
            raise _Err(400, f"bad messages: {e}") from e
        prefill = None
        if req.continue_final_message:
            if msgs[-1].role != "assistant":
                raise _Err(400, "continue_final_message needs the last message to be from the assistant")
            prefill, msgs = msgs[-1].content, msgs[:-1]
            if not msgs:
                raise _Err(400, "continue_final_message needs at least one message before the assistant's")
        stop = _stops(req.stop)
        use_tools = bool(req.tools) and req.tool_choice != "none"
        if use_tools:
            if req.n != 1 or prefill:
                raise _Err(400, "with tools, n must be 1 and continue_final_message is not supported")
            resp = call(backend.chat_with_tools, msgs, req.tools, tool_choice=req.tool_choice or "auto",
                        max_tokens=max_tokens, temperature=req.temperature, seed=req.seed,
                        stop=stop or None)
            message: dict[str, Any] = {"role": "assistant", "content": resp.content or None}
            if resp.tool_calls:
                message["tool_calls"] = [{"id": c.id, "type": "function",
                                          "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                                         for c in resp.tool_calls]
            choices = [{"index": 0, "message": message, "finish_reason": resp.finish_reason, "logprobs": None}]
            usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        else:
            if prefill and not backend.supports_prefill:
                raise _Err(400, f"{backend.name} cannot continue an assistant message")
            comps = call(backend.generate_chat, msgs, max_tokens=max_tokens, temperature=req.temperature,
                         stop=stop, seed=req.seed, prefill=prefill, n=req.n, top_p=req.top_p)
            choices = [{"index": i, "message": {"role": "assistant", "content": c.text},
                        "finish_reason": c.finish_reason, "logprobs": None} for i, c in enumerate(comps)]
            pt = comps[0].prompt_tokens if comps else 0
            ct = sum(c.completion_tokens for c in comps)
            usage = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
        return {"id": new_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
                "model": served, "choices": choices, "usage": usage}

    @app.post("/v1/completions")
    def completions(req: CompletionRequest) -> dict[str, Any]:
        max_tokens = check_common(req)
        prompts = [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)
        if not prompts:
            raise _Err(400, "prompt must be a string or a non-empty list of strings")
        choices: list[dict[str, Any]] = []
        if req.logprobs is not None:
            if not (req.echo and max_tokens == 0):
                raise _Err(400, "logprobs are only returned for the prompt: send echo=true with max_tokens=0")
            scorer = getattr(backend, "token_logprobs", None)
            if scorer is None:
                raise _Err(400, f"{backend.name} cannot return prompt logprobs")
            pt = 0
            for i, p in enumerate(prompts):
                tokens, lps, offsets = call(scorer, p)
                pt += len(tokens)
                choices.append({"index": i, "text": p, "finish_reason": "length",
                                "logprobs": {"tokens": tokens, "token_logprobs": lps, "text_offset": offsets,
                                             "top_logprobs": None}})
            usage = {"prompt_tokens": pt, "completion_tokens": 0, "total_tokens": pt}
        else:
            outs = call(backend.generate_completion, prompts, max_tokens=max_tokens,
                        temperature=req.temperature, stop=_stops(req.stop), seed=req.seed, n=req.n, top_p=req.top_p)
            pt = ct = 0
            for i, (p, comps) in enumerate(zip(prompts, outs)):
                pt += comps[0].prompt_tokens if comps else 0
                for c in comps:
                    ct += c.completion_tokens
                    choices.append({"index": len(choices), "text": (p if req.echo else "") + c.text,
                                    "finish_reason": c.finish_reason, "logprobs": None})
            usage = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
        return {"id": new_id("cmpl"), "object": "text_completion", "created": int(time.time()),
                "model": served, "choices": choices, "usage": usage}

    return app


def is_loopback(host: str) -> bool:
    if host in ("localhost", "::1") or host.startswith("127."):
        return True
    return False


class ServeError(BackendSpecError):
    """A server that cannot start where it was asked to."""


def _bound_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextlib.contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 20.0,
                    shutdown_timeout: float = 10.0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread; yields the base URL (``http://host:port``).
    ``port=0`` picks a free port (the socket is bound before the thread starts, so there is no race)."""
    import uvicorn

    sock = _bound_socket(host, port)
    real_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"uvicorn-{real_port}")
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"server on {host}:{real_port} did not start within {startup_timeout}s")
        time.sleep(0.02)
    h = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{h}:{real_port}"
    finally:
        server.should_exit = True
        thread.join(shutdown_timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(shutdown_timeout)
        sock.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket for a server, or one clear error (port taken, address not ours)."""
    try:
        sock = _bound_socket(host, port)
        sock.listen(128)   # from here on connections queue until the app accepts them
        return sock
    except OSError as e:
        raise ServeError(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port "
                         f"or stop what is using it") from None


def serve(model: str = "smollm2-135m", host: str = "127.0.0.1", port: int = 8001, *, model_id: str | None = None,
          device: str | None = None, dtype: str | None = None, batch_size: int = 16, log_level: str = "info",
          backend: ChatBackend | Callable[[], ChatBackend] | None = None,
          on_bound: Callable[[str], None] | None = None) -> None:
    """Load ``model`` (or call the ``backend`` factory) and serve it until interrupted (blocking). The port is
    bound and listening first, so a taken port fails before minutes of loading, and ``on_bound(url)`` is called
    once the app is built: whatever it prints is an address that answers (requests queue until uvicorn runs)."""
    import uvicorn

    sock = bind(host, port)
    if backend is None:
        from .local import LocalHFBackend
        backend = LocalHFBackend(model, device=device, dtype=dtype, batch_size=batch_size)
    elif not isinstance(backend, ChatBackend):
        backend = backend()
    app = create_app(backend, model_id=model_id or model)
    h = f"[{host}]" if ":" in host else host
    if on_bound is not None:
        on_bound(f"http://{h}:{sock.getsockname()[1]}")
    uvicorn.Server(uvicorn.Config(app, log_level=log_level)).run(sockets=[sock])
