"""`monoscope train-distributed` and `monoscope harvest-distributed`: torchrun launchers.

Each starts `torchrun` (python -m torch.distributed.run) on this node with the module entry point
(`monoscope.distributed.train` / `monoscope.distributed.harvest`). For several nodes, run the same command
on every node with --nnodes, --node-rank and --master-addr (or call torchrun directly; docs/distributed.md).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console

console = Console()


def torchrun_cmd(module: str, args: list[str], nproc: int, nnodes: int = 1, node_rank: int = 0,
                 master_addr: str = "", master_port: int = 29500) -> list[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if nnodes > 1:
        if not master_addr:
            raise typer.BadParameter("several nodes need --master-addr (node 0's address)")
        cmd += [f"--nnodes={nnodes}", f"--node-rank={node_rank}", f"--master-addr={master_addr}",
                f"--master-port={master_port}"]
    else:
        cmd += ["--standalone"]
    return cmd + ["-m", module] + args


def _launch(cmd: list[str], dry_run: bool) -> None:
    console.print(" ".join(cmd), style="dim", soft_wrap=True, markup=False, highlight=False)
    if dry_run:
        return
    rc = subprocess.call(cmd, env=os.environ.copy())
    if rc != 0:
        console.print(f"[red]error:[/red] torchrun exited with status {rc}")
        raise typer.Exit(rc)


def register(app: typer.Typer) -> None:
    @app.command("train-distributed")
    def train_distributed(
        store: Path = typer.Option(..., help="activation store"),
        out: Path = typer.Option(..., help="output directory (sharded checkpoints, metrics, the SAE)"),
        n_latents: int = typer.Option(..., help="dictionary size"),
        mode: str = typer.Option("dp", help="dp (data parallel) or fs (feature sharded: latents split over ranks)"),
        arch: str = typer.Option("topk", help="topk | relu (dp and fs) | jumprelu (dp)"),
        k: int = typer.Option(64),
        l1_coeff: float = typer.Option(5.0),
        steps: int = typer.Option(None),
        tokens: int = typer.Option(None),
        batch_size: int = typer.Option(4096, help="global batch size"),
        lr: float = typer.Option(None),
        seed: int = typer.Option(0),
        checkpoint_every: int = typer.Option(1000),
        hook: str = typer.Option(None),
        device: str = typer.Option("auto"),
        resume: bool = typer.Option(False, help="continue the run in --out (any number of processes)"),
        nproc_per_node: int = typer.Option(0, help="processes on this node (default: GPUs, or 2 on a CPU)"),
        nnodes: int = typer.Option(1),
        node_rank: int = typer.Option(0),
        master_addr: str = typer.Option(""),
        master_port: int = typer.Option(29500),
        dry_run: bool = typer.Option(False, help="print the torchrun command only"),
    ):
        """Train one SAE over several processes/GPUs with torchrun (data parallel or feature sharded)."""
        import torch

        nproc = nproc_per_node or (torch.cuda.device_count() or 2)
        args = ["--store", str(store), "--out", str(out), "--mode", mode, "--arch", arch, "--n-latents",
                str(n_latents), "--k", str(k), "--l1-coeff", str(l1_coeff), "--batch-size", str(batch_size),
                "--seed", str(seed), "--checkpoint-every", str(checkpoint_every), "--device", device]
        for flag, v in (("--steps", steps), ("--tokens", tokens), ("--lr", lr), ("--hook", hook)):
            if v is not None:
                args += [flag, str(v)]
        if resume:
            args.append("--resume")
        _launch(torchrun_cmd("monoscope.distributed.train", args, nproc, nnodes, node_rank, master_addr,
                             master_port), dry_run)

    @app.command("harvest-distributed")
    def harvest_distributed(
        out: Path = typer.Option(..., help="store directory (one store for all ranks; resumes)"),
        model: str = typer.Option("smollm2-135m"),
        hooks: str = typer.Option(""),
        corpus: str = typer.Option("default"),
        tokens: int = typer.Option(100_000),
        context_len: int = typer.Option(128),
        batch_size: int = typer.Option(16),
        shard_tokens: int = typer.Option(1 << 16),
        dtype: str = typer.Option("float32"),
        device: str = typer.Option("auto"),
        nproc_per_node: int = typer.Option(0, help="processes on this node (default: GPUs, or 2 on a CPU)"),
        nnodes: int = typer.Option(1),
        node_rank: int = typer.Option(0),
        master_addr: str = typer.Option(""),
        master_port: int = typer.Option(29500),
        dry_run: bool = typer.Option(False, help="print the torchrun command only"),
    ):
        """Harvest with several processes/GPUs into one store (ranks split the context stream by shard)."""
        import torch

        nproc = nproc_per_node or (torch.cuda.device_count() or 2)
        args = ["--out", str(out), "--model", model, "--corpus", corpus, "--tokens", str(tokens),
                "--context-len", str(context_len), "--batch-size", str(batch_size), "--shard-tokens",
                str(shard_tokens), "--dtype", dtype, "--device", device]
        if hooks:
            args += ["--hooks", hooks]
        _launch(torchrun_cmd("monoscope.distributed.harvest", args, nproc, nnodes, node_rank, master_addr,
                             master_port), dry_run)
