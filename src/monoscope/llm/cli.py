"""`monoscope serve-llm`: an OpenAI-compatible server over a local HF model."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve-llm")
    def serve_llm(
        model: str = typer.Option("smollm2-135m", help="embedded name, local model directory or hub id"),
        host: str = typer.Option("127.0.0.1", help="address to bind; the server has no authentication"),
        port: int = typer.Option(8001, help="TCP port (the dashboard, `monoscope serve`, uses 8000)"),
        model_id: str = typer.Option("", help="name clients use in 'model' (default: --model)"),
        device: str = typer.Option("", help="cpu, cuda, cuda:1 ... (default: cuda if available)"),
        dtype: str = typer.Option("", help="float32, bfloat16 ... (default: as stored)"),
        batch_size: int = typer.Option(16, help="rows per generation batch"),
        log_level: str = typer.Option("info", help="uvicorn log level"),
    ) -> None:
        """Serve a local model at /v1/models, /v1/chat/completions and /v1/completions (OpenAI shape),
        e.g. for `--llm openai:http://127.0.0.1:8001/v1#smollm2-135m`."""
        from .base import LLMError
        from .server import is_loopback, serve

        if not is_loopback(host):
            typer.secho(f"warning: binding {host}: anyone who can reach it can use the model (no auth)",
                        fg=typer.colors.YELLOW, err=True)
        name = model_id or model

        def load_backend():
            from .local import LocalHFBackend

            typer.echo(f"loading {model} ...", err=True)
            try:
                return LocalHFBackend(model, device=device or None, dtype=dtype or None, batch_size=batch_size)
            except (LLMError, ValueError, OSError) as e:
                typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
                raise typer.Exit(2)

        def bound(url: str) -> None:   # printed only once the port is ours, so the address is never a lie
            typer.echo(f"serving {name!r} at {url}/v1  (backend spec: openai:{url}/v1#{name})", err=True)

        serve(model, host, port, model_id=name, log_level=log_level, backend=load_backend, on_bound=bound)
