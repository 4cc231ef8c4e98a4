"""Do the recipe rankings of sae_quality.py (122 steps) hold at the horizon people train at?

Trains a top-k SAE on an activation store with recipe families of `sae_quality.py` for `--steps` steps, in
one process on the same data, and prints what the demo reports: the training FVU and dead fraction at the
last step (latents silent over the last 5% of the run's tokens), and the spliced CE on held-out documents
(ΔCE in nats, KL, CE recovered vs zero-ablation). `standard` (Adam 0.9/0.999, clip 1, zero b_dec, Gao et
al.'s 2e-4·√(2¹⁴/n)) is the control: the common top-k recipe, and monoscope's default before this benchmark.
monoscope's top-k default today is `fast-adam` at 2.5e-3·√(4096/n), the rate its tuning mode chose.

Two modes:

  fixed rates   `--recipes FAMILY:MULT,...`, the rate as a multiple of the family's base rate in
                sae_quality.py (fast-adam ×0.5 = 7.5e-3 is the rate it tuned to at 122 steps without a
                dead-latent bound; ×0.1667 = 2.5e-3 is today's default at 4,096 latents); seed `--seed`.
  tuning        `--tune LR,LR,...`: every family in `--families` gets the same absolute learning rates (the
                same budget) on the development seed `--dev-seed`; its tuned rate is the run with the lowest
                ΔCE among those with at most `--max-dead` dead latents (a recipe that buys reconstruction
                with a dead dictionary does not win). The tuned rate is then trained on each held-out seed
                (new init and data order) and reported as mean ± sd. Tuning and reporting use disjoint
                held-out contexts (`--contexts` each), so the reported ΔCE is not the one the rate was picked on.

    monoscope demo --out runs/demo1                      # or any store of the model's residual stream
    python benchmarks/sae_recipe_horizon.py --store runs/demo1/store --steps 600 --recipes standard:1,fast-adam:0.5
    python benchmarks/sae_recipe_horizon.py --store runs/demo1/store --steps 600 --tune 4e-4,1e-3,2.5e-3,6.25e-3

Quality only; each run's wall time is printed with the load average and is not a speed claim.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

from sae_quality import FAMILIES, base_rate, family_train_config, objective, summarise
from monoscope.errors import UserError
from monoscope.evals.spliced import heldout_contexts, spliced_loss
from monoscope.models import load
from monoscope.sae import SAEConfig, TrainConfig, train_sae
from monoscope.store import ActivationStore

REPORTED = ("train_fvu", "dead", "delta_ce", "kl", "recovered_vs_zero", "wall_s")


def train_and_splice(store, lm, cfg: SAEConfig, fam: str, mult: float, a, seed: int, contexts: torch.Tensor,
                     where: str) -> dict:
    """One run: train `fam` at its base rate × `mult` for `--steps`, then the spliced CE on `contexts`."""
    # logged every 10 steps, as the demo does, so the training FVU is the mean of the last 10 steps
    tc = family_train_config(fam, cfg, mult, a.steps, a.batch, seed, log_every=TrainConfig().log_every)
    t0 = time.perf_counter()
    res = train_sae(store, cfg, None, tc, hook=cfg.hook)
    seconds = time.perf_counter() - t0
    last = res.metrics                      # the final step's (the trainer always logs it)
    spl = spliced_loss(lm, res.sae, contexts, progress=False, source=where)
    row = dict(recipe=fam, lr_mult=mult, lr=tc.lr, seed=seed, steps=a.steps, train_fvu=last.get("fvu"),
               dead=last.get("dead_frac"), dead_window_tokens=last.get("dead_window_tokens"),
               delta_ce=spl.delta_ce, kl=spl.kl_sae, recovered_vs_zero=spl.loss_recovered, heldout=where,
               heldout_contexts=len(contexts), wall_s=seconds, load=os.getloadavg()[0], objective=-spl.delta_ce)
    print(f"  {fam:<10} lr {tc.lr:.3g} (×{mult:g}) seed {seed}: training FVU {row['train_fvu']:.3f}, dead "
          f"{100 * row['dead']:.1f}%, held-out ΔCE {spl.delta_ce:.3f} nats (KL {spl.kl_sae:.3f}, CE recovered "
          f"{100 * spl.loss_recovered:.1f}%); {seconds:.0f} s at load {row['load']:.2f}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, help="an activation store (e.g. runs/demo1/store)")
    ap.add_argument("--model", default="", help="the store's model (default: the one its manifest names)")
    ap.add_argument("--recipes", default="standard:1,fast-adam:0.5", help="fixed rates: FAMILY:MULT, comma-separated")
    ap.add_argument("--tune", default="", help="tuning mode: absolute learning rates every family is tried at")
    ap.add_argument("--families", default=",".join(FAMILIES), help="tuning mode: the families compared")
    ap.add_argument("--dev-seed", type=int, default=0, help="tuning mode: the seed the rate is chosen on")
    ap.add_argument("--seeds", default="1,2,3", help="tuning mode: held-out seeds the tuned rates are reported on")
    ap.add_argument("--max-dead", type=float, default=0.05, help="tuning mode: most dead latents a tuned run may have")
    ap.add_argument("--latents", type=int, default=4096)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--contexts", type=int, default=16, help="held-out contexts for the spliced CE (each split)")
    ap.add_argument("--seed", type=int, default=0, help="fixed-rate mode: the seed")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    recipes, families = [], [f for f in a.families.split(",") if f]
    try:
        rates = [float(x) for x in a.tune.split(",") if x]
        seeds = [int(x) for x in a.seeds.split(",") if x]
    except ValueError:
        ap.error(f"--tune {a.tune!r} / --seeds {a.seeds!r}: comma-separated numbers, as in --tune 4e-4,1e-3")
    for item in ([] if rates else a.recipes.split(",")):
        fam, _, mult = item.partition(":")
        try:
            recipes.append((fam, float(mult or 1)))
        except ValueError:
            ap.error(f"--recipes {item!r}: the multiplier must be a number, as in fast-adam:0.5")
    for fam in [f for f, _ in recipes] + (families if rates else []):
        if fam not in FAMILIES:
            ap.error(f"unknown recipe {fam!r}; known: {', '.join(FAMILIES)}")
    try:
        store = ActivationStore(a.store)
    except UserError as e:                      # a missing or foreign directory: say so in one line
        ap.error(f"--store {a.store}: not an activation store ({e})")
    lm = load(a.model or store.manifest.config.model)
    cfg = SAEConfig("topk", d_in=store.d_model, n_latents=a.latents, k=a.k, hook=store.hooks[0],
                    model=store.manifest.config.model)
    n = a.contexts
    ctx, where = heldout_contexts(store, lm.tokenizer, 2 * n if rates else n)
    if not rates:
        rows = [train_and_splice(store, lm, cfg, fam, mult, a, a.seed, ctx, where) for fam, mult in recipes]
        print(f"held-out contexts: {where}; {a.steps} steps of {a.batch} tokens")
        report: object = rows
    else:
        tune_ctx, report_ctx = ctx[:n], ctx[n:]
        where_t, where_r = f"{where}, contexts 1–{n}", f"{where}, contexts {n + 1}–{len(ctx)}"
        report = {"args": vars(a), "families": {}}
        print(f"== tuning {len(rates)} rates per family on seed {a.dev_seed} ({a.steps} steps of {a.batch} tokens; "
              f"ΔCE on {where_t}; dead ≤ {100 * a.max_dead:g}%)", flush=True)
        for fam in families:
            base = base_rate(fam, cfg.n_latents)
            tune = [train_and_splice(store, lm, cfg, fam, lr / base, a, a.dev_seed, tune_ctx, where_t) for lr in rates]
            # lowest ΔCE with dead ≤ --max-dead, else (flagged) the fewest dead: sae_quality's bounded objective
            best = max(tune, key=lambda r: objective(r, a.max_dead))
            within = objective(best, a.max_dead)[0]
            edge = " (at the edge of the grid)" if best["lr"] in (tune[0]["lr"], tune[-1]["lr"]) else ""
            note = "" if within else f" (no rate kept dead ≤ {100 * a.max_dead:g}%: the fewest dead)"
            print(f"  {fam:<10} tuned lr {best['lr']:.3g}{edge}{note}", flush=True)
            held = [train_and_splice(store, lm, cfg, fam, best["lr_mult"], a, s, report_ctx, where_r) for s in seeds]
            report["families"][fam] = {"tuned_lr": best["lr"], "within_dead_bound": within, "tuning": tune,
                                       "heldout": held, "summary": summarise(held, list(REPORTED))}
        print(f"\n  held-out seeds {a.seeds}, ΔCE on {where_r}; mean ± sd")
        print(f"  {'recipe':<10} {'tuned lr':>9} " + " ".join(f"{k:>18}" for k in REPORTED))
        for fam, b in report["families"].items():
            cells = [f"{100 * m:.1f}% ± {100 * sd:.1f}" if k in ("dead", "recovered_vs_zero") else
                     f"{m:.0f} ± {sd:.0f}" if k == "wall_s" else f"{m:.3f} ± {sd:.3f}"
                     for k, (m, sd) in b["summary"].items()]
            print(f"  {fam:<10} {b['tuned_lr']:>9.3g} " + " ".join(f"{c:>18}" for c in cells), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
