"""One trainer for every SAE architecture, one process or many, one SAE or several per pass of the data.

Recipe (data/recipe.yaml; Scaling Monosemanticity, April 2024 update): Adam (0.9, 0.999) without weight
decay, gradient-norm clipping at 1, learning rate linear to 0 over the last 20% of steps, sparsity coefficient
ramped from 0 over the first 5% (architectures with a λ term). Top-k overrides the optimiser settings with its
benchmarked ones (Adam 0.5/0.95, no clipping, b_dec from the first batch's mean, 2.5e-3·√(4096/n); see the
recipe's `evidence`). GPU: bf16 autocast with fp32 master weights; CPU: fp32.

Data: an activation store, a list / factory / iterator of [batch, d_in] tensors (`monoscope.sae.data`), or
the model itself (`monoscope.sae.streaming.ActivationStream`: several hooks from one forward pass, through a
mixing buffer). Several SAEs (`SAESpec`s: hooks × widths × architectures × learning rates) train from the
same batches: each step draws one batch per hook and every SAE of that hook takes its step on it. An SAE
trained this way is bit-identical to the same SAE trained alone on the same data.

Processes: a `strategy` (`monoscope.sae.strategy`) — one process, data parallel (DDP) or feature sharded —
answers the few questions on which they differ; the loop below is the same for all.

Output directory (one SAE: the directory itself; several: one sub-directory each, named after the SAE):
    sae.safetensors, cfg.json   the exported SAE (norm scalar and decoder norms folded; raw activations);
                                cfg.metadata["training_data"] says what it was trained on and what was skipped
    metrics.jsonl               one JSON object per logged step
    summary.json                final figures
and, for the whole run:
    run.json                    what the run reads and trains (a resume must match it)
    checkpoints/                see `monoscope.sae.checkpoint`

Exact resume: weights, Adam moments, steps, dead-latent counters, the data position (a batch count, or a
stream cursor) and RNG states are checkpointed; a resumed run reaches bit-identical weights on CPU.
"""
from __future__ import annotations

import json
import math
import random
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .. import comm
from ..fileio import atomic_write_text
from . import checkpoint as ck
from .checkpoint import CKPT_DIR, latest_checkpoint, truncate_metrics
from .config import SAEConfig, SAEError
from .data import DataSource, is_store
from .formats import save_sae
from .loggers import Loggers
from .schedules import lr_factor, sparsity_coeff
from .strategy import Local, make_strategy

RUN_SPEC = "run.json"
RUN_FORMAT = "monoscope-train-run"
RECIPE_FILE = Path(__file__).parent / "data" / "recipe.yaml"


def load_recipe(path: str | Path = RECIPE_FILE) -> dict[str, Any]:
    """The training recipe TrainConfig's defaults come from (see data/recipe.yaml for how it is chosen)."""
    import yaml

    recipe = {k: v for k, v in yaml.safe_load(Path(path).read_text()).items() if k != "evidence"}
    recipe["architectures"] = {a: {k: v for k, v in over.items() if k != "evidence"}
                               for a, over in (recipe.get("architectures") or {}).items()}
    return recipe


RECIPE = load_recipe()


def recipe_setting(name: str, architecture: str) -> Any:
    """The recipe's value of one training setting for one architecture: its own entry under `architectures:`
    in data/recipe.yaml if it has one, else the recipe-wide value. Why per architecture: a recipe is chosen by
    benchmarking one architecture (top-k), and it should not silently retune the others (JumpReLU's β1 = 0)."""
    return RECIPE["architectures"].get(architecture, {}).get(name, RECIPE[name])


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
    betas: tuple[float, float] | None = None  # None: the recipe's for the architecture, else SAE.adam_betas
    eps: float = float(RECIPE["eps"])
    grad_clip: float | None = None           # None: the recipe's for the architecture (0 = no clipping)
    aux_coeff: float = RECIPE["aux_coeff"]             # AuxK weight (top-k family; 0 disables)
    aux_k: int | None = None                 # default d_in // 2
    dead_tokens: int | None = None           # a latent silent this many tokens is dead (AuxK target, dead %)…
    dead_window_frac: float = RECIPE["dead_window_frac"]  # … default: this fraction of the run's tokens
    b_dec_init: str | None = None            # "zeros" (April recipe), "mean" of the first batch; None: the recipe's
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
    keep_first_token: bool = False           # stores / streams: train on the first token of each context too
    keep_special: bool = False               # stores / streams: train on BOS/EOS/padding too

    def setting(self, name: str, architecture: str) -> Any:
        """This config's value of `betas`, `grad_clip` or `b_dec_init`, or the recipe's for the architecture
        where it is None (see `recipe_setting`)."""
        value = getattr(self, name)
        return value if value is not None else recipe_setting(name, architecture)

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
    """The learning rate an SAE trains with unless one is given: the recipe's for its architecture (scaled by
    √(lr_latents / n_latents), Gao et al.'s exponent, from the width it was tuned at), else the literature's."""
    own = RECIPE["architectures"].get(cfg.architecture, {})
    if "lr" in own:
        return float(own["lr"]) * math.sqrt(own.get("lr_latents", cfg.n_latents) / cfg.n_latents)
    if cfg.architecture == "relu":
        return 5e-5                                     # the paper's reasonable default
    if cfg.architecture == "jumprelu":
        return 7e-5                                     # Gemma Scope
    if cfg.architecture == "gated":
        return 5e-5                                     # as relu: the same L1 recipe on the gate
    return 2e-4 / math.sqrt(cfg.n_latents / 2 ** 14)    # Gao et al. scaling for top-k


