"""`monoscope train` and `monoscope eval`: the same labelled figures from both (see `monoscope.sae.evaluate`)."""
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
        arch: str = typer.Option("topk", help="relu | topk | batchtopk | jumprelu"),
        latents: int = typer.Option(0, help="number of latents (default 16 × d_model)"),
        k: int = typer.Option(32, help="active latents per token (topk, batchtopk)"),
        l1: float = typer.Option(5.0, help="λ of the sparsity penalty (relu; L0 coefficient for jumprelu)"),
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
        eval_tokens: int = typer.Option(0, help="tokens of the store the final figures are measured on "
                                                "(default: as many as were trained, at most the store)"),
    ) -> None:
        """Train an SAE on an activation store (exact resume with --resume); ends with the same figures
        `monoscope eval` prints."""
        from ..store import ActivationStore
        from . import SAEConfig, TrainConfig, train_sae
        from .evaluate import evaluate_sae

        s = ActivationStore(store)
        hook_ = hook or (s.manifest.hooks[0] if len(s.manifest.hooks) == 1 else "")
        if not hook_:
            raise typer.BadParameter(f"the store holds several hooks ({', '.join(s.manifest.hooks)}); pass --hook")
        if not steps and not tokens:
            tokens = s.n_tokens
        cfg = SAEConfig(architecture=arch, d_in=s.manifest.d_model, n_latents=latents or 16 * s.manifest.d_model,
                        k=k if arch in ("topk", "batchtopk") else None, l1_coeff=l1, hook=hook_,
                        model=s.manifest.config.model)
        tcfg = TrainConfig(steps=steps or None, tokens=tokens or None, batch_size=batch_size, lr=lr or None,
                           device=device, seed=seed, checkpoint_every=checkpoint_every, log_every=log_every,
                           loggers=tuple(x for x in loggers.split(",") if x), progress=progress)
        res = train_sae(s, cfg, out, tcfg, resume=resume, hook=hook_)
        horizon = min(s.n_rows(True), res.tokens, eval_tokens or res.tokens)
        ev = evaluate_sae(res.sae, s, hook=hook_, n_tokens=horizon, batch_size=batch_size)
        rows = {"architecture": arch, "latents": cfg.n_latents, "steps": res.steps, "tokens trained": res.tokens,
                "skipped batches": res.skipped_batches,
                f"dead at the end of training (silent for the last {tcfg.dead_window(tcfg.resolve_steps()):,} "
                f"tokens)": res.metrics.get("dead_frac")}
        rows = {k_: v for k_, v in rows.items() if v is not None}
        console.print(_table(f"SAE written to {out}", rows))
        console.print(reconstruction_table(ev, f"reconstruction on {ev.n_tokens:,} tokens of the training store"))

    @app.command("eval")
    def eval_(
        sae: Path = typer.Option(..., help="SAE directory (native, SAELens or sparsify)"),
        store: Path = typer.Option(..., help="activation store the SAE was trained on (reconstruction figures)"),
        hook: str = typer.Option("", help="hook point (default: the SAE's)"),
        tokens: int = typer.Option(0, help="horizon for FVU, L0, dead and dense: this many store tokens "
                                           "(default: the tokens trained, at most the store)"),
        spliced_contexts: int = typer.Option(64, help="held-out contexts for spliced CE/KL (0: skip)"),
        heldout_corpus: str = typer.Option("", help="corpus for held-out text (default: the store's corpus, "
                                                     "documents after the last one the store holds)"),
        neurons: bool = typer.Option(True, help="best-neuron correlation of each feature (features vs neurons)"),
        model: str = typer.Option("", help="model for the spliced and neuron figures (default: the store's)"),
        batch_size: int = typer.Option(4096),
        device: str = typer.Option("cpu"),
        json_out: Path = typer.Option(None, "--json", help="also write the figures to this JSON file"),
    ) -> None:
        """SAE figures, each beside its baseline: reconstruction (FVU, MSE, L0) and dead/dense fractions over a
        stated horizon; on held-out text, spliced CE (ΔCE in nats, KL, fraction recovered vs zero- and
        mean-ablation); the fraction of features whose best MLP neuron has |r| ≤ 0.3 vs random directions."""
        from ..store import ActivationStore
        from . import load_sae
        from .evaluate import evaluate_sae

        model_ = load_sae(sae, device=device)
        s = ActivationStore(store)
        trained = trained_tokens(sae)
        horizon = check_horizon(tokens, s.n_rows(True), trained)
        res = evaluate_sae(model_, s, hook=hook or None, n_tokens=horizon, batch_size=batch_size, device=device)
        d: dict = {"reconstruction": res.as_dict(), "trained_tokens": trained}
        console.print(reconstruction_table(res, f"{sae} on {res.n_tokens:,} tokens of {store}"
                                                + (f" (trained on {trained:,})" if trained else "")))
        if spliced_contexts or neurons:
            from ..evals.neurons import feature_neuron_correlation
            from ..evals.spliced import heldout_contexts, spliced_loss
            from ..models import load

            lm = load(model or s.manifest.config.model, device=device)
            n_ctx = spliced_contexts or 64
            ctx, where = heldout_contexts(s, lm.tokenizer, n_ctx, heldout_corpus or None)
            if spliced_contexts:
                spl = spliced_loss(lm, model_, ctx, progress=False, source=f"held out: {where}")
                d["spliced"] = spl.to_dict()
                console.print(spliced_table(spl))
            if neurons:
                fn = feature_neuron_correlation(lm, model_, ctx)
                d["features_vs_neurons"] = fn.to_dict()
                console.print(f"features vs neurons: {fn}")
        if json_out:
            json_out.write_text(json.dumps(d, indent=2, default=str))


