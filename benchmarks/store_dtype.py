"""What storing activations in bfloat16 (the default) costs a trained SAE, with the seed's noise beside it.

One float32 harvest of the model's middle layer; its bfloat16 twin (`convert_store`: the store a bfloat16
harvest writes from the same forward passes). The same top-k SAE is trained on each (same seed, steps and
batches), and a control pair on float32 with two seeds; every SAE is evaluated on the same float32 rows.
The figure is ΔFVU(bf16 − fp32) next to ΔFVU(seed 1 − seed 0): if the first is not larger, bf16 storage
costs nothing measurable at this size.

    python benchmarks/store_dtype.py [--model smollm2-135m] [--tokens 65536] [--steps 256] [--latents 4608]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from monoscope.sae import SAEConfig, TrainConfig, train_sae
from monoscope.sae.evaluate import evaluate_sae
from monoscope.store import harvest
from monoscope.store.convert import convert_store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--hook", default="")
    ap.add_argument("--tokens", type=int, default=65_536)
    ap.add_argument("--latents", type=int, default=4608)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--eval-tokens", type=int, default=32_768)
    ap.add_argument("--store", default="", help="reuse this float32 store instead of harvesting")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="store-dtype-"))
    if a.store:
        f32_path = Path(a.store)
    else:
        f32_path = tmp / "f32"
        harvest(a.model, f32_path, hooks=a.hook or None, n_tokens=a.tokens, dtype="float32", progress=True)
    from monoscope.store import ActivationStore

    f32 = ActivationStore(f32_path)
    bf16 = convert_store(f32_path, tmp / "bf16", "bfloat16")
    hook = f32.hooks[0]
    d = f32.d_model

    def run(store, seed):
        cfg = SAEConfig("topk", d, a.latents, k=a.k, hook=hook)
        tc = TrainConfig(steps=a.steps, batch_size=a.batch, seed=seed, progress=False, checkpoint_every=0,
                         log_every=10 ** 9)
        sae = train_sae(store, cfg, None, tc).sae
        return evaluate_sae(sae, f32, hook=hook, n_tokens=a.eval_tokens, batch_size=4096).fvu

    res = {"model": a.model, "hook": hook, "tokens": f32.n_tokens, "latents": a.latents, "k": a.k, "steps": a.steps,
           "batch": a.batch, "eval_tokens": a.eval_tokens,
           "fvu_fp32_seed0": run(f32, 0), "fvu_bf16_seed0": run(bf16, 0), "fvu_fp32_seed1": run(f32, 1)}
    res["delta_bf16"] = res["fvu_bf16_seed0"] - res["fvu_fp32_seed0"]
    res["delta_seed"] = res["fvu_fp32_seed1"] - res["fvu_fp32_seed0"]
    disk = {n: sum(p.stat().st_size for p in (path / "shards").rglob("act.*.npy")) for n, path in
            (("fp32", f32_path), ("bf16", tmp / "bf16"))}
    print(f"{a.model} {hook} (d={d}), {f32.n_tokens:,} tokens; top-k n={a.latents} k={a.k}, {a.steps} steps × "
          f"{a.batch}; FVU on {a.eval_tokens:,} float32 rows")
    print(f"activations on disk: fp32 {disk['fp32'] / 1e6:.1f} MB, bf16 {disk['bf16'] / 1e6:.1f} MB")
    print(f"FVU  fp32 store, seed 0: {res['fvu_fp32_seed0']:.4f}")
    print(f"FVU  bf16 store, seed 0: {res['fvu_bf16_seed0']:.4f}   Δ(bf16 − fp32) = {res['delta_bf16']:+.4f}")
    print(f"FVU  fp32 store, seed 1: {res['fvu_fp32_seed1']:.4f}   Δ(seed) = {res['delta_seed']:+.4f}  (control)")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
