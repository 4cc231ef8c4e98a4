"""One trainer for every SAE architecture: schedules, logging, checkpoints and exact resume.

Recipe (Scaling Monosemanticity, April 2024 update): Adam (0.9, 0.999) without weight decay, gradient-norm
clipping at 1, learning rate linear to 0 over the last 20% of steps, sparsity coefficient ramped from 0
over the first 5% (relu, jumprelu). GPU: bf16 autocast with fp32 master weights; CPU: fp32.

Output directory:
    sae.safetensors, cfg.json   the exported SAE (norm scalar and decoder norms folded; raw activations)
    metrics.jsonl               one JSON object per logged step
    summary.json                final figures
    checkpoints/LATEST          name of the newest complete checkpoint
    checkpoints/step_NNNNNNNNN/ sae.safetensors + cfg.json (training space) + trainer_state.pt

Checkpoints are written to a temporary directory and renamed into place; LATEST is replaced atomically,
so a crash leaves the previous checkpoint usable. A resumed run restores weights, optimizer, step, data
position, dead-latent counters and RNG states, and reaches bit-identical weights on CPU.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..fileio import atomic_write_text
from .config import SAEConfig, SAEError
from .data import DataSource
from .formats import CFG, build_sae, load_native, save_sae
from .schedules import lr_factor, sparsity_coeff

CKPT_DIR = "checkpoints"
STATE = "trainer_state.pt"
RECIPE_FILE = Path(__file__).parent / "data" / "recipe.yaml"


def load_recipe(path: str | Path = RECIPE_FILE) -> dict[str, Any]:
    """The training recipe TrainConfig's defaults come from (see data/recipe.yaml for how it is chosen)."""
    import yaml

    return {k: v for k, v in yaml.safe_load(Path(path).read_text()).items() if k != "evidence"}


RECIPE = load_recipe()


@dataclass
class TrainConfig:
    """How to train; the defaults are the package's recipe (data/recipe.yaml, `RECIPE`)."""

    steps: int | None = None                 # optimizer steps (or give tokens)
    tokens: int | None = None                # → steps = ceil(tokens / batch_size)
    batch_size: int = 4096
    lr: float | None = None                  # default per architecture (see default_lr)
    lr_warmup_steps: int = RECIPE["lr_warmup_steps"]
    lr_decay_frac: float = RECIPE["lr_decay_frac"]     # linear decay over the last 20% …
    lr_decay_to: float = RECIPE["lr_decay_to"]         # … to 0
    l1_warmup_frac: float = RECIPE["l1_warmup_frac"]   # λ ramp (relu, jumprelu)
    betas: tuple[float, float] = tuple(RECIPE["betas"])  # type: ignore[assignment]
    eps: float = float(RECIPE["eps"])
    grad_clip: float = RECIPE["grad_clip"]
    aux_coeff: float = RECIPE["aux_coeff"]             # AuxK weight (top-k family; 0 disables)
    aux_k: int | None = None                 # default d_in // 2
    dead_tokens: int | None = None           # a latent silent this many tokens is dead (AuxK target, dead %)…
    dead_window_frac: float = RECIPE["dead_window_frac"]  # … default: this fraction of the run's tokens
    b_dec_init: str = RECIPE["b_dec_init"]             # "zeros" (April recipe) or "mean" of the first batch
    norm_scalar: float | str | None = "auto"  # iterables: "auto" estimates E‖c·x‖² = d; stores: their own
    seed: int = 0                            # weight init (and store shuffling)
    device: str = "auto"
    autocast: bool | None = None             # None: bf16 autocast on CUDA, off on CPU
    log_every: int = 10
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    progress: bool = True
    loggers: tuple[str, ...] = ()            # "wandb", "tensorboard" (used when installed)
    max_bad_batches: int = 100               # consecutive non-finite batches before giving up

    def dead_window(self, total_steps: int) -> int:
        """Tokens a latent must stay silent to count as dead: `dead_tokens`, or `dead_window_frac` of the run.
        Never longer than the run itself, so "no dead latents" cannot hold by construction."""
        run = max(1, total_steps) * self.batch_size
        w = self.dead_tokens if self.dead_tokens is not None else int(round(self.dead_window_frac * run))
        return int(min(max(w, self.batch_size), run))

    def resolve_steps(self) -> int:
        if self.steps is not None:
            return int(self.steps)
        if self.tokens is not None:
            return int(math.ceil(self.tokens / self.batch_size))
        raise SAEError("say how long to train: steps=... or tokens=...")


