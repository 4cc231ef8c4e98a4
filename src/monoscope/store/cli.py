"""`monoscope harvest` and `monoscope store-info`."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def summarize(store) -> Table:
    """A table a researcher can read at a glance: what was harvested, how much, and its scalars."""
    m = store.manifest
    t = Table(title=f"activation store {store.path}", show_header=False)
    t.add_row("model", f"{m.config.model} ({m.model_source})")
    t.add_row("hooks", ", ".join(m.hooks))
    t.add_row("tokens", f"{m.n_tokens:,} in {m.n_contexts:,} contexts of {m.config.context_len}")
    state = "complete" if m.complete else "incomplete: resume with the same command"
    if m.corpus_contexts is not None and m.corpus_contexts * m.config.context_len < m.target_tokens:
        state += (f"; the corpus ended after {m.corpus_contexts * m.config.context_len:,} of the "
                  f"{m.target_tokens:,} tokens requested")
    t.add_row("shards", f"{len(m.shards)} ({state})")
    t.add_row("d_model / dtype", f"{m.d_model} / {m.config.dtype}")
    t.add_row("corpus", m.config.corpus)
    if m.row_counts:
        t.add_row("skipped by training", f"{m.row_counts.get('excluded', 0):,} rows (first token of each context: "
                                          f"{m.row_counts.get('first', 0):,}, special tokens: "
                                          f"{m.row_counts.get('special', 0):,}); --keep-first-token / --keep-special")
    for h in m.hooks:
        t.add_row(f"norm scalar {h}", f"{store.norm_scalar(h):.6g}  (E‖c·x‖² = {m.d_model})")
    return t


def register(app: typer.Typer) -> None:
    @app.command()
    def harvest(
        model: str = typer.Option("smollm2-135m", help="embedded name, local directory or hub id"),
        hooks: str = typer.Option("", help="comma-separated hook points, e.g. resid_post.15 (default: middle resid_post)"),
        corpus: str = typer.Option("default", help="'default', a file/folder (txt, jsonl, parquet) or hf:NAME"),
        tokens: int = typer.Option(100_000, help="tokens to harvest"),
        out: Path = typer.Option(..., help="store directory (resumes if it holds the same configuration)"),
        context_len: int = typer.Option(128),
        batch_size: int = typer.Option(16),
        shard_tokens: int = typer.Option(1 << 16, help="tokens per shard (the unit of resume)"),
        dtype: str = typer.Option("bfloat16", help="storage dtype: bfloat16 (half the disk) or float32"),
        device: str = typer.Option("cpu"),
        text_key: str = typer.Option("text", help="jsonl field / parquet column holding the text"),
    ) -> None:
        """Record activations at hook points over a corpus into an activation store."""
        from . import harvest as run

        res = run(model, out, hooks=hooks or None, corpus=corpus, n_tokens=tokens, context_len=context_len,
                  batch_size=batch_size, shard_tokens=shard_tokens, dtype=dtype, device=device, text_key=text_key)
        console.print(summarize(res.store))
        if res.corpus_ended:
            console.print(f"the corpus ended first: the store holds all {res.store.n_tokens:,} tokens it has "
                          f"(of {tokens:,} requested)")
        if res.new_tokens:
            console.print(f"harvested {res.new_tokens:,} new tokens in {res.seconds:.1f}s "
                          f"({res.tokens_per_second:,.0f} tok/s)")

    @app.command("store-info")
    def store_info(
        path: Path,
        verify: bool = typer.Option(False, help="read every shard: checksums, finite values, contiguous coverage"),
        repair: bool = typer.Option(False, help="with --verify: harvest again exactly the bad or missing shards"),
        device: str = typer.Option("cpu", help="device for --repair's forward passes"),
        batch_size: int = typer.Option(16, help="forward batch for --repair"),
    ) -> None:
        """Describe an activation store (and optionally verify its checksums)."""
        from .check import check_store
        from .harvest import repair as run_repair
        from .manifest import StoreError, StoreManifest

        if repair and not verify:
            raise StoreError("--repair needs --verify (it repairs what verification finds): "
                             f"monoscope store-info {path} --verify --repair")
        manifest = StoreManifest.load(path)
        if not verify:
            from . import ActivationStore

            console.print(summarize(ActivationStore(path)))
            return
        if repair:
            found, left = run_repair(path, device=device, batch_size=batch_size)
            for line in found.problems:
                console.print(f"found: {line}")
            from . import ActivationStore

            console.print(summarize(ActivationStore(path)))
            if not left.ok:
                raise StoreError(f"{path}: repair left {left.summary()}")
            console.print("nothing to repair: " + found.summary() if found.ok else
                          f"repaired {len(found.problems)} problem(s); " + left.summary())
            return
        report = check_store(path, manifest, progress=True)
        for line in report.problems:
            console.print(f"problem: {line}")
        if not report.ok:
            raise StoreError(f"{path}: {report.summary()}; repair with `monoscope store-info {path} --verify --repair`")
        from . import ActivationStore

        console.print(summarize(ActivationStore(path)))
        console.print(report.summary())
