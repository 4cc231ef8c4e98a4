"""Scaling efficiency of distributed SAE training from 1 to 2 ranks (and to every GPU when there are several).

Strong scaling at a fixed global batch: the same run (same store, SAE, batch) on 1 rank and on W ranks,
in both modes (dp: data parallel; fs: feature sharded). Each configuration is launched with torchrun;
its ranks time `--timed` steps after `--warmup` steps. Reported per mode:

    speedup    = tokens/s on W ranks ÷ tokens/s on 1 rank
    efficiency = speedup ÷ W            (1.0 = perfect; the ratio this benchmark is about)
    work ratio = CPU seconds of the 1-rank run ÷ CPU seconds summed over the W ranks (CPU runs only):
                 the share of the distributed run's work that is useful, i.e. 1 − overhead of
                 communication and replicated work. Unlike wall-clock efficiency it does not depend on
                 other processes competing for the cores, so it is the number to trust on a busy machine.

On a CPU each rank gets `--threads` threads (default 1), so the 1-rank baseline uses 1 core and W ranks W
cores; the machine must have W idle cores for the ratio to mean anything (it prints the load average).
On GPUs each rank drives one GPU (nccl).

    python benchmarks/distributed.py                       # CPU, gloo, 1 vs 2 ranks
    python benchmarks/distributed.py --d 768 --n-latents 65536 --k 64 --batch-size 8192   # on a GPU node
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(a) -> None:
    import torch

    from monoscope import comm
    from monoscope.sae.config import SAEConfig
    from monoscope.sae.trainer import TrainConfig, Trainer
    from monoscope.store.reader import ActivationStore

    env = comm.init_from_env("cuda" if a.cuda else "cpu")
    if not a.cuda:
        torch.set_num_threads(a.threads)
    try:
        store = ActivationStore(a.store)
        cfg = SAEConfig("topk", d_in=store.d_model, n_latents=a.n_latents, k=a.k)
        tcfg = TrainConfig(steps=a.warmup + a.timed, batch_size=a.batch_size, lr=1e-3, progress=False,
                           log_every=10 ** 9, checkpoint_every=0, device=str(env.device))
        tr = Trainer(store, cfg, tcfg, None, strategy=a.mode)
        tr.run(stop_after=a.warmup, gather=False)
        if env.device.type == "cuda":
            torch.cuda.synchronize()
        comm.barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        tr.run(stop_after=a.timed, gather=False)
        if env.device.type == "cuda":
            torch.cuda.synchronize()
        cpu = torch.tensor([time.process_time() - c0], dtype=torch.float64)
        comm.barrier()
        dt = time.perf_counter() - t0
        if env.device.type == "cpu":
            comm.all_reduce_(cpu, "sum")
        if env.is_main:
            print("RESULT " + json.dumps({"mode": a.mode, "world": env.world, "seconds": dt, "cpu_seconds": float(cpu[0]),
                                          "tokens_per_second": a.timed * a.batch_size / dt}), flush=True)
    finally:
        comm.shutdown()


def launch(a, mode: str, nproc: int) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           os.path.abspath(__file__), "--worker", "--mode", mode, "--store", a.store, "--n-latents", str(a.n_latents),
           "--k", str(a.k), "--batch-size", str(a.batch_size), "--warmup", str(a.warmup), "--timed", str(a.timed),
           "--threads", str(a.threads)] + (["--cuda"] if a.cuda else [])
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{mode}×{nproc} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="dp")
    ap.add_argument("--store", default="")
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--n-latents", type=int, default=8192)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--timed", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per rank")
    ap.add_argument("--world", type=int, default=0, help="ranks to compare with 1 (default: GPUs if ≥2, else 2)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cuda", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a)

    import torch

    n_gpu = torch.cuda.device_count()
    a.cuda = n_gpu >= 1
    world = a.world or (n_gpu if n_gpu >= 2 else 2)
    if a.cuda and n_gpu < world:
        print(f"{n_gpu} GPU(s): measuring 1 vs {world} ranks on the CPU instead (one GPU per rank is needed)")
        a.cuda = False
    tmp = None
    if not a.store:
        from monoscope.scaling.demo import write_synthetic_store

        tmp = tempfile.TemporaryDirectory()
        rows = (a.warmup + a.timed + 2) * a.batch_size
        write_synthetic_store(Path(tmp.name) / "store", n_tokens=rows, d=a.d, n_features=4 * a.n_latents,
                              mean_active=a.k / 2, alpha=0.8, shard_tokens=1 << 16)
        a.store = str(Path(tmp.name) / "store")
    dev = f"{world}× {torch.cuda.get_device_name(0)} (nccl)" if a.cuda else \
        f"CPU, gloo, {a.threads} thread(s) per rank, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    print(f"top-k SAE d={a.d} n={a.n_latents} k={a.k}, global batch {a.batch_size}, {a.timed} timed steps; {dev}")
    rows = []
    for mode in ("dp", "fs"):
        best, cpu = {}, {}
        for _ in range(a.repeats):                       # alternate 1 and W ranks; keep each one's best
            for w in (1, world):
                r = launch(a, mode, w)
                best[w] = max(best.get(w, 0.0), r["tokens_per_second"])
                cpu[w] = min(cpu.get(w, float("inf")), r["cpu_seconds"])
        sp = best[world] / best[1]
        rows.append((mode, best[1], best[world], sp, sp / world, cpu[1] / cpu[world] if not a.cuda else None))
    print(f"{'mode':<5} {'1 rank tok/s':>13} {f'{world} ranks tok/s':>15} {'speedup':>8} {'efficiency':>10} "
          f"{'work ratio':>10}")
    for mode, t1, tw, sp, eff, wr in rows:
        print(f"{mode:<5} {t1:>13,.0f} {tw:>15,.0f} {sp:>8.2f} {eff:>10.2f} "
              f"{'–' if wr is None else f'{wr:.2f}':>10}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
