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
        store: Path = typer.Option(None, help="activation store to evaluate on (the metrics suite)"),
        suite: str = typer.Option("metrics", help="comma-separated: metrics (MSE, FVU, L0, dead/dense on --store), "
                                                  "probing (k-sparse probes vs the residual stream), absorption "
                                                  "(first-letter feature absorption)"),
        model: str = typer.Option("", help="model for probing/absorption (default: the SAE's own)"),
        hook: str = typer.Option("", help="hook point (default: the SAE's)"),
        tokens: int = typer.Option(1_000_000, help="evaluate on this many tokens"),
        batch_size: int = typer.Option(4096),
        device: str = typer.Option("cpu"),
        json_out: Path = typer.Option(None, "--json", help="also write the figures to this JSON file"),
    ) -> None:
        """SAE metrics on a store, and SAEBench-style evaluations on the embedded data (--suite probing,absorption)."""
        from . import SAEError, load_sae

        suites = [x.strip() for x in suite.split(",") if x.strip()]
        unknown = sorted(set(suites) - {"metrics", "probing", "absorption"})
        if unknown or not suites:
            raise SAEError(f"unknown --suite {', '.join(unknown) or suite!r}; choose from metrics, probing, absorption")
        out: dict = {}
        model_sae = load_sae(sae, device=device)
        if "metrics" in suites:
            from ..store import ActivationStore
            from .evaluate import evaluate_sae

            if store is None:
                raise SAEError("the metrics suite evaluates on an activation store: pass --store DIR "
                               "(or --suite probing,absorption, which need only the model)")
            res = evaluate_sae(model_sae, ActivationStore(store), hook=hook or None, n_tokens=tokens,
                               batch_size=batch_size, device=device)
            out.update(res.as_dict())        # the metrics stay top-level keys of --json, as before the suites
            console.print(_table(f"{sae} on {store} ({res.n_tokens:,} tokens)", res.as_dict()))
        if "probing" in suites or "absorption" in suites:
            from ..models import load
            from .formats import check_model

            name = model or model_sae.cfg.model
            if not name:
                raise SAEError("the SAE does not name its model; pass --model")
            if hook:
                model_sae.cfg.hook = hook
            lm = load(name, device=device)
            check_model(model_sae, lm)
            if "probing" in suites:
                from ..evals.probing import run_probing

                pr = run_probing(lm, model_sae)
                out["probing"] = pr.as_dict()
                t = Table(title=f"sparse probing: balanced accuracy on held-out passages (0.5 = chance), {sae}")
                for c in ("task", "k", "SAE latents", "residual dims", "residual (all dims)", "shuffled labels"):
                    t.add_column(c, justify="right")
                for r in pr.rows:
                    t.add_row(f"{r.task} ({r.n_classes} classes)", str(r.k), f"{r.sae:.3f}", f"{r.resid:.3f}",
                              f"{r.resid_all:.3f}", f"{r.shuffled:.3f}")
                console.print(t)
            if "absorption" in suites:
                from ..evals.absorption import run_absorption

                ab = run_absorption(lm, model_sae)
                out["absorption"] = ab.as_dict()
                real = ab.absorption > ab.absorption_random_dir
                console.print(_table(f"first-letter absorption ({ab.n_words:,} words, {ab.n_letters} letters)", {
                    "residual probe accuracy (ceiling)": ab.probe_accuracy,
                    "main latent F1 (mean over letters)": ab.main_latent_f1,
                    "main latent misses (probe right)": ab.false_negative_rate,
                    "absorption rate": ab.absorption if real else "no score: not above its control",
                    "absorption, random probe directions (control)": ab.absorption_random_dir}))
        if json_out:
            json_out.write_text(json.dumps(out, indent=2, default=float))
