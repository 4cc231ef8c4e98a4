"""`monoscope demo`: the main job on the embedded default, end to end, with a summary of what it made.

Each stage writes its artifact under --out and is skipped when that artifact is already complete, so
re-running the demo resumes rather than repeats.
"""
from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

console = Console()


def run_demo(out: Path, model: str = "smollm2-135m", tokens: int = 200_000, context_len: int = 128) -> dict:
    from .models import load
    from .store import harvest
    from .store.cli import summarize

    produced: dict[str, Path] = {}
    t0 = time.perf_counter()
    console.rule("[bold]1. model")
    lm = load(model)
    hook = lm.default_hook()
    console.print(f"{model}: {lm.n_layers} layers, d_model {lm.d_model}; harvesting the middle residual stream "
                  f"[bold]{hook}[/bold]")
    console.rule("[bold]2. harvest → activation store")
    res = harvest(lm, out / "store", hooks=hook, corpus="default", n_tokens=tokens, context_len=context_len)
    console.print(summarize(res.store))
    if res.new_tokens:
        console.print(f"{res.new_tokens:,} tokens in {res.seconds:.1f}s = {res.tokens_per_second:,.0f} tok/s")
    produced["activation store"] = out / "store"
    console.rule("[bold]done")
    console.print(f"finished in {time.perf_counter() - t0:.0f}s. Produced:")
    for what, where in produced.items():
        console.print(f"  {what:<20} {where}")
    return produced


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(out: Path = typer.Option(Path("runs/demo"), help="where every artifact of the demo goes"),
             model: str = typer.Option("smollm2-135m"),
             tokens: int = typer.Option(200_000, help="tokens to harvest (scale up for real runs)")) -> None:
        """Run the main job on the embedded default model and corpus."""
        run_demo(out, model=model, tokens=tokens)