@dataclass
class SAESpec:
    """One SAE of a run: its config, its name (sub-directory of the output; "" = the output directory itself,
    for a one-SAE run) and an optional learning rate of its own."""

    cfg: SAEConfig
    name: str = ""
    lr: float | None = None


def spec_name(cfg: SAEConfig, lr: float | None = None) -> str:
    """A readable, unique-enough directory name: resid_post.15-topk-4096-k32[-lr0.0002]."""
    parts = [cfg.hook or "sae", cfg.architecture, str(cfg.n_latents)]
    if cfg.k is not None:
        parts.append(f"k{cfg.k}")
    if lr is not None:
        parts.append(f"lr{lr:g}")
    return "-".join(parts)


@dataclass
class TrainResult:
    sae: Any                                 # the exported SAE (raw activations); None off rank 0
    out_dir: Path | None
    steps: int
    tokens: int
    skipped_batches: int
    metrics: dict[str, float]
    seconds: float
    tokens_per_second: float
    resumed_from: int | None = None
    history: list[dict] = field(default_factory=list)
    name: str = ""
    all: dict[str, "TrainResult"] = field(default_factory=dict)   # every SAE of the run, by name


def _dead(since_fired: torch.Tensor, dead_tokens: int) -> torch.Tensor:
    """Latents silent for `dead_tokens` training tokens (the AuxK target and the dead fraction)."""
    return since_fired >= dead_tokens


