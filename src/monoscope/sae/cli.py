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
        eval_tokens: int = typer.Option(0, help="tokens of the store the final figures are measured on "
                                                "(default: as many as were trained, at most the store)"),
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
                if store is not None:
                    _print_final_figures(results, store, eval_tokens, batch_size)
        finally:
            if world > 1:
                comm.shutdown()

    @app.command("eval")
    def eval_(
        sae: str = typer.Option(..., help="SAE: a directory in any layout, saelens:RELEASE/SAE_ID or hf:ORG/REPO (or hf:ORG/REPO/PATH)"),
        store: Path = typer.Option(None, help="activation store to evaluate on (the metrics suite)"),
        suite: str = typer.Option("metrics", help="comma-separated: metrics (MSE, FVU, L0, dead/dense on --store), "
                                                  "probing (k-sparse probes vs the residual stream), absorption "
                                                  "(first-letter feature absorption)"),
        hook: str = typer.Option("", help="hook point (default: the SAE's)"),
        tokens: int = typer.Option(0, help="horizon for FVU, L0, dead and dense: this many store tokens "
                                           "(default: the tokens trained, at most the store)"),
        spliced_contexts: int = typer.Option(64, help="held-out contexts for spliced CE/KL (0: skip)"),
        heldout_corpus: str = typer.Option("", help="corpus for held-out text (default: the store's corpus, "
                                                     "documents after the last one the store holds)"),
        neurons: bool = typer.Option(True, help="best-neuron correlation of each feature (features vs neurons)"),
        model: str = typer.Option("", help="model for the spliced, neuron, probing and absorption figures "
                                           "(default: the store's, else the SAE's)"),
        batch_size: int = typer.Option(4096),
        device: str = typer.Option("cpu"),
        json_out: Path = typer.Option(None, "--json", help="also write the figures to this JSON file"),
    ) -> None:
        """SAE metrics on a store, and SAEBench-style evaluations on the embedded data (--suite probing,absorption).

        Each figure is printed beside its baseline. metrics (needs --store): reconstruction (FVU, MSE, L0) and
        dead/dense fractions over a stated horizon; on held-out text, spliced CE (ΔCE in nats, KL, fraction
        recovered vs zero- and mean-ablation); the fraction of features whose best MLP neuron has |r| ≤ 0.3 vs
        random directions. probing, absorption: SAEBench-style evaluations on the embedded data."""
        from ..store.manifest import StoreError
        from . import SAEError, load_sae

        suites = [x.strip() for x in suite.split(",") if x.strip()]
        unknown = sorted(set(suites) - {"metrics", "probing", "absorption"})
        if unknown or not suites:
            raise SAEError(f"unknown --suite {', '.join(unknown) or suite!r}; choose from metrics, probing, absorption")
        model_ = load_sae(sae, device=device)
        if hook:
            model_.cfg.hook = hook
        d: dict = {}
        lm = None
        if "metrics" in suites:
            from ..store import ActivationStore
            from .evaluate import evaluate_sae

            if store is None:
                raise StoreError("the metrics suite evaluates on an activation store: pass --store DIR "
                                 "(or --suite probing,absorption, which need only the model)")
            s = ActivationStore(store)
            trained = trained_tokens(Path(sae)) if Path(sae).is_dir() else None
            horizon = check_horizon(tokens, s.n_rows(True), trained)
            res = evaluate_sae(model_, s, hook=hook or None, n_tokens=horizon, batch_size=batch_size, device=device)
            d.update(reconstruction=res.as_dict(), trained_tokens=trained)
            console.print(reconstruction_table(res, f"{sae} on {res.n_tokens:,} tokens of {store}"
                                                    + (f" (trained on {trained:,})" if trained else "")))
            if spliced_contexts or neurons:
                from ..evals.neurons import feature_neuron_correlation
                from ..evals.spliced import heldout_contexts, spliced_loss
                from ..models import load

                lm = load(model or s.manifest.config.model or model_.cfg.model, device=device)
                ctx, where = heldout_contexts(s, lm.tokenizer, spliced_contexts or 64, heldout_corpus or None)
                if spliced_contexts:
                    spl = spliced_loss(lm, model_, ctx, progress=False, source=f"held out: {where}")
                    d["spliced"] = spl.to_dict()
                    console.print(spliced_table(spl))
                if neurons:
                    fn = feature_neuron_correlation(lm, model_, ctx)
                    d["features_vs_neurons"] = fn.to_dict()
                    console.print(f"features vs neurons: {fn}")
        if "probing" in suites or "absorption" in suites:
            from ..models import load
            from .formats import check_model

            name = model or model_.cfg.model
            if not name:
                raise SAEError("the SAE does not name its model; pass --model")
            if lm is None:
                lm = load(name, device=device)
            check_model(model_, lm)
            if "probing" in suites:
                from ..evals.probing import run_probing

                pr = run_probing(lm, model_)
                d["probing"] = pr.as_dict()
                t = Table(title=f"sparse probing: balanced accuracy on held-out passages (0.5 = chance), {sae}")
                for c in ("task", "k", "SAE latents", "residual dims", "residual (all dims)", "shuffled labels"):
                    t.add_column(c, justify="right")
                for r in pr.rows:
                    t.add_row(f"{r.task} ({r.n_classes} classes)", str(r.k), f"{r.sae:.3f}", f"{r.resid:.3f}",
                              f"{r.resid_all:.3f}", f"{r.shuffled:.3f}")
                console.print(t)
            if "absorption" in suites:
                from ..evals.absorption import run_absorption

                ab = run_absorption(lm, model_)
                d["absorption"] = ab.as_dict()
                real = ab.absorption > ab.absorption_random_dir
                console.print(_table(f"first-letter absorption ({ab.n_words:,} words, {ab.n_letters} letters)", {
                    "residual probe accuracy (ceiling)": ab.probe_accuracy,
                    "main latent F1 (mean over letters)": ab.main_latent_f1,
                    "main latent misses (probe right)": ab.false_negative_rate,
                    "absorption rate": ab.absorption if real else "no score: not above its control",
                    "absorption, random probe directions (control)": ab.absorption_random_dir}))
        if json_out:
            from ..fileio import atomic_write_text

            atomic_write_text(json_out, json.dumps(d, indent=2, default=str))


def _print_final_figures(results: dict, store: Path, eval_tokens: int, batch_size: int) -> None:
    """After a store run: each SAE's reconstruction on the training store, the same table `eval` prints."""
    from ..store import ActivationStore
    from .evaluate import evaluate_sae

    s = ActivationStore(store)
    for name, r in results.items():
        if r.sae is None:
            continue
        horizon = min(s.n_rows(True), r.tokens, eval_tokens or r.tokens)
        ev = evaluate_sae(r.sae, s, hook=r.sae.cfg.hook, n_tokens=horizon, batch_size=batch_size)
        label = f"{name}: " if name else ""
        console.print(reconstruction_table(ev, f"{label}reconstruction on {ev.n_tokens:,} tokens of the training "
                                               f"store"))

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
