"""`monoscope train-distributed` and `monoscope harvest-distributed`: torchrun launchers.

Each starts `torchrun` (python -m torch.distributed.run) on this node: `-m monoscope train …` (the same
command line as a single-process `monoscope train`) or `-m monoscope.distributed.harvest`. For several
nodes, run the same command on every node with --nnodes, --node-rank and --master-addr (or call torchrun
directly; docs/distributed.md).
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
    @app.command("train-distributed", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def train_distributed(
        ctx: typer.Context,
        nproc_per_node: int = typer.Option(0, help="processes on this node (default: GPUs, or 2 on a CPU)"),
        nnodes: int = typer.Option(1),
        node_rank: int = typer.Option(0),
        master_addr: str = typer.Option(""),
        master_port: int = typer.Option(29500),
        dry_run: bool = typer.Option(False, help="print the torchrun command only"),
    ):
        """Run `monoscope train` over several processes/GPUs with torchrun; every other option is passed to
        `monoscope train` unchanged (--store or --model, --strategy dp|fs, --latents, …)."""
        import torch

        nproc = nproc_per_node or (torch.cuda.device_count() or 2)
        _launch(torchrun_cmd("monoscope", ["train", *ctx.args], nproc, nnodes, node_rank, master_addr, master_port),
                dry_run)

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
        dtype: str = typer.Option("bfloat16", help="storage dtype: bfloat16 or float32"),
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
