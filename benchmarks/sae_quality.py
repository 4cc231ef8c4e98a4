"""Top-k SAE training recipes compared fairly: same tuning budget on a development seed, reported on held-out seeds.

Recipes (families of training settings; each family's learning rate is tuned, nothing else):
  * standard   Adam β=(0.9, 0.999), clip 1, b_dec = 0, base lr 2e-4·√(2¹⁴/n) (Gao et al.'s scaling): the
               common top-k settings, and monoscope's default until the horizon benchmark chose fast-adam
  * fast-adam  Adam β=(0.5, 0.95), no gradient clipping, b_dec initialised to the first batch's mean, base lr
               1.5e-2. With 2.5e-3·√(4096/n), the rate it tuned to at the demo's 600 steps with the dead
               fraction bounded (sae_recipe_horizon.py), it is monoscope's top-k default: `TrainConfig()`
               trains a top-k SAE this way (src/monoscope/sae/data/recipe.yaml)
  * sae-lens   SAELens v6's TopKTrainingSAE and SAETrainer with their defaults  } when `.[peers]` is installed
  * sparsify   EleutherAI sparsify's SparseCoder and its signum step            } (benchmarks/sae_peers.py)

Protocol: every family gets the same budget, `len(--lr-mults)` runs on the development seed (0), with its
base learning rate times each multiplier; the best run on the development seed's held-out data fixes the
family's learning rate (with `--max-dead`, the best among the runs with at most that dead fraction). Each
tuned family is then trained on each held-out seed (default 1, 2, 3: new SAE init, data order and, for the
synthetic problem, a new planted dictionary) and scored on held-out data.
The table shows mean ± standard deviation over the held-out seeds.

Data (--data, comma-separated):
  synthetic  planted sparse features in superposition (monoscope.evals.synthetic): recovered directions
             at cos > 0.9 (primary), FVU on held-out samples
  smollm2    SmolLM2-135M's middle residual stream on the embedded corpus: FVU on held-out documents
  minilm     all-MiniLM-L6-v2's middle residual stream, the same way
Real data: `--tokens` harvested from the first documents (training); the held-out set is the next
documents (`monoscope.evals.spliced.heldout_contexts`), never trained on. Dead % is over the held-out tokens.

Quality only: the lead runs timing benchmarks on a quiet machine; here each run's wall time is recorded in the
JSON for that purpose, not printed as a claim.

    python benchmarks/sae_quality.py --data synthetic                         # d=256, 4,096 planted, 122 steps
    python benchmarks/sae_quality.py --data smollm2,minilm --tokens 500000    # k=32, 8× latents
    python benchmarks/sae_quality.py --data synthetic --samples 100000 --lr-mults 0.5,1,2 --seeds 1,2,3  # quick
    python benchmarks/sae_quality.py --data minilm --batch 1024 --families standard,fast-adam \
        --lrs 5e-4,1.25e-3,3.1e-3,7.5e-3 --max-dead 0.05     # 488 steps; the same rates for both, dead bounded

Widening a grid: `--reuse OLD.json` takes every run of an earlier report whose recipe, data, multiplier and seed
match, instead of training it again (runs are deterministic given the seed; every setting that shapes a run must
be the same, or the option refuses). Reused runs are marked `"reused": true` and keep their old wall time.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

import sae_peers
from monoscope.evals import SyntheticConfig, SyntheticData, evaluate_recovery
from monoscope.sae import SAEConfig, TrainConfig, train_sae
from monoscope.sae.data import DataSource

# Every setting a family differs in is written out, so a family means the same thing whatever the package default.
FAMILIES = {
    "standard": dict(betas=(0.9, 0.999), b_dec_init="zeros", grad_clip=1.0),
    "fast-adam": dict(betas=(0.5, 0.95), b_dec_init="mean", grad_clip=0.0),
}
BASE_LR = {"standard": lambda n: 2e-4 * math.sqrt(2 ** 14 / n), "fast-adam": lambda n: 1.5e-2}


@dataclass
class Problem:
    name: str
    d: int
    train: object          # what train_sae accepts (a batch factory or a store)
    heldout: torch.Tensor | None
    synthetic: SyntheticData | None = None


def synthetic_problem(seed: int, a) -> Problem:
    data = SyntheticData(SyntheticConfig(d=256, n_features=a.features, mean_active=20.0, alpha=0.6, noise=0.01,
                                         seed=seed))
    return Problem("synthetic", 256, data.factory(a.batch), None, data)


_REAL: dict[str, tuple] = {}


def real_problem(name: str, a) -> Problem:
    """Harvest (once) `--tokens` of the model's middle residual stream, plus held-out activations."""
    from monoscope.evals.spliced import heldout_contexts
    from monoscope.models import load
    from monoscope.store import harvest

    if name not in _REAL:
        model = {"smollm2": "smollm2-135m", "minilm": "minilm"}[name]
        lm = load(model)
        out = Path(a.workdir) / f"store-{name}-{a.tokens}"
        store = harvest(lm, out, n_tokens=a.tokens, context_len=128, progress=False).store
        hook = store.hooks[0]
        ctx, _ = heldout_contexts(store, lm.tokenizer, a.heldout_contexts)
        xs = []
        with torch.no_grad():
            for i in range(0, len(ctx), 8):
                x = lm.hooked.run_to([hook], input_ids=ctx[i:i + 8])[hook][:, 1:]     # BOS excluded
                xs.append(x.reshape(-1, x.shape[-1]).float())
        _REAL[name] = (store, torch.cat(xs))
    store, held = _REAL[name]
    return Problem(name, store.d_model, store, held)


