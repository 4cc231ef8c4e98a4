"""Experiment loggers beside metrics.jsonl: Weights & Biases and TensorBoard, used when installed.

`metrics.jsonl` in the SAE's directory is always written (it is the record resume truncates); these mirror
each logged step to the tools researchers already watch. A logger that is not installed is a warning, not
an error, so the same command runs everywhere. wandb honours its own environment (WANDB_MODE=offline,
WANDB_PROJECT, …); one wandb run per trained SAE, named after it.
"""
from __future__ import annotations

import warnings
from pathlib import Path

LOGGERS = ("wandb", "tensorboard")


class Loggers:
    def __init__(self, names, out_dir: Path | None, config: dict, run_name: str | None = None):
        self.wandb = self.tb = None
        for name in names:
            try:
                if name == "wandb":
                    import wandb  # type: ignore

                    self.wandb = wandb.init(project="monoscope", config=config, name=run_name or None,
                                            dir=str(out_dir) if out_dir else None, reinit="create_new")
                elif name == "tensorboard":
                    from torch.utils.tensorboard import SummaryWriter

                    self.tb = SummaryWriter(str(out_dir / "tb") if out_dir else None)
                else:
                    warnings.warn(f"unknown logger {name!r} ({', '.join(LOGGERS)})")
            except ImportError:
                warnings.warn(f"logger {name!r} is not installed; logging to metrics.jsonl only "
                              f"(pip install 'monoscope[loggers]')")

    def log(self, rec: dict) -> None:
        if self.wandb is not None:
            self.wandb.log({k: v for k, v in rec.items() if isinstance(v, (int, float))}, step=rec["step"])
        if self.tb is not None:
            for k, v in rec.items():
                if isinstance(v, (int, float)) and k != "step":
                    self.tb.add_scalar(k, v, rec["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()
