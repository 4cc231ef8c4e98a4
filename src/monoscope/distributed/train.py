"""`train_distributed`: the one trainer on the current process group (the library face of `--strategy`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def train_distributed(data: Any, cfg, out_dir: str | Path | None = None, train_cfg=None, *, mode: str = "dp",
                      resume: bool = False, hook: str | None = None, **train_overrides):
    """`monoscope.sae.train_sae` on the current process group with strategy `mode` ("dp" or "fs"); call
    after `init_from_env()` (e.g. under torchrun)."""
    from ..sae.trainer import train_sae

    return train_sae(data, cfg, out_dir, train_cfg, resume=resume, hook=hook, strategy=mode, **train_overrides)
