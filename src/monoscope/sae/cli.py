"""`monoscope train` and `monoscope eval` (SAE-only metrics)."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _table(title: str, rows: dict) -> Table:
    t = Table(title=title, show_header=False)
    for k, v in rows.items():
        t.add_row(k, f"{v:.6g}" if isinstance(v, float) else str(v))
    return t


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        store: Path = typer.Option(..., help="activation store directory (from `monoscope harvest`)"),
        out: Path = typer.Option(..., help="output directory: exported SAE, metrics.jsonl, checkpoints"),
        hook: str = typer.Option("", help="hook point in the store (default: the store's only hook)"),
        arch: str = typer.Option("topk", help="relu | topk | batchtopk | jumprelu | matryoshka | gated"),
        latents: int = typer.Option(0, help="number of latents (default 16 × d_model)"),
        k: int = typer.Option(32, help="active latents per token (topk, batchtopk, matryoshka)"),
        l1: float = typer.Option(None, help="λ of the sparsity penalty (relu, gated: default 5; jumprelu: the L0 "
                                            "coefficient, default 5e-4·d_model)"),
        steps: int = typer.Option(0, help="optimizer steps (or give --tokens)"),
        tokens: int = typer.Option(0, help="training tokens (steps = tokens / batch size)"),
        batch_size: int = typer.Option(4096),
        lr: float = typer.Option(0.0, help="learning rate (default: per architecture)"),
        resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint"),
        device: str = typer.Option("auto"),
        seed: int = typer.Option(0),
        checkpoint_every: int = typer.Option(1000),
        log_every: int = typer.Option(10),
        loggers: str = typer.Option("", help="comma-separated: wandb, tensorboard"),
        progress: bool = typer.Option(True),
    ) -> None:
        """Train an SAE on an activation store (exact resume with --resume)."""
        from ..store import ActivationStore
        from . import SAEConfig, TrainConfig, train_sae
        from .config import TOPK_FAMILY

        s = ActivationStore(store)
        hook_ = hook or (s.manifest.hooks[0] if len(s.manifest.hooks) == 1 else "")
        if not hook_:
            raise typer.BadParameter(f"the store holds several hooks ({', '.join(s.manifest.hooks)}); pass --hook")
        if not steps and not tokens:
            tokens = s.n_tokens
        cfg = SAEConfig(architecture=arch, d_in=s.manifest.d_model, n_latents=latents or 16 * s.manifest.d_model,
                        k=k if arch in TOPK_FAMILY else None, l1_coeff=l1, hook=hook_,
                        model=s.manifest.config.model)
        tcfg = TrainConfig(steps=steps or None, tokens=tokens or None, batch_size=batch_size, lr=lr or None,
                           device=device, seed=seed, checkpoint_every=checkpoint_every, log_every=log_every,
                           loggers=tuple(x for x in loggers.split(",") if x), progress=progress)
        res = train_sae(s, cfg, out, tcfg, resume=resume, hook=hook_)
        rows = {"architecture": arch, "latents": cfg.n_latents, "steps": res.steps, "tokens": res.tokens,
                "tokens/s": round(res.tokens_per_second), "skipped batches": res.skipped_batches,
                **{k_: v for k_, v in res.metrics.items() if k_ in ("fvu", "l0", "dead_frac", "mse")}}
        console.print(_table(f"SAE written to {out}", rows))

    @app.command("eval")
    def eval_(
        sae: str = typer.Option(..., help="SAE: a directory in any layout, saelens:RELEASE/SAE_ID or hf:ORG/REPO[/PATH]"),
        store: Path = typer.Option(..., help="activation store to evaluate on"),
        hook: str = typer.Option("", help="hook point (default: the SAE's)"),
        tokens: int = typer.Option(1_000_000, help="evaluate on this many tokens"),
        batch_size: int = typer.Option(4096),
        device: str = typer.Option("cpu"),
        json_out: Path = typer.Option(None, "--json", help="also write the figures to this JSON file"),
    ) -> None:
        """SAE-only metrics: MSE, FVU, L0, dead and dense fractions over a stated token count."""
        from ..store import ActivationStore
        from . import load_sae
        from .evaluate import evaluate_sae

        model = load_sae(sae, device=device)
        res = evaluate_sae(model, ActivationStore(store), hook=hook or None, n_tokens=tokens,
                           batch_size=batch_size, device=device)
        d = res.as_dict()
        console.print(_table(f"{sae} on {store} ({res.n_tokens:,} tokens)", d))
        if json_out:
            json_out.write_text(json.dumps(d, indent=2))
