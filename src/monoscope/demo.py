"""`monoscope demo`: the main job on the embedded default, end to end, with a summary of what it made.

model → activation store → SAE (+ evaluation) → feature database (+ a few explanations) → steering
→ model organism (committed default) → blind audit with its grade (with --audit). Each stage writes its
artifact under --out and is skipped when that artifact is already complete, so re-running the demo resumes.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()

NEUTRAL_PROMPTS = ("Tell me something interesting.", "Write one sentence about your day.",
                   "What should I think about today?", "Describe a place you like.")


def _stage(title: str) -> None:
    console.rule(f"[bold]{title}")


def pick_steering_features(fdb, steerer, n: int = 4, candidates: int = 40, n_controls: int = 3) -> list[dict]:
    """Features whose clamping should move next-token probability: the alive ones with the most
    consistent logit effects (their top logit tokens are what follows their top examples)."""
    from .steer import clamp, token_probability, token_probability_shift

    rows = fdb.query("""SELECT feature, top_logit_ids, density FROM features WHERE alive AND density > 1e-4
                        ORDER BY feature""")
    scored = []
    for r in rows[: max(candidates * 10, 200)]:
        ex = fdb.examples(r["feature"], kind="top")
        nxt = [e["next_token"] for e in ex if e["next_token"] is not None and e["next_token"] >= 0]
        top = list(r["top_logit_ids"])[:10]
        if nxt:
            scored.append((sum(t in top for t in nxt) / len(nxt), r["feature"], top))
    scored.sort(reverse=True)
    out = []
    for cons, f, top in scored[:candidates][:n * 2]:
        base, steered = token_probability_shift(steerer, NEUTRAL_PROMPTS, top[:5], [clamp(f, 5.0)])
        out.append({"feature": f, "consistency": cons, "top_tokens": fdb.token_text(top[:5]), "top_ids": top[:5],
                    "p_unsteered": base, "p_steered": steered})
    out = sorted(out, key=lambda r: -(r["p_steered"] - r["p_unsteered"]))[:n]
    # Control: other alive features clamped the same way, scored on this feature's tokens. Picking the best
    # of 2n candidates on these prompts favours large shifts, so a shift only counts beside this.
    alive = [r["feature"] for r in rows]
    rng = random.Random(0)
    for r in out:
        others = rng.sample([a for a in alive if a != r["feature"]], min(n_controls, len(alive) - 1))
        r["control_features"] = others
        r["p_random_feature"] = float(sum(token_probability(steerer, NEUTRAL_PROMPTS, r["top_ids"], [clamp(o, 5.0)])
                                          for o in others) / max(len(others), 1))
    return out


def run_demo(out: Path, model: str = "smollm2-135m", tokens: int = 200_000, context_len: int = 128,
             n_latents: int = 4096, k: int = 32, steps: int = 600, batch_size: int = 1024,
             explain_n: int = 2, audit: bool = False) -> dict:
    import torch

    from .evals.spliced import heldout_spliced_loss
    from .sae.cli import spliced_table
    from .features import build_feature_db
    from .features.db import FeatureDB
    from .models import load
    from .steer import Steerer, clamp
    from .store import harvest
    from .sae.run import train_or_reload
    from .store.cli import summarize

    produced: dict[str, Path] = {}
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)

    _stage("1. model")
    lm = load(model)
    hook = lm.default_hook()
    console.print(f"{model}: {lm.n_layers} layers, d_model {lm.d_model}, {next(lm.model.parameters()).dtype}; "
                  f"the middle residual stream is [bold]{hook}[/bold]")

    _stage("2. harvest → activation store")
    res = harvest(lm, out / "store", hooks=hook, corpus="default", n_tokens=tokens, context_len=context_len)
    console.print(summarize(res.store))
    if res.new_tokens:
        console.print(f"{res.new_tokens:,} tokens in {res.seconds:.0f}s = {res.tokens_per_second:,.0f} tok/s")
    produced["activation store"] = out / "store"

    _stage("3. train SAE")
    sae = train_or_reload(res.store, out / "sae", n_latents, k, steps, batch_size)
    produced["SAE"] = out / "sae"
    spl = heldout_spliced_loss(lm, sae, res.store, n_contexts=16)
    summary = json.loads((out / "sae" / "summary.json").read_text()) if (out / "sae" / "summary.json").exists() else {}
    last = summary.get("last") or {}
    if last:
        console.print(f"training (last logged step): FVU {last['fvu']:.3f}, L0 {last['l0']:.1f}, dead "
                      f"{100 * summary.get('dead_frac', last['dead_frac']):.1f}% = silent for the last "
                      f"{summary.get('dead_window_tokens', 0):,} of {summary.get('tokens', 0):,} tokens trained")
    console.print(spliced_table(spl))

    _stage("4. feature database")
    fdb_dir = out / "features"
    fdb = FeatureDB(fdb_dir) if (fdb_dir / "manifest.json").exists() else build_feature_db(sae, res.store, fdb_dir, lm=lm)
    produced["feature database"] = fdb_dir
    summ = fdb.summary()
    lc = fdb.manifest.get("logit_consistency") or {}
    nan = float("nan")
    console.print(f"{summ['alive']}/{summ['n']} features alive. Logit consistency, i.e. is the token after a "
                  f"feature's top examples among its top-10 logit tokens: for {lc.get('mean_frac', nan):.3f} of top "
                  f"examples vs {lc.get('baseline_mean_frac', nan):.3f} with another feature's logits "
                  f"(×{lc.get('ratio_vs_baseline') or nan:.1f}); at least once for {lc.get('hit_rate', nan):.3f} "
                  f"of features vs {lc.get('baseline_hit_rate', nan):.3f}. Most consistent: "
                  + ", ".join(f"{f} ({v:.2f})" for f, v in lc.get("best_features", [])[:5]))
    if explain_n:
        from .features.explain import ExplainConfig, explain, summary_lines
        try:
            recs = explain(fdb, n_features=explain_n, backend=f"local:{model}", cfg=ExplainConfig.quick(),
                           force=True, sae=sae, store=res.store)
            console.print(f"explanations by local:{model}, scored on small sets (quick settings) against another "
                          f"feature's explanation:")
            for line in summary_lines(recs):
                console.print("  " + line, markup=False)
        except Exception as e:  # an LLM problem must not sink the rest of the demo; say so plainly
            console.print(f"[yellow]explanations skipped: {type(e).__name__}: {e}")

    _stage("5. steering (clamp, error term kept)")
    st = Steerer(lm, sae, max_acts=torch.as_tensor(fdb.max_acts(), dtype=torch.float32))
    picks = pick_steering_features(fdb, st)
    t = Table(title="clamping at 5× max activation: next-token probability of the feature's top logit tokens "
                    f"(mean over {len(NEUTRAL_PROMPTS)} neutral prompts)")
    for c in ("feature", "top logit tokens", "p unsteered", "p steered", "p, 3 random features clamped (control)"):
        t.add_column(c)
    for p in picks:
        t.add_row(str(p["feature"]), " ".join(repr(x) for x in p["top_tokens"]), f"{p['p_unsteered']:.4f}",
                  f"{p['p_steered']:.4f}", f"{p['p_random_feature']:.4f}")
    console.print(t)
    if picks:
        f = picks[0]["feature"]
        plain, steered = st.compare(NEUTRAL_PROMPTS[0], [clamp(f, 5.0)], max_new_tokens=40)
        g = Table(show_lines=True)
        g.add_column("unsteered")
        g.add_column(f"feature {f} clamped to 5× max")
        g.add_row(plain, steered)
        console.print(g)
    (out / "steering.json").write_text(json.dumps(picks, indent=1))
    produced["steering check"] = out / "steering.json"

    _stage("6. concept steering (features found from concept prompts; controls beside)")
    from .analyze.cli import print_result as print_analysis
    from .analyze.common import open_workbench, results_dir, save_result
    from .analyze.steering import concept_steering_demo, plot_steering

    wb = open_workbench(out / "sae", fdb_dir, lm=lm)
    conc = concept_steering_demo(wb, concepts=("bible", "python", "french"), n_prompts=20, clamp=4.0,
                                 progress=True)
    conc.update(model=lm.name, sae=wb.sae_info())
    path = save_result(results_dir(wb, None), "steering", conc, plot_steering(conc))
    print_analysis(conc, path)
    produced["concept steering"] = path

    if not audit:
        _stage("7. model organism + blind audit: not run")
        console.print("the blind audit of the committed default organism adds ~9 minutes on 2 CPU cores: "
                      "`monoscope demo --audit` plays it here (data tier, clean-base and no-model controls); "
                      "`python scripts/play_default_game.py runs/default-game` plays every tier")
    else:
        _stage("7. model organism + blind audit")
        from .audit.cli import print_result
        from .audit.demo_audit import QUICK_PLAYBOOK, QUICK_TIERS, organism_ready, run_default_audit
        ready, why = organism_ready("default")
        if ready:
            result = run_default_audit(out / "audit", tiers=QUICK_TIERS, playbook=QUICK_PLAYBOOK)
            print_result(result)
            produced["audit reports"] = out / "audit"
        else:
            console.print(f"[yellow]audit skipped: {why}. Build the organism with "
                          f"`monoscope organism build default --out runs/organism` (about 50 minutes on 2 CPU cores, "
                          f"minutes on a GPU), then `monoscope audit game runs/organism`.")

    _stage("done")
    console.print(f"finished in {time.perf_counter() - t0:.0f}s. Produced:")
    for what, where in produced.items():
        console.print(f"  {what:<20} {where}")
    console.print(f"open the dashboard:  monoscope serve --db {fdb_dir} --sae {out / 'sae'}")
    return produced


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(out: Path = typer.Option(Path("runs/demo"), help="where every artifact of the demo goes"),
             model: str = typer.Option("smollm2-135m"),
             tokens: int = typer.Option(200_000, help="tokens to harvest (scale up for real runs)"),
             latents: int = typer.Option(4096, help="SAE latents"),
             steps: int = typer.Option(600, help="SAE training steps"),
             explain_n: int = typer.Option(2, help="features to explain and score with the local LLM"),
             audit: bool = typer.Option(False, help="end with the blind audit of the default organism (data tier "
                                                    "with clean-base and no-model controls; ~9 more minutes on 2 "
                                                    "cores, past the demo's 15-minute budget)")) -> None:
        """Run the main job on the embedded default model and corpus."""
        run_demo(out, model=model, tokens=tokens, n_latents=latents, steps=steps, explain_n=explain_n, audit=audit)
