"""How much disk and memory a job needs and how much is free, said before the job starts.

A harvest that fills the disk halfway through, or an activation buffer that pushes the machine into swap,
wastes hours; both are cheap to predict (tokens × hooks × d × bytes per value). Callers print the plan and
raise their own `UserError` subclass when it cannot fit.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} PB"  # pragma: no cover


def free_disk(path: str | os.PathLike) -> int:
    """Free bytes on the filesystem that holds `path` (or its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return int(shutil.disk_usage(p).free)


def free_memory(device: str | torch.device = "cpu") -> int:
    """Bytes that can still be allocated: available RAM for the CPU (what the kernel could hand out
    without swapping), free memory of the GPU for CUDA."""
    dev = torch.device(device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with accelerate
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
