"""`monoscope index` and `monoscope explain` (the dashboard's `serve` and `export-html` are in `monoscope.ui.cli`)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def fail(e: Exception) -> None:
    console.print(f"[red]error:[/red] {e}")
    raise typer.Exit(1)


def describe(db) -> Table:
    m = db.manifest
    s = m["stats"]
    t = Table(title=f"feature database {db.path}", show_header=False)
    t.add_row("SAE", f"{m['sae']['n_latents']} latents at {m['hook']} of {m['model']['name']} "
                     f"(fingerprint {m['sae']['fingerprint']})")
    t.add_row("tokens", f"{s['tokens_counted']:,} (store {m['store']['path']})")
    t.add_row("alive / dead", f"{s['alive']} / {s['dead']}   mean L0 {s['mean_l0']:.1f}")
    p = m.get("index_pass") or {}
    if p.get("tokens_per_second"):
        t.add_row("index pass", f"{p['new_tokens']:,} tokens in {p['seconds']:.1f}s = "
                                f"{p['tokens_per_second']:,.0f} tok/s; post-processing {s['postprocess_seconds']:.1f}s")
    t.add_row("logit effects", m["logit_effects"])
    t.add_row("map", m["map"])
    lc = m.get("logit_consistency") or {}
    if lc.get("n_features", 0) >= 2:
        t.add_row("logit consistency", f"{lc['mean_frac']:.3f} of top examples' next tokens are among the "
                                       f"feature's top-{lc['n_logits']} logit tokens (shuffled-feature baseline "
                                       f"{lc['baseline_mean_frac']:.3f}); hit rate {lc['hit_rate']:.2f} vs "
                                       f"{lc['baseline_hit_rate']:.2f}")
        ti = lc.get("token_identity")
        if ti:
            t.add_row("  token-identity features", f"{ti['n_features']}: {ti['mean_frac']:.3f} vs baseline "
                                                   f"{ti['baseline_mean_frac']:.3f}")
    return t


def db_arg(pos: Path | None, opt: Path | None) -> Path:
    if pos is not None and opt is not None and pos != opt:
        fail(f"two different databases given ({pos} and --db {opt})")
    if pos is None and opt is None:
        fail("which feature database? give its directory (DB or --db DB)")
    return pos or opt


def register(app: typer.Typer) -> None:
    @app.command()
    def index(
        sae: str = typer.Option(..., help="SAE: a directory in any layout, saelens:RELEASE/SAE_ID or hf:ORG/REPO (or hf:ORG/REPO/PATH)"),
        store: Path = typer.Option(..., help="activation store holding the SAE's hook point"),
        out: Path = typer.Option(..., help="feature database directory (resumes a killed run)"),
        other_sae: str = typer.Option(None, help="a second SAE on the same hook, for cross-SAE neighbours"),
        model: str = typer.Option("", help="model for logit effects and token text (default: the store's)"),
        top_k: int = typer.Option(20, help="top contexts per feature"),
        n_buckets: int = typer.Option(10, help="activation buckets for samples"),
        per_bucket: int = typer.Option(2, help="samples per bucket"),
        bucket_scheme: str = typer.Option("linear", help="linear (0..max, the paper) or quantile"),
        map_method: str = typer.Option("auto", "--map", help="auto, umap, pca or none"),
        batch_tokens: int = typer.Option(0, help="rows per encode batch (0: auto, ≤256 MB of activations)"),
        device: str = typer.Option("cpu"),
        overwrite: bool = typer.Option(False, help="replace a database of another SAE/store/config in --out"),
        seed: int = typer.Option(0),
        update_threads: int = typer.Option(0, help="CPU threads for the per-batch update (0: all; 1 is faster on "
                                                   "a machine shared with other jobs)"),
    ) -> None:
        """Build the feature database: one streaming pass of the SAE over the store."""
        from ..store.manifest import StoreError
        from . import build_feature_db
        from .index import FeatureDBError

        try:
            lm = None
            if model:
                from ..models import load
                lm = load(model, device=device)
            db = build_feature_db(sae, store, out, lm=lm, other_sae=other_sae, device=device,
                                  batch_tokens=batch_tokens or None, overwrite=overwrite, top_k=top_k,
                                  n_buckets=n_buckets, per_bucket=per_bucket, bucket_scheme=bucket_scheme,
                                  map_method=map_method, seed=seed, update_threads=update_threads or None)
        except (FeatureDBError, StoreError, ValueError) as e:
            fail(e)
        console.print(describe(db))
        console.print(f"open it with: monoscope serve {out}")

    @app.command()
    def explain(
        db: Path = typer.Argument(None, help="feature database directory (or --db)"),
        db_opt: Path = typer.Option(None, "--db", help="feature database directory"),
        features: str = typer.Option("", help="comma-separated feature ids (default: --n random alive features)"),
        n: int = typer.Option(3, help="how many random alive features when --features is not given"),
        llm: str = typer.Option(None, help="LLM backend spec for explainer and judge (default $MONOSCOPE_LLM or "
                                           "local:smollm2-135m), e.g. openai:http://127.0.0.1:8001/v1#MODEL, "
                                           "anthropic:MODEL"),
        sae: Path = typer.Option(None, help="the SAE the database was built from (default: its manifest's path)"),
        store: Path = typer.Option(None, help="the activation store it was built from (default: its manifest's)"),
        quick: bool = typer.Option(False, help="small sets (10/10/20 items, 384 scanned contexts): a CPU demo"),
        n_detection: int = typer.Option(0, help="activating contexts for detection, and as many non-activating "
                                                "(default 50)"),
        n_fuzzing: int = typer.Option(0, help="activating contexts for fuzzing (default 50)"),
        n_specificity: int = typer.Option(0, help="single-token samples for the 0-3 rubric (default 100)"),
        scan_contexts: int = typer.Option(-1, help="store contexts scanned (default 4096; 0 = all)"),
        items_per_prompt: int = typer.Option(1, help="items judged per prompt (fewer, longer calls for APIs)"),
        price_in: float = typer.Option(None, help="USD per million prompt tokens, for the cost per feature"),
        price_out: float = typer.Option(None, help="USD per million completion tokens"),
        vs_neurons: int = typer.Option(0, help="also explain this many random features and MLP neurons of the "
                                               "SAE's layer under the same scorer (features vs neurons)"),
        score: bool = typer.Option(True, help="score explanations (detection, fuzzing, specificity)"),
        force: bool = typer.Option(False, help="re-explain features that already have an explanation"),
        seed: int = typer.Option(0),
    ) -> None:
        """Explain features with an LLM and score each explanation against a control (detection, fuzzing, specificity).

        The control is another feature's explanation on the same items; an uninformative judge gets no score."""
        from dataclasses import replace

        from ..llm import BackendSpecError, LLMError
        from .explain import ExplainConfig, compare_features_neurons, describe_score, explain as run

        db = db_arg(db, db_opt)
        cfg = ExplainConfig.quick(seed=seed) if quick else ExplainConfig(seed=seed)
        sc = cfg.score
        sc = replace(sc, n_detection=n_detection or sc.n_detection, n_fuzzing=n_fuzzing or sc.n_fuzzing,
                     n_specificity=n_specificity or sc.n_specificity, items_per_prompt=items_per_prompt)
        cfg = replace(cfg, score=sc, price_in=price_in, price_out=price_out,
                      n_scan_contexts=cfg.n_scan_contexts if scan_contexts < 0 else scan_contexts)
        ids = [int(x) for x in features.replace(",", " ").split()] if features else None
        try:
            recs = run(db, ids, backend=llm, n_features=n, score=score, force=force, cfg=cfg, sae=sae, store=store)
            cmp = None
            if vs_neurons:
                from ..models import load
                from .db import FeatureDB

                fdb = FeatureDB(db)
                lm = load(fdb.manifest["model"]["name"])
                cmp = compare_features_neurons(fdb, lm, n=vs_neurons, backend=llm, cfg=cfg, sae=sae, store=store)
        except LLMError as e:       # an endpoint that is down, a server error: one line, as for a UserError
            console.print(f"error: the LLM backend failed ({type(e).__name__}): {str(e).splitlines()[0]}")
            raise typer.Exit(2)
        except BackendSpecError as e:
            console.print(f"error: {e}")
            raise typer.Exit(2)
        if not recs and not cmp:
            console.print("nothing to do: those features are already explained (use --force to redo)")
            return
        t = Table(title="explanations (score [95% interval] (n, control = another feature's explanation))")
        for c in ("feature", "explanation", "detection", "fuzzing", "specificity", "tokens"):
            t.add_column(c)
        for r in recs:
            u = r.get("usage") or {}
            tok = f"{u.get('prompt_tokens', 0):,} + {u.get('completion_tokens', 0):,}"
            if "cost_usd" in u:
                tok += f" (${u['cost_usd']:.4f})"
            t.add_row(str(r["feature"]), r.get("explanation") or r.get("skipped", ""),
                      *(describe_score(r.get(s)) for s in ("detection", "fuzzing", "specificity")), tok)
        console.print(t)
        if cmp:
            c = Table(title=f"features vs neurons (layer {cmp['layer']}): mean score over units with an informative "
                            f"judge")
            for col in ("scorer", "features", "neurons"):
                c.add_column(col)
            for s, row in cmp["scorers"].items():
                c.add_row(s, *(("–" if v["mean"] is None else f"{v['mean']:.3f}") + f" ({v['informative']}/{v['of']})"
                               for v in (row["features"], row["neurons"])))
            console.print(c)
        console.print(f"saved to {Path(db) / 'explanations.jsonl'}; plots in {Path(db) / 'plots'}")
