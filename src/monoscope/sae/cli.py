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


def _list(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _results_table(out: Path, results: dict) -> Table:
    t = Table(title=f"{len(results)} SAE(s) written to {out}")
    for c in ("SAE", "steps", "tokens", "FVU", "L0", "dead", "tokens/s"):
        t.add_column(c, justify="left" if c == "SAE" else "right", overflow="fold")
    for name, r in results.items():
        m = r.metrics
        t.add_row(name or str(out), f"{r.steps:,}", f"{r.tokens:,}", f"{m.get('fvu', float('nan')):.4f}",
                  f"{m.get('l0', float('nan')):.1f}", f"{100 * m.get('dead_frac', float('nan')):.1f}%",
                  f"{r.tokens_per_second:,.0f}")
    return t


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        out: Path = typer.Option(..., help="output directory: the SAE (one sub-directory per SAE when several), "
                                           "metrics.jsonl, checkpoints"),
        store: Path = typer.Option(None, help="train on an activation store (from `monoscope harvest`)"),
        model: str = typer.Option("", help="…or straight from this model's forward pass, no store: embedded "
                                           "name, local directory or hub id"),
        corpus: str = typer.Option("default", help="with --model: 'default', a file/folder or hf:NAME"),
        hooks: str = typer.Option("", "--hooks", "--hook", help="comma-separated hook points; one SAE family per "
                                  "hook (default: the store's only hook / the model's middle resid_post)"),
        arch: str = typer.Option("topk", help="comma-separated: relu | topk | batchtopk | jumprelu | matryoshka | "
                                              "gated"),
        latents: str = typer.Option("", help="comma-separated numbers of latents (default 16 × d_model)"),
        k: str = typer.Option("32", help="comma-separated active latents per token (topk, batchtopk, matryoshka)"),
        l1: float = typer.Option(None, help="λ of the sparsity penalty (relu, gated: default 5; jumprelu: the L0 "
                                            "coefficient, default 5e-4·d_model)"),
        lr: str = typer.Option("", help="comma-separated learning rates (default: per architecture)"),
        steps: int = typer.Option(0, help="optimizer steps (or give --tokens)"),
        tokens: int = typer.Option(0, help="training tokens (steps = tokens / batch size; a store: all of it)"),
        batch_size: int = typer.Option(4096, help="rows per step (global: over all ranks)"),
        context_len: int = typer.Option(128, help="with --model: tokens per context"),
        model_batch: int = typer.Option(16, help="with --model: contexts per forward pass"),
        buffer_tokens: int = typer.Option(0, help="with --model: mixing-buffer window, rows held at most (default: a "
                                                  "quarter of the run, between 4 batches and 262,144)"),
        buffer_dtype: str = typer.Option("bfloat16", help="with --model: bfloat16 | float32"),
        norm_tokens: int = typer.Option(0, help="with --model: warm-up tokens for the normalisation scalar (default: "
                                                "half the buffer, at most 65,536)"),
        keep_first_token: bool = typer.Option(False, help="also train on the first token of each context"),
        keep_special: bool = typer.Option(False, help="also train on BOS/EOS/padding tokens"),
        strategy: str = typer.Option("", help="under torchrun: dp (data parallel, default) or fs (feature sharded)"),
        resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint"),
        device: str = typer.Option("auto"),
        seed: int = typer.Option(0),
        checkpoint_every: int = typer.Option(1000),
        log_every: int = typer.Option(10),
        loggers: str = typer.Option("", help="comma-separated: wandb, tensorboard"),
        progress: bool = typer.Option(True),
    ) -> None:
        """Train SAEs on an activation store or straight from a model (several hooks ×
        widths per forward pass; also under torchrun; exact resume with --resume).

        Several hooks × widths × architectures × learning rates train from one forward pass; the
        same command runs under `torchrun -m monoscope train …`."""
        import os

        from .. import comm
        from .config import SAEError
        from .run import train_run

        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1:
            comm.init_from_env(device)
        try:
            if (store is None) == (not model):
                raise SAEError("say what to train on: --store DIR (an activation store) or --model M (straight "
                               "from the model's forward pass), not both")
            results = train_run(
                out=out, store=store, model=model, corpus=corpus, hooks=_list(hooks), archs=_list(arch),
                latents=[int(x) for x in _list(latents)], ks=[int(x) for x in _list(k)], l1=l1,
                lrs=[float(x) for x in _list(lr)], steps=steps, tokens=tokens, batch_size=batch_size,
                context_len=context_len, model_batch=model_batch, buffer_tokens=buffer_tokens,
                buffer_dtype=buffer_dtype, norm_tokens=norm_tokens, keep_first_token=keep_first_token,
                keep_special=keep_special, strategy=strategy or ("dp" if world > 1 else "local"), resume=resume,
                device=device, seed=seed, checkpoint_every=checkpoint_every, log_every=log_every,
                loggers=tuple(_list(loggers)), progress=progress)
            if comm.current().is_main:
                console.print(_results_table(out, results))
        finally:
            if world > 1:
                comm.shutdown()

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