def family_train_config(family: str, cfg: SAEConfig, lr_mult: float, steps: int, batch: int, seed: int,
                        log_every: int | None = None) -> TrainConfig:
    """A monoscope recipe family's TrainConfig for one run: its settings, and its base rate × `lr_mult`.
    `log_every` None: four log lines a run (the logged FVU is the mean over the steps since the previous line)."""
    lr = BASE_LR[family](cfg.n_latents) * lr_mult
    return replace(TrainConfig(), steps=steps, batch_size=batch, seed=seed, progress=False, checkpoint_every=0,
                   log_every=log_every or max(1, steps // 4), lr=lr, **FAMILIES[family])


def n_latents(p: Problem, a) -> int:
    return a.latents if p.synthetic is not None else a.expansion * p.d


def base_rate(family: str, n: int) -> float:
    """The rate a family's multipliers scale: its library default (peers) or BASE_LR (monoscope's)."""
    return sae_peers.base_lr(family, n) if family in sae_peers.PEERS else BASE_LR[family](n)


def train_and_score(p: Problem, family: str, lr_mult: float, seed: int, a) -> dict:
    n = n_latents(p, a)
    cfg = SAEConfig("topk", d_in=p.d, n_latents=n, k=a.k, hook=None if p.synthetic is not None else
                    p.train.hooks[0])
    steps = a.samples // a.batch if p.synthetic is not None else max(1, a.tokens * a.epochs // a.batch)
    t0 = time.perf_counter()
    if family in sae_peers.PEERS:
        lr = base_rate(family, n) * lr_mult
        if p.synthetic is not None:
            batches, scale = p.train(0), 1.0
        else:
            src = DataSource(p.train, a.batch, seed=seed)
            batches, scale = src.iterate(0), src.store_norm_scalar
        sae = sae_peers.train(family, batches, p.d, n, a.k, lr, steps, a.batch, seed, scale)
    else:
        tc = family_train_config(family, cfg, lr_mult, steps, a.batch, seed)
        lr = tc.lr
        sae = train_sae(p.train, cfg, None, tc).sae
    seconds = time.perf_counter() - t0
    out = {"family": family, "lr": lr, "lr_mult": lr_mult, "seed": seed, "steps": steps, "wall_s": seconds}
    if p.synthetic is not None:
        rec = evaluate_recovery(sae, p.synthetic, n_eval=a.eval_samples, batch_size=a.batch)
        out.update(recovered=rec.frac_recovered, mean_max_cos=rec.mean_max_cos, fvu=rec.fvu, l0=rec.l0)
        out["objective"] = rec.frac_recovered - 1e-3 * rec.fvu
    else:
        x = p.heldout
        with torch.no_grad():
            f = sae.encode(x)
            xh = sae.decode(f)
        fvu = float((x - xh).pow(2).sum() / (x - x.mean(0)).pow(2).sum())
        out.update(fvu=fvu, l0=float((f != 0).sum(1).float().mean()), dead=float(((f != 0).sum(0) == 0).float().mean()),
                   heldout_tokens=len(x))
        out["objective"] = -fvu
    return out


def objective(run: dict, max_dead: float | None) -> tuple:
    """What tuning maximises: the run's objective, but with `max_dead` set a run with more dead latents than
    that ranks below every run within the bound (then by fewest dead, then objective), so a rate that buys
    reconstruction with a dead dictionary is not picked. Synthetic runs record no dead fraction and are not
    bounded. sae_recipe_horizon.py tunes with it too (its objective is −ΔCE)."""
    over = max_dead is not None and run.get("dead", 0.0) > max_dead
    return (not over, -run.get("dead", 0.0) if over else 0.0, run["objective"])


# Arguments that only choose which runs happen or where output goes; every other argument shapes a run.
RUN_SELECTORS = {"data", "families", "lr_mults", "lrs", "seeds", "workdir", "threads", "json", "reuse", "max_dead"}


def load_reusable(path: str, a) -> dict[tuple, dict]:
    """Runs of an earlier report, keyed by (data, family, lr_mult, seed), if that report trained them the same way.

    Why: widening a learning-rate grid should cost only the new multipliers. Refuses (ValueError naming the
    settings) when the earlier report differs in any argument that shapes a run, since its runs would then not
    be the runs this invocation asks for."""
    old = json.loads(Path(path).read_text())
    differ = sorted(k for k, v in vars(a).items() if k not in RUN_SELECTORS and k in old["args"] and old["args"][k] != v)
    if differ:
        raise ValueError(f"--reuse {path}: it was run with different " + ", ".join(
            f"--{k.replace('_', '-')} {old['args'][k]} (now {getattr(a, k)})" for k in differ))
    now = json.loads(json.dumps(asdict(TrainConfig()), default=str))
    changed = sorted(k for k, v in old.get("default_train_config", {}).items() if now.get(k) != v)
    if changed:                      # the package's recipe moved since: settings a family leaves alone differ
        raise ValueError(f"--reuse {path}: TrainConfig()'s defaults changed since it ran ({', '.join(changed)})")
    cache = {}
    for data, block in old["data"].items():
        for run in block["tuning"] + [r for b in block["heldout"].values() for r in b["runs"]]:
            cache[(data, run["family"], float(run["lr_mult"]), int(run["seed"]))] = {**run, "reused": True}
    return cache


def summarise(runs: list[dict], keys: list[str]) -> dict:
    return {k: (statistics.mean(r[k] for r in runs), statistics.stdev(r[k] for r in runs) if len(runs) > 1 else 0.0)
            for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="synthetic", help="synthetic, smollm2, minilm (comma-separated)")
    ap.add_argument("--families", default=",".join([*FAMILIES, *(p for p in sae_peers.PEERS if sae_peers.installed(p))]),
                    help="recipes (default: monoscope's two, plus each peer library that is installed)")
    ap.add_argument("--lr-mults", default="0.125,0.5,2,8,32,128", help="the tuning budget: one run per multiplier of each "
                    "recipe's own default learning rate")
    ap.add_argument("--lrs", default="", help="instead of --lr-mults: these absolute learning rates for every "
                    "recipe (the same rates for all, as sae_recipe_horizon.py --tune)")
    ap.add_argument("--dev-seed", type=int, default=0)
    ap.add_argument("--seeds", default="1,2,3", help="held-out seeds (at least 3 for the table)")
    ap.add_argument("--samples", type=int, default=500_000, help="synthetic training samples")
    ap.add_argument("--features", type=int, default=4096, help="planted directions (synthetic)")
    ap.add_argument("--latents", type=int, default=4096, help="SAE latents (synthetic)")
    ap.add_argument("--expansion", type=int, default=8, help="latents per residual dimension (real data)")
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--tokens", type=int, default=500_000, help="harvested training tokens (real data)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-dead", type=float, default=None, help="real data: tune only over rates whose dead "
                    "fraction (held-out tokens) is at most this, e.g. 0.05")
    ap.add_argument("--heldout-contexts", type=int, default=128)
    ap.add_argument("--eval-samples", type=int, default=16384)
    ap.add_argument("--workdir", default="runs/bench-sae-quality")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", default="", help="write every run and the summary here")
    ap.add_argument("--reuse", default="", help="an earlier --json report: take its matching runs instead of "
                    "training them again (to widen --lr-mults or add --seeds)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    mults = [float(x) for x in a.lr_mults.split(",")]
    rates = [float(x) for x in a.lrs.split(",") if x]
    seeds = [int(x) for x in a.seeds.split(",")]
    families = [f for f in a.families.split(",") if f]
    for f in families:
        if f not in FAMILIES and f not in sae_peers.PEERS:
            ap.error(f"unknown recipe {f!r}; known: {', '.join([*FAMILIES, *sae_peers.PEERS])}")
        if f in sae_peers.PEERS and not sae_peers.installed(f):
            ap.error(f"recipe {f!r} needs the {sae_peers.PEERS[f]} package: pip install -e '.[peers]'")
    missing = [p for p in sae_peers.PEERS if p not in families and not sae_peers.installed(p)]
    if missing:
        print(f"peer libraries not installed ({', '.join(missing)}): pip install -e '.[peers]' to train them in "
              f"the same run", flush=True)
    try:
        cache = load_reusable(a.reuse, a) if a.reuse else {}
    except (OSError, ValueError, KeyError) as e:
        ap.error(str(e) if isinstance(e, ValueError) else f"--reuse {a.reuse}: not a sae_quality report ({e})")
    if cache:
        print(f"reusing matching runs from {a.reuse} ({len(cache)} available)", flush=True)
    report: dict = {"args": vars(a), "default_train_config": json.loads(json.dumps(asdict(TrainConfig()), default=str)),
                    "data": {}}
    for data in [d for d in a.data.split(",") if d]:
        synthetic = data == "synthetic"
        problem = (lambda s: synthetic_problem(s, a)) if synthetic else (lambda s, d=data: real_problem(d, a))
        keys = ["recovered", "mean_max_cos", "fvu", "l0"] if synthetic else ["fvu", "dead", "l0"]
        print(f"\n== {data}: tuning {len(rates or mults)} learning rates per recipe on seed {a.dev_seed}, then seeds "
              f"{', '.join(map(str, seeds))}", flush=True)
        block = {"tuning": [], "heldout": {}}

        def run(fam: str, mult: float, seed: int, data=data, problem=problem) -> dict:
            return cache.get((data, fam, mult, seed)) or train_and_score(problem(seed), fam, mult, seed, a)

        for fam in families:
            if rates:                    # absolute rates: each as a multiple of this family's base at this width
                n = n_latents(problem(a.dev_seed), a)
                mults = [lr / base_rate(fam, n) for lr in rates]
            tune = [run(fam, m, a.dev_seed) for m in mults]
            block["tuning"] += tune
            best = max(tune, key=lambda r: objective(r, a.max_dead))
            at_edge = best["lr_mult"] in (mults[0], mults[-1])
            edge = f" (at the edge of the grid: widen {'--lrs' if rates else '--lr-mults'})" if at_edge else ""
            n_new = sum(not r.get("reused") for r in tune)
            if not objective(best, a.max_dead)[0]:
                edge += f" (no rate kept dead ≤ {100 * a.max_dead:g}%: the fewest dead)"
            print(f"  {fam:<10} tuned lr {best['lr']:.3g} (×{best['lr_mult']:g}){edge}; {n_new} of {len(tune)} "
                  f"tuning runs trained now", flush=True)
            runs = [run(fam, best["lr_mult"], s) for s in seeds]
            block["heldout"][fam] = {"lr": best["lr"], "runs": runs, "summary": summarise(runs, keys)}
        report["data"][data] = block
        print(f"  {'recipe':<10} " + " ".join(f"{k:>18}" for k in keys) + f"   (mean ± sd over {len(seeds)} held-out seeds)")
        for fam, b in block["heldout"].items():
            cells = []
            for k in keys:
                m, sd = b["summary"][k]
                cells.append(f"{100 * m:>9.1f}% ± {100 * sd:4.1f}" if k in ("recovered", "dead")
                             else f"{m:>11.4f} ± {sd:.4f}")
            print(f"  {fam:<10} " + " ".join(f"{c:>18}" for c in cells), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1, default=str)


if __name__ == "__main__":
    main()
