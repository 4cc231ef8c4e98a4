"""Do the recipe rankings of sae_quality.py (122 steps) hold at the horizon people train at?

Trains a top-k SAE on an activation store with each recipe family of `sae_quality.py` at its own rate, for
`--steps` steps, in one process on the same data, and prints what the demo reports: the training FVU and
dead fraction at the last step (silent over the last 5% of the run's tokens), and the spliced CE on held-out
documents (ΔCE in nats, CE recovered vs zero-ablation). `default` at its own rate (`TrainConfig()` with
nothing set) is the control: what a user gets today.

    monoscope demo --out runs/demo1                      # or any store of the model's residual stream
    python benchmarks/sae_recipe_horizon.py --store runs/demo1/store --steps 600 --recipes default:1,fast-adam:0.5

Each `--recipes` entry is FAMILY:MULT, the learning rate as a multiple of the family's base rate in
sae_quality.py (fast-adam ×0.5 = 7.5e-3 is the rate it tuned to at 122 steps). Quality only; each run's wall
time is printed with the load average and is not a speed claim.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

from sae_quality import FAMILIES, family_train_config
from monoscope.errors import UserError
from monoscope.evals.spliced import heldout_spliced_loss
from monoscope.models import load
from monoscope.sae import SAEConfig, TrainConfig, train_sae
from monoscope.store import ActivationStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, help="an activation store (e.g. runs/demo1/store)")
    ap.add_argument("--model", default="", help="the store's model (default: the one its manifest names)")
    ap.add_argument("--recipes", default="default:1,fast-adam:0.5", help="FAMILY:MULT, comma-separated")
    ap.add_argument("--latents", type=int, default=4096)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--contexts", type=int, default=16, help="held-out contexts for the spliced CE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    recipes = []
    for item in a.recipes.split(","):
        fam, _, mult = item.partition(":")
        if fam not in FAMILIES:
            ap.error(f"unknown recipe {fam!r} in --recipes; known: {', '.join(FAMILIES)}")
        try:
            recipes.append((fam, float(mult or 1)))
        except ValueError:
            ap.error(f"--recipes {item!r}: the multiplier must be a number, as in fast-adam:0.5")
    try:
        store = ActivationStore(a.store)
    except UserError as e:                      # a missing or foreign directory: say so in one line
        ap.error(f"--store {a.store}: not an activation store ({e})")
    hook = store.hooks[0]
    lm = load(a.model or store.manifest.config.model)
    cfg = SAEConfig("topk", d_in=store.d_model, n_latents=a.latents, k=a.k, hook=hook,
                    model=store.manifest.config.model)
    rows = []
    for fam, mult in recipes:
        # logged every 10 steps, as the demo does, so the training FVU is the mean of the last 10 steps
        tc = family_train_config(fam, cfg, mult, a.steps, a.batch, a.seed, log_every=TrainConfig().log_every)
        lr = tc.lr
        t0 = time.perf_counter()
        res = train_sae(store, cfg, None, tc, hook=hook)
        seconds = time.perf_counter() - t0
        last = res.metrics                      # the final step's (the trainer always logs it)
        spl = heldout_spliced_loss(lm, res.sae, store, n_contexts=a.contexts, progress=False)
        row = dict(recipe=fam, lr_mult=mult, lr=lr, steps=a.steps, train_fvu=last.get("fvu"),
                   dead=last.get("dead_frac"), delta_ce=spl.delta_ce, kl=spl.kl_sae,
                   recovered_vs_zero=spl.loss_recovered, heldout=spl.source, wall_s=seconds,
                   load=os.getloadavg()[0])
        rows.append(row)
        print(f"{fam:<10} lr {lr:.3g} (×{mult:g}): training FVU {row['train_fvu']:.3f}, dead {100 * row['dead']:.1f}%, "
              f"held-out ΔCE {spl.delta_ce:.3f} nats (KL {spl.kl_sae:.3f}, CE recovered {100 * spl.loss_recovered:.1f}%)"
              f"; {seconds:.0f} s at load {row['load']:.2f}", flush=True)
    print(f"held-out contexts: {rows[0]['heldout'] if rows else ''}; {a.steps} steps of {a.batch} tokens")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