class _Member:
    """One SAE being trained: module, optimizer, counters, logs."""

    def __init__(self, spec: SAESpec, tr: "Trainer", init: bool):
        self.name, self.cfg = spec.name, spec.cfg
        self.hook = self.cfg.hook
        self.lr = spec.lr if spec.lr is not None else (tr.tcfg.lr if tr.tcfg.lr is not None else default_lr(self.cfg))
        self.out = (tr.out / spec.name if spec.name else tr.out) if tr.out is not None else None
        tr.strategy.check(self.cfg, tr.tcfg.batch_size)
        self.lo, self.hi = tr.strategy.latent_rows(self.cfg)
        self.module = tr.strategy.build(self.cfg, tr.tcfg.seed if init else None)
        self.fwd = self.module
        t = tr.tcfg
        from .architectures import ARCHITECTURE_CLASSES

        arch = ARCHITECTURE_CLASSES[self.cfg.architecture]        # what the architecture asks of the trainer
        betas = t.setting("betas", self.cfg.architecture)
        betas = tuple(betas) if betas is not None else arch.adam_betas
        self.grad_clip = float(t.setting("grad_clip", self.cfg.architecture) or 0.0)
        self.b_dec_init = t.setting("b_dec_init", self.cfg.architecture)
        self.opt = torch.optim.Adam(self.module.parameters(), lr=self.lr, betas=betas, eps=t.eps, weight_decay=0.0)
        self.since_fired = torch.zeros(self.hi - self.lo, dtype=torch.long, device=tr.device)
        self.step = self.tokens = self.skipped = self.nonfinite = 0
        self.bad_run = 0
        self.history: list[dict] = []
        self.window: torch.Tensor | None = None
        self.n_window = 0
        self.last: dict = {}
        self.uses_lambda, self.uses_auxk = arch.uses_sparsity_coeff, arch.uses_auxk
        self.metrics_f = None
        self.loggers: Loggers | None = None

    # rows of everything per latent, plus the replicated tensors: what a checkpoint shard holds
    def row_tensors(self) -> tuple[dict[str, torch.Tensor], list[str]]:
        out: dict[str, torch.Tensor] = {}
        rows: list[str] = []
        n_local = self.hi - self.lo
        for name, p in self.module.named_parameters():
            out[name] = p.detach()
            st = self.opt.state.get(p, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in st:
                    out[f"adam.{key}.{name}"] = st[key]
        for name, b in self.module.named_buffers():
            out[f"buffer.{name}"] = b
        out["since_fired"] = self.since_fired
        for k, v in out.items():
            base = k.rsplit(".", 1)[-1]
            if v.ndim >= 1 and v.shape[0] == n_local and base != "b_dec":
                rows.append(k)
        return out, rows

    def adam_step(self) -> int:
        for p in self.module.parameters():
            st = self.opt.state.get(p, {})
            if "step" in st:
                return int(st["step"])
        return 0


class Trainer:
    """Train one SAE (`cfg` an SAEConfig) or several (`cfg` a list of SAESpec/SAEConfig) on `data`.

    strategy: None / "local" (one process), "dp" or "fs" (over the current process group), or a
    `monoscope.sae.strategy` object. Attributes `sae`, `cfg`, `history` are those of the first SAE.
    """

    def __init__(self, data: Any, cfg: SAEConfig | SAESpec | Sequence[SAEConfig | SAESpec], tcfg: TrainConfig,
                 out_dir: str | Path | None = None, resume: bool = False, hook: str | None = None,
                 strategy: Any = None):
        self.tcfg = tcfg
        self.total = tcfg.resolve_steps()
        self.dead_window = tcfg.dead_window(self.total)
        self.out = Path(out_dir) if out_dir is not None else None
        self.strategy = strategy if isinstance(strategy, Local) else make_strategy(strategy or "local", tcfg.device)
        self.rank, self.world, self.device = self.strategy.rank, self.strategy.world, self.strategy.device
        self.main = self.rank == 0
        self.autocast = tcfg.autocast if tcfg.autocast is not None else self.device.type == "cuda"
        self.stream = data if hasattr(data, "open") and hasattr(data, "identity") and hasattr(data, "points") \
            else None
        specs = self._specs(cfg, data, hook)
        self.hooks = list(dict.fromkeys(s.cfg.hook for s in specs))
        self._open_sources(data, specs)
        self.draws = 0                                  # batches drawn (steps + skipped batches)
        self.resumed_from: int | None = None
        self._it = None
        self._it_state: Any = None
        ckpt = latest_checkpoint(self.out)
        if ckpt is not None and not resume:
            raise SAEError(f"{self.out} already holds a training run (checkpoint {ckpt.name}); pass resume=True "
                           f"(--resume) to continue it, or choose another output directory. Nothing was changed.")
        if ckpt is None and resume and self.out is not None and (self.out / "cfg.json").exists() \
                and (self.out / "summary.json").exists():
            raise SAEError(f"{self.out} holds a finished SAE but no checkpoint to resume from")
        if ckpt is not None:
            self._check_resume(ckpt, specs)
        self.members = [_Member(s, self, init=ckpt is None) for s in specs]
        if ckpt is not None:
            self._load_checkpoint(ckpt)
        else:
            self._set_norm_scalars()
        for m in self.members:
            m.fwd = self.strategy.wrap(m.module)
        first = self.members[0]
        self.cfg, self.sae, self.opt, self.history = first.cfg, first.module, first.opt, first.history
        self.lr = first.lr

    # ---- setup ------------------------------------------------------------------------------------
    def _specs(self, cfg, data, hook) -> list[SAESpec]:
        raw = list(cfg) if isinstance(cfg, (list, tuple)) else [cfg]
        if not raw:
            raise SAEError("no SAE to train: pass an SAEConfig or a list of them")
        specs = [c if isinstance(c, SAESpec) else SAESpec(c) for c in raw]
        if self.stream is not None:
            hooks = self.stream.hooks
            default = hook or (hooks[0] if len(hooks) == 1 else None)
        elif is_store(data):
            hooks = list(data.manifest.hooks)
            default = hook or (hooks[0] if len(hooks) == 1 else None)
        else:
            hooks, default = None, hook
        out = []
        for s in specs:
            c = replace(s.cfg, metadata=dict(s.cfg.metadata))
            h = c.hook if (c.hook is not None and (hooks is None or c.hook in hooks)) else None
            h = h or (hook if hook is not None else default)
            if hooks is not None and h is None:
                raise SAEError(f"the data holds several hooks ({', '.join(hooks)}); say which one each SAE reads "
                               f"(hook=... or SAEConfig.hook)")
            if hooks is not None and h not in hooks:
                raise SAEError(f"hook {h!r} is not in the {'stream' if self.stream else 'store'}; it holds "
                               f"{', '.join(hooks)}")
            c.hook = h
            out.append(SAESpec(c, s.name, s.lr))
        if len(out) > 1:
            for s in out:
                s.name = s.name or spec_name(s.cfg, s.lr)
            names = [s.name for s in out]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise SAEError(f"two SAEs of the run share the name {dup[0]!r}; give them distinct names")
        return out

    def _open_sources(self, data, specs: list[SAESpec]) -> None:
        t = self.tcfg
        skip_special, skip_first = not t.keep_special, not t.keep_first_token
        if self.stream is not None:
            self.kind = "stream"
            self.sources = {}
            d = self.stream.d_in
            self.model = self.stream.model
            self.identity = {**self.stream.identity(), "skip_special": skip_special, "skip_first": skip_first,
                             "seed": t.seed}
            self.excluded = (["the first token of every context"] if skip_first else []) + \
                (["special tokens (BOS/EOS/padding)"] if skip_special else [])
            part, parts = self.strategy.stream_part()
            self.batch_rows = t.batch_size // parts
            if self.main and t.progress:
                line, _, _ = self.stream.plan(self.total * t.batch_size, self.batch_rows, parts)
                print(line, flush=True)
            self.stream.check_memory(self.batch_rows, parts)
        else:
            part = self.strategy.batch_part(t.batch_size)
            self.sources = {h: DataSource(data, t.batch_size, hook=h, seed=t.seed, skip_special=skip_special,
                                          skip_first=skip_first, part=part) for h in self.hooks}
            src = next(iter(self.sources.values()))
            self.kind = src.kind
            d = src.d_in
            self.model = src.model
            self.identity = {**src.identity(), "hooks": self.hooks, "seed": t.seed}
            self.excluded = src.excluded()
        for s in specs:
            if d is not None and d != s.cfg.d_in:
                raise SAEError(f"the {'stream' if self.stream else 'store'}'s activations have width {d}, but the SAE "
                               f"config says d_in={s.cfg.d_in}")
            if self.kind in ("store", "stream"):
                s.cfg.model = s.cfg.model or self.model

    def _set_norm_scalars(self) -> None:
        t = self.tcfg
        self.norm_scalars: dict[Any, float] = {}
        self.input_scales: dict[Any, float] = {}
        self.norm_from = ""
        if self.kind == "store":
            for h, src in self.sources.items():
                self.norm_scalars[h] = float(src.store_norm_scalar)
                self.input_scales[h] = 1.0                         # store batches arrive normalised
            self.norm_from = "the store's manifest (all rows training reads)"
        elif t.norm_scalar == "auto" and self.kind == "stream":
            self.norm_scalars = self._stream_norm()
            self.norm_from = f"the first {self.stream.norm_tokens:,} training tokens of the stream"
        elif t.norm_scalar == "auto":
            for h, src in self.sources.items():
                self.norm_scalars[h] = _auto_norm(src.peek_batches(8), self.members[0].cfg.d_in)
            self.norm_from = "the first 8 batches"
        else:
            c = 1.0 if t.norm_scalar is None else float(t.norm_scalar)
            self.norm_scalars = {h: c for h in self.hooks}
            self.norm_from = "given"
        if self.kind != "store":
            self.input_scales = dict(self.norm_scalars)
        for m in self.members:
            m.cfg.norm_scalar = float(self.norm_scalars[m.hook])
            m.module.cfg.norm_scalar = m.cfg.norm_scalar

    def _stream_norm(self) -> dict[str, float]:
        """Per-hook scalars from the warm-up rows (summed over the data-parallel parts)."""
        it = self._open_iterator(None)
        scal = None
        if it is not None:
            part, parts = self.strategy.stream_part()
            want = -(-self.stream.norm_tokens // parts)
            sq, n = it.warmup(want)
            tot = self.strategy.sum_(torch.tensor(list(sq) + [float(n)], dtype=torch.float64, device=self.device))
            sums, count = tot[:-1].tolist(), float(tot[-1])
            if count <= 0:
                raise SAEError("the stream yielded no training tokens to estimate the normalisation scalar")
            scal = {h: math.sqrt(self.stream.d_in / (s / count)) if s > 0 else 1.0
                    for h, s in zip(self.stream.hooks, sums)}
        if self.strategy.replicated_stream:
            scal = comm.broadcast_object(scal)
        return {h: scal[h] for h in self.hooks}

    # ---- resume -----------------------------------------------------------------------------------
    def _run_spec(self, specs: list[SAESpec]) -> dict:
        return {"format": RUN_FORMAT, "format_version": 1, "data": self.identity,
                "saes": [{"name": s.name, "hook": s.cfg.hook, "architecture": s.cfg.architecture,
                          "d_in": s.cfg.d_in, "n_latents": s.cfg.n_latents, "k": s.cfg.k, "lr": s.lr}
                         for s in specs],
                "batch_size": self.tcfg.batch_size}

    def _check_resume(self, ckpt: Path, specs: list[SAESpec]) -> None:
        """Refuse a resume that would read other data or train other SAEs, before anything changes."""
        path = self.out / RUN_SPEC
        if not path.exists():
            raise SAEError(f"{self.out} has checkpoints but no {RUN_SPEC}; it was not written by this trainer")
        old = json.loads(path.read_text())
        new = self._run_spec(specs)
        od, nd = old.get("data", {}), new["data"]
        # keys a run.json of an older monoscope did not record are not compared (it cannot say what it read)
        diff = {k: (od.get(k), nd.get(k)) for k in sorted(set(od) | set(nd))
                if od.get(k) != nd.get(k) and (k in od or k not in ("store_id", "tokens"))}
        if diff:
            k = next(iter(diff))
            more = f" (and {', '.join(list(diff)[1:])})" if len(diff) > 1 else ""
            raise SAEError(f"refusing to resume {self.out}: the run read {k}={diff[k][0]!r}, this one would read "
                           f"{k}={diff[k][1]!r}{more}; nothing was changed. Resume with the same data, or use "
                           f"another --out")
        on = {s["name"]: s for s in old["saes"]}
        for s in specs:
            o = on.get(s.name)
            if o is None:
                raise SAEError(f"refusing to resume {self.out}: it trains {', '.join(map(repr, on))}, not {s.name!r}; "
                               f"nothing was changed")
            if o["architecture"] != s.cfg.architecture:
                raise SAEError(f"the checkpoint in {self.out} is a {o['architecture']!r} SAE, but a "
                               f"{s.cfg.architecture!r} SAE was requested; nothing was changed. Use the same "
                               f"architecture to resume, or another output directory")
            for name in ("d_in", "n_latents", "k", "hook"):
                if o[name] != getattr(s.cfg, name):
                    raise SAEError(f"the checkpoint in {self.out} has {name}={o[name]}, the requested SAE "
                                   f"{name}={getattr(s.cfg, name)}; nothing was changed")
        if old.get("batch_size") != self.tcfg.batch_size:
            raise SAEError(f"the run in {self.out} used batch size {old.get('batch_size')}, not "
                           f"{self.tcfg.batch_size}; resume with the same batch size (nothing was changed)")

    def _load_checkpoint(self, ckpt: Path) -> None:
        state = ck.read_data_state(ckpt)
        self.draws = int(state["draws"])
        self.norm_scalars = {_unkey(h): float(c) for h, c in state["norm_scalars"].items()}
        self.input_scales = {_unkey(h): float(c) for h, c in state["input_scales"].items()}
        self.norm_from = state.get("norm_from", "")
        if self.kind == "stream":
            states = state["states"]
            part, parts = self.strategy.stream_part()
            if len(states) != parts:
                raise SAEError(f"the run in {self.out} streamed over {len(states)} data-parallel part(s); resume it "
                               f"on {len(states)} rank(s) with the same strategy (this run has {parts})")
            self._it_state = states[part]
        else:
            self._it_state = self.draws
        dirs = ck.member_dirs(ckpt)
        for m in self.members:
            if m.name not in dirs:
                raise SAEError(f"checkpoint {ckpt} lacks the SAE {m.name!r}")
            man = ck.read_checkpoint_manifest(dirs[m.name])
            if (man["world_size"] != self.world or man["mode"] != self.strategy.name) and self.main:
                warnings.warn(f"resuming a {man['mode']} run of {man['world_size']} rank(s) as a {self.strategy.name} "
                              f"run of {self.world}: rows are re-cut; results equal the original run up to rounding")
            rows = ck.load_rows(dirs[m.name], man, m.lo, m.hi, verify=True)
            with torch.no_grad():
                for name, p in m.module.named_parameters():
                    p.copy_(rows[name].to(p.dtype))
                for name, b in m.module.named_buffers():
                    if f"buffer.{name}" in rows:
                        b.copy_(rows[f"buffer.{name}"])
            if man["adam_step"] > 0:
                for name, p in m.module.named_parameters():
                    if f"adam.exp_avg.{name}" in rows:
                        m.opt.state[p] = {"step": torch.tensor(float(man["adam_step"])),
                                          "exp_avg": rows[f"adam.exp_avg.{name}"].to(self.device).clone(),
                                          "exp_avg_sq": rows[f"adam.exp_avg_sq.{name}"].to(self.device).clone()}
            m.since_fired = rows["since_fired"].to(self.device).clone()
            m.step, m.tokens, m.skipped, m.nonfinite = man["step"], man["tokens"], man["skipped"], man["nonfinite"]
            m.cfg.norm_scalar = m.module.cfg.norm_scalar = float(man["norm_scalar"])
            if man.get("total_steps") not in (None, self.total) and self.main:
                warnings.warn(f"resuming a {man['total_steps']}-step run as a {self.total}-step run: the "
                              f"learning-rate and λ schedules change from here on")
            if self.main and m.out is not None:
                truncate_metrics(m.out / "metrics.jsonl", m.step)
        rng_file = ckpt / f"rng-{self.rank:05d}.pt"
        if not rng_file.exists():
            rng_file = ckpt / "rng-00000.pt"
        if rng_file.exists():
            rng = torch.load(rng_file, map_location="cpu", weights_only=False)
            torch.set_rng_state(rng["torch"])
            random.setstate(rng["python"])
            np.random.set_state(rng["numpy"])
            if rng.get("cuda") and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
        self.resumed_from = self.members[0].step

    def _save_checkpoint(self) -> None:
        if self.out is None:
            return
        root = self.out / CKPT_DIR
        name = ck.step_name(self.draws)
        tmp = root / f".tmp-{name}"
        if self.main:
            ck.prepare_dir(root, name)
        comm.barrier()
        t = self.tcfg
        for m in self.members:
            d = tmp / m.name if m.name else tmp
            entry = None
            tensors, row_keys = m.row_tensors()
            if self.strategy.writes_rows():
                entry = ck.write_shard(d, self.rank, m.lo, m.hi, tensors)
            entries = [e for e in comm.all_gather_objects(entry) if e is not None]
            if self.main:
                man = {"format": ck.CKPT_FORMAT, "format_version": ck.CKPT_VERSION, "step": m.step,
                       "data_pos": self.draws, "tokens": m.tokens, "skipped": m.skipped, "nonfinite": m.nonfinite,
                       "norm_scalar": m.cfg.norm_scalar, "total_steps": self.total, "adam_step": m.adam_step(),
                       "mode": self.strategy.name, "world_size": self.world, "n_latents": m.cfg.n_latents,
                       "sae_config": m.cfg.to_dict(), "train_config": json.loads(json.dumps(asdict(t), default=str)),
                       "row_keys": row_keys, "shards": entries}
                atomic_write_text(d / ck.MANIFEST, json.dumps(man, indent=1))
        torch.save({"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
                   tmp / f"rng-{self.rank:05d}.pt")
        states = comm.all_gather_objects(self._data_state())
        if self.strategy.replicated_stream and self.kind == "stream":
            states = states[:1]
        if self.main:
            data = {"draws": self.draws, "world": self.world, "strategy": self.strategy.name, "states": states,
                    "norm_scalars": {_key(h): c for h, c in self.norm_scalars.items()},
                    "input_scales": {_key(h): c for h, c in self.input_scales.items()}, "norm_from": self.norm_from}
            atomic_write_text(tmp / ck.DATA_STATE, json.dumps(data, indent=1))
            ck.finish(root, tmp, name, t.keep_checkpoints)
        comm.barrier()

    def _data_state(self) -> Any:
        if self.kind == "stream":
            return self._it.state() if self._it is not None else self._it_state
        return self.draws

    # ---- data -------------------------------------------------------------------------------------
    def _open_iterator(self, state):
        """This rank's iterator of {hook: batch}, or None where rank 0 reads and broadcasts (fs streams)."""
        if self.kind == "stream":
            if self.strategy.replicated_stream and not self.main:
                return None
            part, parts = self.strategy.stream_part()
            self._it = self.stream.open(state, self.batch_rows, seed=self.tcfg.seed, part=part, parts=parts,
                                        skip_special=not self.tcfg.keep_special,
                                        skip_first=not self.tcfg.keep_first_token)
            return self._it
        self._it = _zip_batches({h: src.iterate(int(state or 0)) for h, src in self.sources.items()})
        return self._it

    def _next_batch(self) -> dict:
        if self._it is None and not (self.strategy.replicated_stream and self.kind == "stream" and not self.main):
            self._open_iterator(self._it_state if self._it_state is not None else (None if self.kind == "stream"
                                                                                   else self.draws))
        if not (self.kind == "stream" and self.strategy.replicated_stream and self.world > 1):
            return next(self._it)
        # feature sharding from a stream: rank 0 forwards, every rank gets the same batch
        H, B, d = len(self.hooks), self.tcfg.batch_size, self.stream.d_in
        flag = torch.zeros(1, device=self.device)
        batch = None
        if self.main:
            try:
                batch = next(self._it)
                flag += 1
            except StopIteration:
                pass
        comm.broadcast_(flag)
        if float(flag[0]) == 0:
            raise StopIteration
        buf = torch.stack([batch[h] for h in self.hooks]).to(self.device) if self.main else \
            torch.empty(H, B, d, device=self.device)
        comm.broadcast_(buf)
        return {h: buf[i] for i, h in enumerate(self.hooks)}

    # ---- training ---------------------------------------------------------------------------------
    def _start_logs(self, m: _Member) -> None:
        t = self.tcfg
        if not self.main:
            return
        if m.out is not None:
            m.out.mkdir(parents=True, exist_ok=True)
            m.metrics_f = open(m.out / "metrics.jsonl", "a")
        # the settings this SAE actually trains with (a None in TrainConfig is resolved from the recipe)
        used = {"lr": m.lr, "betas": m.opt.param_groups[0]["betas"], "grad_clip": m.grad_clip, "b_dec_init": m.b_dec_init}
        m.loggers = Loggers(t.loggers, m.out, {**asdict(m.cfg), **asdict(t), **used}, run_name=m.name or None)

    def _write_run_spec(self) -> None:
        if self.out is None or not self.main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        spec = self._run_spec([SAESpec(m.cfg, m.name, m.lr) for m in self.members])
        spec["strategy"], spec["world_size"] = self.strategy.name, self.world
        atomic_write_text(self.out / RUN_SPEC, json.dumps(spec, indent=1))

    def _step(self, m: _Member, x: torch.Tensor) -> None:
        """One optimizer step of one SAE on its (normalised, local) batch."""
        t, cfg, st = self.tcfg, m.cfg, self.strategy
        dead = _dead(m.since_fired, self.dead_window)
        # one host sync for both: is the batch finite, how many latents are dead
        finite, n_dead = torch.stack([torch.isfinite(x).all().long(), dead.sum()]).tolist()
        if not st.all_ok(bool(finite)):
            m.skipped += 1
            m.bad_run += 1
            if m.bad_run >= t.max_bad_batches:
                where = getattr(self.sources.get(m.hook), "data", None) if self.kind == "store" else None
                hint = (f"`monoscope store-info {where.path} --verify` names the shard that holds them"
                        if hasattr(where, "path") else f"the {self.kind} data of hook {m.hook} holds them")
                raise SAEError(f"{m.bad_run} consecutive batches held NaN/inf values; the activations are "
                               f"broken: {hint}")
            return
        m.bad_run = 0
        n_dead = st.count_dead(n_dead)
        if m.step == 0 and m.b_dec_init == "mean":
            with torch.no_grad():
                m.module.b_dec.copy_(st.batch_mean(x))
        lr = m.lr * lr_factor(m.step, self.total, t.lr_warmup_steps, t.lr_decay_frac, t.lr_decay_to)
        for g in m.opt.param_groups:
            g["lr"] = lr
        kw: dict[str, Any] = {}
        lam = None
        if m.uses_lambda:
            lam = kw["l1_coeff"] = sparsity_coeff(m.step, self.total, cfg.l1_coeff, t.l1_warmup_frac)
        if m.uses_auxk and t.aux_coeff > 0:
            kw.update(dead_mask=dead, aux_k=t.aux_k, aux_coeff=t.aux_coeff, n_dead=n_dead)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = m.fwd(x, normalized=True, **kw)
        loss = out.loss.float()
        if not st.all_ok(bool(torch.isfinite(loss))):
            m.nonfinite += 1
            m.bad_run += 1
            if m.bad_run >= t.max_bad_batches:
                raise SAEError(f"the loss was NaN/inf {m.bad_run} times in a row; lower the learning rate")
            return
        m.opt.zero_grad(set_to_none=True)
        loss.backward()
        st.after_backward(m.module)
        m.module.remove_parallel_decoder_grad()
        if m.grad_clip > 0:
            st.clip(m.module, m.grad_clip)
        m.opt.step()
        m.module.after_step()
        rows = st.global_rows(x.shape[0])
        with torch.no_grad():
            stats = torch.stack([getattr(out, k).detach().float().reshape(()) for k in _STATS])
            stats, fired = st.reduce_step(stats, out.fired)
            m.since_fired += rows
            m.since_fired.masked_fill_(fired, 0)
        m.step += 1
        m.tokens += rows
        m.window = stats if m.window is None else m.window + stats
        m.n_window += 1
        if m.step % t.log_every == 0 or m.step == self.total:
            self._log(m, lr, lam, dead)

    def _log(self, m: _Member, lr: float, lam: float | None, dead: torch.Tensor) -> None:
        n_dead = self.strategy.count_dead(int(dead.sum()))
        rec = {"step": m.step, "tokens": m.tokens, "lr": lr,
               **{k: v / m.n_window for k, v in zip(_STATS, m.window.tolist())},
               "dead_frac": n_dead / m.cfg.n_latents, "skipped_batches": m.skipped,
               "elapsed_s": round(time.perf_counter() - self._t0, 3)}
        if self.world > 1:
            rec.update(world=self.world, mode=self.strategy.name)
        if m.uses_lambda:
            rec["l1_coeff"] = lam
        m.last = rec
        m.history.append(rec)
        m.window, m.n_window = None, 0
        if m.metrics_f is not None:
            m.metrics_f.write(json.dumps(rec) + "\n")
            m.metrics_f.flush()
        if m.loggers is not None:
            m.loggers.log(rec)

    def run(self, stop_after: int | None = None, gather: bool = True) -> TrainResult:
        """Train every SAE to the configured number of steps (or stop once one has taken `stop_after` more
        steps: for tests and benchmarks). With `gather`, finished SAEs are assembled on rank 0, exported and
        (with an output directory) saved."""
        from tqdm.auto import tqdm

        t = self.tcfg
        for m in self.members:
            m.module.train(True)
            self._start_logs(m)
        self._write_run_spec()
        first = self.members[0]
        label = first.cfg.architecture if len(self.members) == 1 else f"{len(self.members)} SAEs"
        bar = tqdm(total=self.total, initial=first.step, disable=not (t.progress and self.main),
                   desc=f"train {label}" + (f" {self.strategy.name}×{self.world}" if self.world > 1 else ""),
                   unit="step", dynamic_ncols=True)
        self._t0 = time.perf_counter()
        start = {m.name: (m.step, m.tokens) for m in self.members}
        try:
            while any(m.step < self.total for m in self.members):
                if stop_after is not None and max(m.step - start[m.name][0] for m in self.members) >= stop_after:
                    break
                try:
                    batch = self._next_batch()
                except StopIteration:
                    if self.main:
                        warnings.warn(f"the training data ran out after {self.draws} batches at step "
                                      f"{first.step} of {self.total}")
                    break
                self.draws += 1
                xs = {}
                for h in self.hooks:
                    x = batch[h]
                    _check_width(x, _d_of(self.members, h))
                    x = x.to(self.device, non_blocking=True)
                    c = self.input_scales.get(h, 1.0)
                    xs[h] = x * c if c != 1.0 else x
                before = first.step
                for m in self.members:
                    if m.step < self.total:
                        self._step(m, xs[m.hook])
                bar.update(first.step - before)
                if first.last:
                    bar.set_postfix(L0=f"{first.last['l0']:.1f}", FVU=f"{first.last['fvu']:.3f}",
                                    dead=f"{100 * first.last['dead_frac']:.1f}%")
                if t.checkpoint_every and self.draws % t.checkpoint_every == 0 and \
                        any(m.step < self.total for m in self.members):
                    self._save_checkpoint()
        finally:
            bar.close()
            for m in self.members:
                if m.loggers is not None:
                    m.loggers.close()
                if m.metrics_f is not None:
                    m.metrics_f.close()
                m.loggers = m.metrics_f = None
        seconds = time.perf_counter() - self._t0
        if self.out is not None:
            self._save_checkpoint()
        results = {m.name: self._finish(m, seconds, start[m.name], gather) for m in self.members}
        res = results[first.name]
        res.all = results
        return res

    def _finish(self, m: _Member, seconds: float, start: tuple[int, int], gather: bool) -> TrainResult:
        done = m.step >= self.total
        m.cfg.metadata["training_data"] = self._provenance(m)
        exported = None
        if gather:
            full = self.strategy.gather_full(m.module, m.cfg)
            if full is not None:
                full.cfg.metadata = dict(m.cfg.metadata)
                exported = full.exported()
                if m.out is not None and done:
                    save_sae(exported, m.out)
        n_dead = self.strategy.count_dead(int(_dead(m.since_fired, self.dead_window).sum()))
        tokens_run = m.tokens - start[1]
        summary = {"steps": m.step, "total_steps": self.total, "tokens": m.tokens, "skipped_batches": m.skipped,
                   "nonfinite_steps": m.nonfinite, "dead_frac": n_dead / m.cfg.n_latents,
                   "dead_window_tokens": self.dead_window, "seconds": seconds,
                   "tokens_per_second": tokens_run / max(seconds, 1e-9), "last": m.last,
                   "data": self._describe(m), "norm_scalar": m.cfg.norm_scalar, "finished": done,
                   "training_data": m.cfg.metadata["training_data"], "mode": self.strategy.name,
                   "world_size": self.world, "backend": comm.current().backend, "device": str(self.device),
                   "lr": m.lr, "name": m.name}
        if m.out is not None and self.main:
            atomic_write_text(m.out / "summary.json", json.dumps(summary, indent=2, default=str))
            if done and (m.out / "metrics.jsonl").exists():
                from .plots import plot_training_curves

                plot_training_curves(m.out / "metrics.jsonl")
        m.module.train(False)
        return TrainResult(sae=exported, out_dir=m.out, steps=m.step, tokens=m.tokens, skipped_batches=m.skipped,
                           metrics=m.last, seconds=seconds, tokens_per_second=summary["tokens_per_second"],
                           resumed_from=self.resumed_from, history=m.history, name=m.name)

    def _describe(self, m: _Member) -> str:
        if self.kind == "stream":
            return self.stream.describe()
        return self.sources[m.hook].describe()

    def _provenance(self, m: _Member) -> dict:
        """What the SAE was trained on, for its cfg.json (and summary.json)."""
        d = {"source": self._describe(m), "kind": self.kind, "hook": m.hook, "tokens": m.tokens,
             "excluded": self.excluded or ["nothing"], "norm_scalar": self.norm_scalars.get(m.hook),
             "norm_scalar_from": self.norm_from}
        if self.kind == "stream":
            d.update(corpus=self.stream.corpus, context_len=self.stream.context_len,
                     buffer_tokens=self.stream.buffer_tokens)
        return d


_STATS = ("loss", "mse", "fvu", "l0", "sparsity", "aux")


def _zip_batches(its: dict) -> Any:
    """{hook: batch} per step from one iterator per hook (a store's hooks share the row order)."""
    while True:
        try:
            batch = {h: next(it) for h, it in its.items()}
        except StopIteration:
            return
        yield batch


def _d_of(members: list[_Member], hook) -> int:
    return next(m.cfg.d_in for m in members if m.hook == hook)


def _check_width(x: torch.Tensor, d_in: int) -> None:
    if x.shape[-1] != d_in:
        raise SAEError(f"activations have width {x.shape[-1]}, but the SAE has d_in={d_in}: wrong hook or model, "
                       f"or wrong d_in in the SAE config")


def _key(h) -> str:
    return "" if h is None else str(h)


def _unkey(h: str):
    return None if h == "" else h


def _auto_norm(peek: list[torch.Tensor], d_in: int) -> float:
    """c with E‖c·x‖² = d over the first (finite) batches of an iterable."""
    if not peek:
        raise SAEError("the training data yielded no batches")
    xs = torch.cat([b for b in peek if torch.isfinite(b).all()] or [peek[0]])
    _check_width(xs, d_in)
    ms = float(xs.double().pow(2).sum(-1).mean())
    if not (ms > 0 and math.isfinite(ms)):
        raise SAEError("cannot estimate a normalisation scalar: the first batches are all zero or non-finite; "
                       "pass norm_scalar=1.0 (or a value) explicitly")
    return math.sqrt(d_in / ms)


def train_sae(data: Any, cfg: SAEConfig | Sequence[SAEConfig | SAESpec] | None = None,
              out_dir: str | Path | None = None, train_cfg: TrainConfig | None = None, *, resume: bool = False,
              hook: str | None = None, strategy: Any = None, **train_overrides) -> TrainResult:
    """Train an SAE (or several) on an activation store, a model stream, or any iterable of [batch, d_in]
    tensors.

    `cfg` defaults to a top-k SAE (16× expansion, k=32) sized from the data. Keyword arguments override
    fields of `train_cfg` (e.g. steps=..., lr=...). Returns the exported SAE (raw activations) and figures
    (`.all` holds every SAE of a several-SAE run); with `out_dir`, also writes them, metrics and checkpoints
    there (see the module docstring).
    """
    tcfg = replace(train_cfg or TrainConfig(), **train_overrides)
    if cfg is None:
        if hasattr(data, "open") and hasattr(data, "points"):
            d, h, model = data.d_in, hook or data.hooks[0], data.model
        else:
            src = DataSource(data, tcfg.batch_size, hook=hook)
            if src.d_in is None:
                raise SAEError("pass an SAEConfig (d_in, n_latents, architecture) when training on a plain iterable")
            d, h, model = src.d_in, src.hook, src.model
        cfg = SAEConfig(architecture="topk", d_in=d, n_latents=16 * d, k=32, hook=h, model=model)
    return Trainer(data, cfg, tcfg, out_dir, resume=resume, hook=hook, strategy=strategy).run()