def trained_tokens(sae_dir: Path) -> int | None:
    """Tokens the SAE in `sae_dir` was trained on, from its summary.json (None if it has none)."""
    p = Path(sae_dir) / "summary.json"
    if not p.exists():
        return None
    try:
        return int(json.loads(p.read_text()).get("tokens") or 0) or None
    except (json.JSONDecodeError, TypeError, ValueError):
        return None


def check_horizon(tokens: int, store_rows: int, trained: int | None) -> int:
    """The evaluation horizon: `tokens`, or by default min(trained, store); a longer one is refused."""
    from ..store.manifest import StoreError

    if tokens and tokens > store_rows:
        raise StoreError(f"--tokens {tokens:,} is longer than the store, which holds {store_rows:,} tokens; "
                         f"give at most {store_rows:,}")
    if tokens and trained and tokens > trained:
        raise StoreError(f"--tokens {tokens:,} is longer than the {trained:,} tokens the SAE was trained on: a "
                         f"dead fraction over a longer horizon than training is not what training measured; "
                         f"give at most {trained:,}")
    return tokens or min(store_rows, trained or store_rows)


def reconstruction_table(res, title: str) -> Table:
    """The reconstruction figures, labelled with their units (shared by `train` and `eval`)."""
    t = Table(title=title, show_header=False)
    t.add_row("FVU (fraction of variance unexplained)", f"{res.fvu:.4f}")
    t.add_row("MSE per token, raw activation units", f"{res.mse:.6g}")
    t.add_row("MSE per token, normalised units (E‖x‖² = d, as training logs)", f"{res.mse_normalized:.6g}")
    t.add_row("L0 (active latents per token)", f"{res.l0:.2f}")
    t.add_row(f"dead (never fired in these {res.n_tokens:,} tokens)", f"{100 * res.dead_frac:.2f}%")
    t.add_row(f"dense (fired on > {100 * res.dense_threshold:g}% of them)", f"{100 * res.dense_frac:.2f}%")
    return t


def spliced_table(spl) -> Table:
    t = Table(title=f"spliced at the hook, {spl.n_tokens:,} tokens {spl.source}", show_header=False)
    t.add_row("CE clean / with SAE (nats per token)", f"{spl.ce_clean:.4f} / {spl.ce_sae:.4f}")
    t.add_row("ΔCE = CE_sae − CE_clean (nats)", f"{spl.delta_ce:.4f}")
    t.add_row("KL(clean ‖ SAE) per token (nats)", f"{spl.kl_sae:.4f}")
    t.add_row("CE zero-ablated / mean-ablated", f"{spl.ce_zero:.4f} / {spl.ce_mean:.4f}")
    t.add_row("fraction of CE recovered vs zero-ablation", f"{spl.loss_recovered:.4f}")
    t.add_row("fraction of CE recovered vs mean-ablation", f"{spl.recovered_vs_mean:.4f}")
    return t