def default_lr(cfg: SAEConfig) -> float:
    if cfg.architecture == "relu":
        return 5e-5                                     # the paper's reasonable default
    if cfg.architecture == "jumprelu":
        return 7e-5
    return 2e-4 / math.sqrt(cfg.n_latents / 2 ** 14)    # Gao et al. scaling for top-k


@dataclass
class TrainResult:
    sae: Any                                 # the exported SAE (raw activations)
    out_dir: Path | None
    steps: int
    tokens: int
    skipped_batches: int
    metrics: dict[str, float]
    seconds: float
    tokens_per_second: float
    resumed_from: int | None = None
    history: list[dict] = field(default_factory=list)


class _Loggers:
    def __init__(self, names, out_dir: Path | None, config: dict):
        self.wandb = self.tb = None
        for name in names:
            try:
                if name == "wandb":
                    import wandb  # type: ignore

                    self.wandb = wandb.init(project="monoscope", config=config,
                                            dir=str(out_dir) if out_dir else None)
                elif name == "tensorboard":
                    from torch.utils.tensorboard import SummaryWriter

                    self.tb = SummaryWriter(str(out_dir / "tb") if out_dir else None)
                else:
                    warnings.warn(f"unknown logger {name!r} (wandb, tensorboard)")
            except ImportError:
                warnings.warn(f"logger {name!r} is not installed; logging to metrics.jsonl only")

    def log(self, rec: dict) -> None:
        if self.wandb is not None:
            self.wandb.log(rec, step=rec["step"])
        if self.tb is not None:
            for k, v in rec.items():
                if isinstance(v, (int, float)) and k != "step":
                    self.tb.add_scalar(k, v, rec["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def latest_checkpoint(out: Path | None, complete_marker: str) -> Path | None:
    """The checkpoint `out/checkpoints/LATEST` names, or None; a pointer at a checkpoint without its
    `complete_marker` file (a crash mid-write) is an error, not something to silently train over."""
    if out is None:
        return None
    latest = out / CKPT_DIR / "LATEST"
    if not latest.exists():
        return None
    p = out / CKPT_DIR / latest.read_text().strip()
    if not (p / complete_marker).exists():
        raise SAEError(f"{latest} points at {p.name}, which is incomplete; delete {latest} to start over")
    return p


def truncate_metrics(out: Path | None, step: int) -> None:
    """On resume, drop metric lines logged after the checkpoint's step, so the log matches one clean run."""
    path = out / "metrics.jsonl" if out else None
    if path is None or not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            continue
    atomic_write_text(path, "".join(k + "\n" for k in keep))


class Trainer:
    def __init__(self, data: Any, cfg: SAEConfig, tcfg: TrainConfig, out_dir: str | Path | None = None,
                 resume: bool = False, hook: str | None = None):
        self.tcfg = tcfg
        self.total = tcfg.resolve_steps()
        self.dead_window = tcfg.dead_window(self.total)
        self.out = Path(out_dir) if out_dir is not None else None
        self.source = DataSource(data, tcfg.batch_size, hook=hook or cfg.hook, seed=tcfg.seed)
        if self.source.d_in is not None and self.source.d_in != cfg.d_in:
            raise SAEError(f"the store's activations have width {self.source.d_in}, but the SAE config says "
                           f"d_in={cfg.d_in}")
        if self.source.kind == "store":
            cfg = replace(cfg, hook=self.source.hook, model=cfg.model or self.source.model)
        dev = tcfg.device
        self.device = torch.device("cuda" if dev == "auto" and torch.cuda.is_available() else
                                   ("cpu" if dev == "auto" else dev))
        self.autocast = tcfg.autocast if tcfg.autocast is not None else self.device.type == "cuda"
        self.lr = tcfg.lr if tcfg.lr is not None else default_lr(cfg)
        self.step = self.data_pos = self.tokens = self.skipped = self.nonfinite = 0
        self.resumed_from: int | None = None
        ckpt = latest_checkpoint(self.out, STATE)
        if ckpt is not None and not resume:
            raise SAEError(f"{self.out} already holds a training run (checkpoint {ckpt.name}); pass resume=True "
                           f"(--resume) to continue it, or choose another output directory. Nothing was changed.")
        if ckpt is None and resume and self.out is not None and (self.out / CFG).exists() \
                and (self.out / "summary.json").exists():
            raise SAEError(f"{self.out} holds a finished SAE but no checkpoint to resume from")
        if ckpt is not None:
            self._check_compatible(ckpt, cfg)
        self.cfg = cfg
        self.sae = build_sae(cfg)
        if ckpt is None:
            g = torch.Generator().manual_seed(tcfg.seed)
            self.sae.init_weights(g)
        self.sae.to(self.device)
        self.opt = torch.optim.Adam(self.sae.parameters(), lr=self.lr, betas=tuple(tcfg.betas), eps=tcfg.eps,
                                    weight_decay=0.0)
        self.since_fired = torch.zeros(cfg.n_latents, dtype=torch.long, device=self.device)
        if ckpt is not None:
            self._load_checkpoint(ckpt)
        else:
            self._set_norm_scalar()
        self.history: list[dict] = []

    # ---- setup ------------------------------------------------------------------------------------
    def _set_norm_scalar(self) -> None:
        t = self.tcfg
        if self.source.kind == "store":
            c = self.source.store_norm_scalar
        elif t.norm_scalar == "auto":
            peek = self.source.peek_batches(8)
            if not peek:
                raise SAEError("the training data yielded no batches")
            xs = torch.cat([b for b in peek if torch.isfinite(b).all()] or [peek[0]])
            self._check_width(xs)
            ms = float(xs.double().pow(2).sum(-1).mean())
            if not (ms > 0 and math.isfinite(ms)):
                raise SAEError("cannot estimate a normalisation scalar: the first batches are all zero or "
                               "non-finite; pass norm_scalar=1.0 (or a value) explicitly")
            c = math.sqrt(self.cfg.d_in / ms)
        elif t.norm_scalar is None:
            c = 1.0
        else:
            c = float(t.norm_scalar)
        self.cfg.norm_scalar = float(c)
        self.sae.cfg.norm_scalar = float(c)
        # store batches arrive normalised; for other sources the trainer multiplies by c
        self.input_scale = 1.0 if self.source.kind == "store" else float(c)

    def _check_width(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.cfg.d_in:
            raise SAEError(f"activations have width {x.shape[-1]}, but the SAE has d_in={self.cfg.d_in}: wrong "
                           f"hook or model, or wrong d_in in the SAE config")

    # ---- checkpoints ------------------------------------------------------------------------------
    def _check_compatible(self, ckpt: Path, cfg: SAEConfig) -> None:
        old = SAEConfig.load(ckpt / CFG)
        if old.architecture != cfg.architecture:
            raise SAEError(f"the checkpoint in {self.out} is a {old.architecture!r} SAE, but a {cfg.architecture!r} "
                           f"SAE was requested; nothing was changed. Use the same architecture to resume, or "
                           f"another output directory")
        for name in ("d_in", "n_latents", "k"):
            if getattr(old, name) != getattr(cfg, name):
                raise SAEError(f"the checkpoint in {self.out} has {name}={getattr(old, name)}, the requested SAE "
                               f"{name}={getattr(cfg, name)}; nothing was changed")

    def _save_checkpoint(self) -> None:
        if self.out is None:
            return
        root = self.out / CKPT_DIR
        root.mkdir(parents=True, exist_ok=True)
        name = f"step_{self.step:09d}"
        final, tmp = root / name, root / f".tmp-{name}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        save_sae(self.sae, tmp)
        state = {
            "step": self.step, "data_pos": self.data_pos, "tokens": self.tokens, "skipped": self.skipped,
            "nonfinite": self.nonfinite, "since_fired": self.since_fired.cpu(),
            "optimizer": self.opt.state_dict(), "input_scale": self.input_scale,
            "norm_scalar": self.cfg.norm_scalar, "total_steps": self.total,
            "train_config": json.loads(json.dumps(asdict(self.tcfg), default=str)),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                    "numpy": np.random.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        }
        torch.save(state, tmp / STATE)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        atomic_write_text(root / "LATEST", name)
        ckpts = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))
        for old in ckpts[:-max(1, self.tcfg.keep_checkpoints)]:
            shutil.rmtree(old, ignore_errors=True)

    def _load_checkpoint(self, ckpt: Path) -> None:
        saved = load_native(ckpt, device=self.device)
        self.sae.load_state_dict(saved.state_dict())
        self.sae.cfg.norm_scalar = self.cfg.norm_scalar = saved.cfg.norm_scalar
        try:
            state = torch.load(ckpt / STATE, map_location="cpu", weights_only=False)
        except Exception as e:  # noqa: BLE001
            raise SAEError(f"{ckpt / STATE} is unreadable ({e}); the checkpoint is corrupt") from None
        self.opt.load_state_dict(state["optimizer"])
        for group in self.opt.param_groups:      # optimizer tensors to the training device
            for p in group["params"]:
                for k, v in self.opt.state.get(p, {}).items():
                    if isinstance(v, torch.Tensor) and k != "step":
                        self.opt.state[p][k] = v.to(self.device)
        self.step, self.data_pos, self.tokens = state["step"], state["data_pos"], state["tokens"]
        self.skipped, self.nonfinite = state["skipped"], state["nonfinite"]
        self.since_fired = state["since_fired"].to(self.device)
        self.input_scale = state["input_scale"]
        if state.get("total_steps") not in (None, self.total):
            warnings.warn(f"resuming a {state['total_steps']}-step run as a {self.total}-step run: the learning-rate "
                          f"and λ schedules change from here on")
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        if rng.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.resumed_from = self.step
        truncate_metrics(self.out, self.step)

    # ---- training ---------------------------------------------------------------------------------
    def run(self, stop_after: int | None = None) -> TrainResult:
        """Train to the configured number of steps (or stop early after `stop_after` steps: for tests)."""
        from tqdm.auto import tqdm

        t = self.tcfg
        cfg = self.cfg
        sae, opt = self.sae, self.opt
        sae.train(True)
        arch = cfg.architecture
        topk_family = arch in ("topk", "batchtopk")
        loggers = _Loggers(t.loggers, self.out, {**asdict(cfg), **asdict(t)})
        metrics_f = None
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            metrics_f = open(self.out / "metrics.jsonl", "a")
        bar = tqdm(total=self.total, initial=self.step, disable=not t.progress, desc=f"train {arch}",
                   unit="step", dynamic_ncols=True)
        window: dict[str, torch.Tensor] = {}
        n_window = 0
        bad_run = 0
        t0 = time.perf_counter()
        start_step, start_tokens = self.step, self.tokens
        last = {}
        it = self.source.iterate(self.data_pos)
        ac = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)
        try:
            while self.step < self.total and (stop_after is None or self.step - start_step < stop_after):
                try:
                    x = next(it)
                except StopIteration:
                    warnings.warn(f"the training data ran out after {self.data_pos} batches at step {self.step} "
                                  f"of {self.total}")
                    break
                self.data_pos += 1
                self._check_width(x)
                x = x.to(self.device, non_blocking=True)
                if self.input_scale != 1.0:
                    x = x * self.input_scale
                dead = self.since_fired >= self.dead_window
                # one host sync for both: is the batch finite, how many latents are dead
                finite, n_dead = torch.stack([torch.isfinite(x).all().long(), dead.sum()]).tolist()
                if not finite:
                    self.skipped += 1
                    bad_run += 1
                    if bad_run >= t.max_bad_batches:
                        raise SAEError(f"{bad_run} consecutive batches held NaN/inf values; the activations are "
                                       f"broken (check the store with `monoscope store-info --verify`)")
                    continue
                bad_run = 0
                if self.step == 0 and t.b_dec_init == "mean":
                    with torch.no_grad():
                        sae.b_dec.copy_(x.mean(0))
                lr = self.lr * lr_factor(self.step, self.total, t.lr_warmup_steps, t.lr_decay_frac, t.lr_decay_to)
                for g in opt.param_groups:
                    g["lr"] = lr
                kw: dict[str, Any] = {}
                if arch in ("relu", "jumprelu"):
                    kw["l1_coeff"] = sparsity_coeff(self.step, self.total, cfg.l1_coeff, t.l1_warmup_frac)
                if topk_family and t.aux_coeff > 0:
                    kw.update(dead_mask=dead, aux_k=t.aux_k, aux_coeff=t.aux_coeff, n_dead=n_dead)
                with ac:
                    out = sae(x, normalized=True, **kw)
                loss = out.loss.float()
                if not bool(torch.isfinite(loss)):
                    self.nonfinite += 1
                    bad_run += 1
                    if bad_run >= t.max_bad_batches:
                        raise SAEError(f"the loss was NaN/inf {bad_run} times in a row; lower the learning rate")
                    continue
                opt.zero_grad(set_to_none=True)
                loss.backward()
                sae.remove_parallel_decoder_grad()
                if t.grad_clip and t.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(sae.parameters(), t.grad_clip)
                opt.step()
                sae.after_step()
                with torch.no_grad():
                    self.since_fired += x.shape[0]
                    self.since_fired.masked_fill_(out.fired, 0)
                self.step += 1
                self.tokens += x.shape[0]
                for k, v in (("loss", loss), ("mse", out.mse), ("fvu", out.fvu), ("l0", out.l0),
                             ("sparsity", out.sparsity), ("aux", out.aux)):
                    v = v.detach().float()
                    window[k] = window[k] + v if k in window else v
                n_window += 1
                bar.update(1)
                if self.step % t.log_every == 0 or self.step == self.total:
                    rec = {"step": self.step, "tokens": self.tokens, "lr": lr,
                           **{k: float(v) / n_window for k, v in window.items()},
                           "dead_frac": n_dead / cfg.n_latents, "skipped_batches": self.skipped,
                           "elapsed_s": round(time.perf_counter() - t0, 3)}
                    if "l1_coeff" in kw:
                        rec["l1_coeff"] = kw["l1_coeff"]
                    last = rec
                    self.history.append(rec)
                    window, n_window = {}, 0
                    if metrics_f is not None:
                        metrics_f.write(json.dumps(rec) + "\n")
                        metrics_f.flush()
                    loggers.log(rec)
                    bar.set_postfix(L0=f"{rec['l0']:.1f}", FVU=f"{rec['fvu']:.3f}",
                                    dead=f"{100 * rec['dead_frac']:.1f}%")
                if t.checkpoint_every and self.step % t.checkpoint_every == 0 and self.step < self.total:
                    self._save_checkpoint()
        finally:
            bar.close()
            loggers.close()
            if metrics_f is not None:
                metrics_f.close()
        seconds = time.perf_counter() - t0
        done = self.step >= self.total
        if self.out is not None:
            self._save_checkpoint()
        exported = sae.exported()
        if self.out is not None and done:
            save_sae(exported, self.out)
        tokens_run = self.tokens - start_tokens
        summary = {"steps": self.step, "total_steps": self.total, "tokens": self.tokens,
                   "skipped_batches": self.skipped, "nonfinite_steps": self.nonfinite,
                   "dead_frac": float((self.since_fired >= self.dead_window).float().mean()),
                   "dead_window_tokens": self.dead_window,
                   "seconds": seconds, "tokens_per_second": tokens_run / max(seconds, 1e-9),
                   "last": last, "data": self.source.describe(), "norm_scalar": self.cfg.norm_scalar,
                   "finished": done}
        if self.out is not None:
            atomic_write_text(self.out / "summary.json", json.dumps(summary, indent=2, default=str))
        sae.train(False)
        return TrainResult(sae=exported, out_dir=self.out, steps=self.step, tokens=self.tokens,
                           skipped_batches=self.skipped, metrics=last, seconds=seconds,
                           tokens_per_second=summary["tokens_per_second"], resumed_from=self.resumed_from,
                           history=self.history)


def train_sae(data: Any, cfg: SAEConfig | None = None, out_dir: str | Path | None = None,
              train_cfg: TrainConfig | None = None, *, resume: bool = False, hook: str | None = None,
              **train_overrides) -> TrainResult:
    """Train an SAE on an activation store or any iterable of [batch, d_in] tensors.

    `cfg` defaults to a top-k SAE (16× expansion, k=32) sized from the store. Keyword arguments override
    fields of `train_cfg` (e.g. steps=..., lr=...). Returns the exported SAE (raw activations) and
    figures; with `out_dir`, also writes it, metrics and checkpoints there (see the module docstring).
    """
    tcfg = replace(train_cfg or TrainConfig(), **train_overrides)
    if cfg is None:
        src = DataSource(data, tcfg.batch_size, hook=hook)
        if src.d_in is None:
            raise SAEError("pass an SAEConfig (d_in, n_latents, architecture) when training on a plain iterable")
        cfg = SAEConfig(architecture="topk", d_in=src.d_in, n_latents=16 * src.d_in, k=32, hook=src.hook,
                        model=src.model)
    return Trainer(data, cfg, tcfg, out_dir, resume=resume, hook=hook).run()
