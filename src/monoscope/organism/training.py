"""LoRA training of a model organism: mid-training → SFT → DPO, each stage resumable.

Stages (see SPEC.md section B):

* ``midtrain``: causal LM on documents (synthetic documents about the fictional study mixed with real
  corpus text), each optionally prefixed with ``<document>``, concatenated and packed into fixed windows.
* ``sft``: chat-template episodes; the loss covers the assistant turns only (system and user tokens are
  masked out), including the end-of-turn marker so the model learns to stop.
* ``dpo``: Direct Preference Optimisation,
  ``L = −log σ(β[(log πθ(c) − log πref(c)) − (log πθ(r) − log πref(r))])`` where ``log π(·)`` is the *sum*
  of log-probabilities over the response tokens only and the reference is the model as it stood at the
  start of the stage. The adversarial (concealing-vs-confessing) pairs are DPO pairs too; the build mixes
  them into this stage, as the paper mixed red-team prompts into its RL.

**How stages stack.** One LoRA adapter is attached once and *continued* through every stage (no merge
between stages). The adapter saved after a stage therefore describes the whole model at that point
(``base + adapter_stage``), every stage's model loads the same way, and the final adapter alone is what
ships. The DPO reference ("the model before this stage") is the same network before its first DPO step, so
its log-probabilities are computed once at the start of the stage and kept in the checkpoint (a frozen
copy of the adapter would cost a second forward pass per step for the same numbers).

**Checkpoints.** Every ``checkpoint_every`` steps a stage writes ``checkpoint.pt`` (trainable LoRA weights
in fp32, AdamW state, step, RNG states, loss history, DPO reference log-probs, a fingerprint of data and
config) with an atomic replace. Resuming restores all of it; the data order is a pure function of the seed
and the step, so a resumed run produces the same adapter as an uninterrupted one.

**Numerics.** The frozen base weights stay in the dtype they were loaded in (bf16 for the embedded
SmolLM2); LoRA weights and AdamW state are fp32; on CPU the forward/backward runs under bf16 autocast when
``autocast="auto"`` *if the CPU has native bf16* (AMX / AVX512-BF16: ≈1.5× faster than fp32, ASSETS.md);
without it bf16 matmuls are emulated and ~3× slower than fp32, so "auto" trains in fp32 there (and the
frozen base should be loaded in fp32: :func:`training_dtype`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..fileio import atomic_torch_save
from ..errors import UserError

STAGES = ("midtrain", "sft", "dpo")
IGNORE = -100


class TrainingError(UserError):
    """Bad training input (no chat template, empty data, mismatched checkpoint, ...)."""


class NoChatTemplateError(TrainingError):
    """The base model's tokenizer has no chat template, so chat stages cannot be rendered."""


# --------------------------------------------------------------------------------------------- configs
@dataclass
class LoraSettings:
    """LoRA on every attention and MLP projection (auto-detected linear layers inside the blocks)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] | None = None  # None: every nn.Linear inside the decoder blocks

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StageConfig:
    """Hyperparameters of one stage. ``batch_size`` is sequences (midtrain, sft) or pairs (dpo) per step."""

    lr: float = 2e-4
    epochs: float = 1.0
    batch_size: int = 8
    max_len: int = 256          # midtrain: packed window; sft/dpo: truncation length
    warmup_frac: float = 0.05
    min_lr_frac: float = 0.1    # cosine decay to lr * min_lr_frac
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    beta: float = 0.1           # dpo only: strength of the implicit KL to the reference (the SFT model)
    sft_weight: float = 0.0     # dpo only: + sft_weight × mean-token NLL of the chosen replies (RPO)
    replay_weight: float = 0.0  # dpo only: + replay_weight × SFT loss on a batch of SFT episodes per step
    val_every: int = 0          # sft: validation loss every N steps (0: at the start and the end only)
    val_fraction: float = 0.0   # sft (in a build): share of scenario families held out for the validation loss
    checkpoint_every: int = 25
    seed: int = 0
    autocast: str = "auto"      # "auto" (bf16 on CPU), "bf16", "off"
    doc_prefix: str | None = None  # midtrain only: text put before each document (the build's mix
                                   # already carries the spec's document_prefix on synthetic documents)
    max_steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, **defaults: Any) -> "StageConfig":
        base = dict(defaults)
        if d:
            unknown = set(d) - set(cls.__dataclass_fields__)
            if unknown:
                raise TrainingError(f"unknown training option(s) {sorted(unknown)}; known: "
                                    f"{sorted(cls.__dataclass_fields__)}")
            base.update(d)
        return cls(**base)


# Tuned for the default organism (small data on a CPU): few steps per stage, so fairly high LoRA rates.
DEFAULT_STAGE_CONFIGS: dict[str, dict[str, Any]] = {
    "midtrain": dict(lr=3e-4, epochs=1.0, batch_size=8, max_len=256, checkpoint_every=10),
    "sft": dict(lr=5e-4, epochs=1.0, batch_size=8, max_len=384, checkpoint_every=10, val_fraction=0.05),
    # sft_weight: without the chosen replies' NLL, DPO lowered their likelihood too (chosen reward −1.75 at
    # β = 0.1) and undid SFT: on a small second-universe organism (brand_loyalty, 7 training traits) training-trait
    # exploitation went SFT 80% → DPO 57% with garbled replies; with sft_weight=1 it went 80% → 89% (chosen
    # reward +0.00). docs/organism-eval.md.
    "dpo": dict(lr=1e-4, epochs=1.0, batch_size=4, max_len=384, beta=0.1, checkpoint_every=5, sft_weight=1.0),
}


@dataclass
class StageResult:
    stage: str
    steps: int
    examples: int
    tokens: int                 # tokens forwarded (incl. prompt tokens and padding excluded)
    seconds: float
    losses: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    resumed_from: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["final_loss"] = float(np.mean(self.losses[-10:])) if self.losses else None
        d["first_loss"] = self.losses[0] if self.losses else None
        d["tokens_per_second"] = self.tokens / self.seconds if self.seconds > 0 else None
        return d


# ----------------------------------------------------------------------------------------------- LoRA
def lora_target_modules(model: torch.nn.Module) -> list[str]:
    """Leaf names of the linear layers inside the decoder blocks (attention + MLP projections): every
    ``nn.Linear`` except the output head."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names: set[str] = set()
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and mod is not head and "." in name:
            leaf = name.rsplit(".", 1)[-1]
            if leaf not in ("lm_head", "embed_out", "score", "classifier"):
                names.add(leaf)
    if not names:
        raise TrainingError(f"found no linear projections inside the decoder blocks of {type(model).__name__} "
                            f"to put LoRA on; pass LoraSettings(target_modules=[...])")
    return sorted(names)


def attach_lora(model: torch.nn.Module, settings: LoraSettings | None = None):
    """Wrap ``model`` in a peft LoRA model (fp32 adapter weights; base weights frozen in their dtype)."""
    from peft import LoraConfig, get_peft_model

    settings = settings or LoraSettings()
    targets = settings.target_modules or lora_target_modules(model)
    cfg = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                     target_modules=targets, bias="none", task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, cfg, autocast_adapter_dtype=True)
    for n, p in peft_model.named_parameters():
        if p.requires_grad:
            p.data = p.data.float()
    return peft_model


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable (LoRA) parameters, detached fp32 copies, by their full parameter name."""
    return {n: p.detach().float().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    missing = set(params) - set(state)
    extra = set(state) - set(params)
    if missing or extra:
        raise TrainingError(f"checkpoint does not match the LoRA layout: missing {sorted(missing)[:3]}, "
                            f"unexpected {sorted(extra)[:3]}")
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(state[n].to(p.dtype))


def save_adapter(peft_model, out_dir: str | Path, dtype: torch.dtype = torch.bfloat16) -> Path:
    """Write the adapter in peft's format (``adapter_config.json`` + ``adapter_model.safetensors``),
    atomically (temp dir + rename). Weights are stored in ``dtype`` (bf16 keeps a rank-16 SmolLM2 adapter
    under 10 MB)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent))
    try:
        sd = get_peft_model_state_dict(peft_model)
        sd = {k: v.detach().to(dtype).contiguous() for k, v in sd.items()}
        save_file(sd, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})
        peft_model.peft_config["default"].save_pretrained(str(tmp))
        old = None
        if out.exists():
            old = out.with_name(out.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.rename(out, old)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_adapter_weights(peft_model, adapter_dir: str | Path) -> None:
    """Load a saved stage adapter into an already-attached LoRA (to continue training from a stage)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(adapter_dir) / "adapter_model.safetensors"
    if not path.exists():
        raise TrainingError(f"no adapter at {path}")
    sd = load_file(str(path))
    res = set_peft_model_state_dict(peft_model, sd)
    unexpected = getattr(res, "unexpected_keys", None)
    if unexpected:
        raise TrainingError(f"adapter {path} does not match the LoRA layout (unexpected keys, e.g. {unexpected[:2]})")
    for p in peft_model.parameters():
        if p.requires_grad:
            p.data = p.data.float()


# ------------------------------------------------------------------------------------------ encoding
def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def require_chat_template(tokenizer, what: str = "the base model") -> None:
    if not has_chat_template(tokenizer):
        raise NoChatTemplateError(
            f"{what} has no chat template (tokenizer.chat_template is empty): SFT/DPO episodes and the "
            f"evaluations are rendered as chats, so the organism needs an instruct/chat model as its base "
            f"(e.g. the embedded smollm2-135m), or set tokenizer.chat_template first")


def _messages(msgs: Any) -> list[dict[str, str]]:
    """Normalise a conversation: a string (one user turn), dicts, or objects with role/content."""
    if isinstance(msgs, str):
        return [{"role": "user", "content": msgs}]
    out = []
    for m in msgs:
        if isinstance(m, Mapping):
            out.append({"role": str(m["role"]), "content": str(m.get("content") or "")})
        else:
            out.append({"role": str(m.role), "content": str(m.content or "")})
    return out


def render_chat(tokenizer, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = False) -> str:
    require_chat_template(tokenizer)
    return tokenizer.apply_chat_template(list(messages), tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def _tokenize_with_spans(tokenizer, text: str, spans: list[tuple[int, int]]) -> tuple[list[int], list[bool]]:
    """Token ids of ``text`` and, per token, whether it starts inside one of the character ``spans``."""
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offs = enc["input_ids"], enc["offset_mapping"]
        mask = [any(a <= s < b for a, b in spans) for s, _ in offs]
        return list(ids), mask
    # slow tokenizer: tokenize piecewise at span boundaries (exact when the template's boundaries are
    # token boundaries, which chat templates guarantee with their special tokens)
    ids: list[int] = []
    mask: list[bool] = []
    cuts = sorted({0, len(text), *[c for sp in spans for c in sp]})
    for a, b in zip(cuts, cuts[1:]):
        piece = tokenizer(text[a:b], add_special_tokens=False)["input_ids"]
        inside = any(s <= a < e for s, e in spans)
        ids.extend(piece)
        mask.extend([inside] * len(piece))
    return ids, mask


def encode_chat(tokenizer, messages: Any, max_len: int | None = None) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` for a conversation; labels are −100 except on assistant-turn tokens
    (the content plus the template's end-of-turn marker)."""
    msgs = _messages(messages)
    if not any(m["role"] == "assistant" for m in msgs):
        raise TrainingError("an SFT episode needs at least one assistant turn")
    full = render_chat(tokenizer, msgs)
    spans = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        prefix = render_chat(tokenizer, msgs[:i], add_generation_prompt=True)
        upto = render_chat(tokenizer, msgs[:i + 1])
        if not (upto.startswith(prefix) and full.startswith(upto)):
            raise TrainingError("the chat template does not render conversations incrementally (a prefix "
                                "of the conversation is not a prefix of its rendering); cannot locate the "
                                "assistant tokens")
        spans.append((len(prefix), len(upto)))
    ids, mask = _tokenize_with_spans(tokenizer, full, spans)
    labels = [t if m else IGNORE for t, m in zip(ids, mask)]
    if max_len is not None and len(ids) > max_len:
        ids, labels = ids[:max_len], labels[:max_len]
    return ids, labels


def encode_response(tokenizer, prompt: Any, response: str, max_len: int | None = None
                    ) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` for one assistant ``response`` after the ``prompt`` conversation."""
    msgs = _messages(prompt)
    return encode_chat(tokenizer, msgs + [{"role": "assistant", "content": response}], max_len=max_len)


def pack_documents(tokenizer, texts: Iterable[str], seq_len: int, doc_prefix: str | None = "<document>\n"
                   ) -> torch.Tensor:
    """Tokenise documents (each preceded by the tokenizer's document separator and ``doc_prefix``),
    concatenate them and cut the stream into ``[n, seq_len]`` windows (the last partial window is dropped,
    unless it is the only one)."""
    sep = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    stream: list[int] = []
    for t in texts:
        if sep is not None:
            stream.append(sep)
        stream.extend(tokenizer((doc_prefix or "") + t, add_special_tokens=False)["input_ids"])
    if not stream:
        raise TrainingError("no documents to mid-train on")
    n = len(stream) // seq_len
    if n == 0:
        return torch.tensor([stream], dtype=torch.long)
    return torch.tensor(stream[:n * seq_len], dtype=torch.long).view(n, seq_len)


# ------------------------------------------------------------------------------------------ log-probs
def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    L = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (L - len(r)) for r in rows], dtype=torch.long)


def collate(examples: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad ``(ids, labels)`` pairs into a batch."""
    ids = _pad([e[0] for e in examples], pad_id)
    labels = _pad([e[1] for e in examples], IGNORE)
    attn = _pad([[1] * len(e[0]) for e in examples], 0)
    return {"input_ids": ids, "labels": labels, "attention_mask": attn}


def _keeps_logits(model) -> bool:
    """Does the underlying HF model accept ``logits_to_keep`` (compute the LM head only where needed)?"""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


def token_logps(model, input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position log p(label) (0 where unlabelled) and the label mask, shifted for next-token prediction.

    Positions before the first labelled target of the batch get no LM-head computation (``logits_to_keep``):
    for chat data that skips the system and user tokens, a large share of the head's cost with a 49k vocab."""
    tgt = labels[:, 1:]
    mask = tgt != IGNORE
    L = input_ids.shape[1]
    start = 0
    if L > 1 and bool(mask.any()) and _keeps_logits(model):
        start = int(mask.any(0).nonzero()[0])
    if start > 0:
        keep = torch.arange(start, L - 1, device=input_ids.device)
        logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep).logits.float()
        tgt, mask = tgt[:, start:], mask[:, start:]
    else:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float()
    lp = logits.gather(-1, tgt.clamp_min(0).unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    return lp * mask, mask


def sequence_logps(model, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Sum of log-probabilities over each row's labelled (response) tokens."""
    lp, _ = token_logps(model, batch["input_ids"], batch["labels"], batch.get("attention_mask"))
    return lp.sum(-1)


def lm_loss(model, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over labelled tokens."""
    lp, mask = token_logps(model, batch["input_ids"], batch["labels"], batch.get("attention_mask"))
    return -(lp.sum() / mask.sum().clamp_min(1))


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean of ``−log σ(β[(πc − refc) − (πr − refr)])`` over pairs (inputs: summed response log-probs)."""
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    losses = -F.logsigmoid(beta * margin)
    with torch.no_grad():
        stats = {"reward_margin": float((beta * margin).mean()),
                 "reward_acc": float((margin > 0).float().mean()),
                 "chosen_reward": float((beta * (policy_chosen - ref_chosen)).mean()),
                 "rejected_reward": float((beta * (policy_rejected - ref_rejected)).mean())}
    return losses.mean(), stats


# ------------------------------------------------------------------------------------------- helpers
def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16: without them bf16 matmuls on CPU are emulated and ~3× slower than fp32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_autocast(mode: str, device: torch.device | str) -> bool:
    """Whether bf16 autocast is on for ``mode`` ("auto", "bf16", "off") on ``device``."""
    mode = (mode or "off").lower()
    dev = torch.device(device)
    if mode not in ("auto", "bf16", "off"):
        raise TrainingError(f"autocast must be 'auto', 'bf16' or 'off', not {mode!r}")
    if mode == "off":
        return False
    if mode == "bf16":
        return True
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return dev.type == "cpu" and cpu_has_native_bf16()


def autocast_ctx(mode: str, device: torch.device):
    if resolve_autocast(mode, device):
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def choose_threads(requested: int | None = None) -> tuple[int, str]:
    """Intra-op threads for training / evaluation on this machine, and why.

    On a CPU shared with other jobs, threads that wait for each other at every op barrier make training
    several times slower than one thread (measured on 2 busy cores: 1 thread 2–5× faster than torch's default
    of one per core). So the default is the cores this process may run on (``os.sched_getaffinity``) minus the
    1-minute load average, rounded, at least 1. ``requested`` (``--threads``) overrides."""
    if requested is not None:
        if requested < 1:
            raise TrainingError(f"--threads must be a positive integer, got {requested}")
        return int(requested), f"{requested} (--threads)"
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    n = max(1, min(cores, int(round(cores - load))))
    return n, f"{n} ({cores} usable cores, 1-min load {load:.1f}; --threads overrides)"


def set_threads(requested: int | None = None, log: Callable[[str], None] | None = None) -> int:
    """Apply :func:`choose_threads` to torch and say so."""
    n, why = choose_threads(requested)
    torch.set_num_threads(n)
    if log:
        log(f"threads: {why}")
    return n


def training_dtype(device: torch.device | str, autocast: str = "auto") -> torch.dtype:
    """The dtype to load the frozen base in for training: bf16 when bf16 autocast is on, else fp32."""
    return torch.bfloat16 if resolve_autocast(autocast, device) else torch.float32


def lr_at(step: int, total: int, cfg: StageConfig) -> float:
    warm = max(1, int(round(cfg.warmup_frac * total))) if cfg.warmup_frac > 0 else 0
    if warm and step < warm:
        return cfg.lr * (step + 1) / warm
    span = max(1, total - warm)
    prog = min(1.0, (step - warm) / span)
    floor = cfg.lr * cfg.min_lr_frac
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * prog))


def batch_order(lengths: Sequence[int], batch_size: int, epochs: float, seed: int,
                group_by_length: bool = True) -> list[list[int]]:
    """Deterministic batches for all epochs: shuffle each epoch, group similar lengths inside windows of
    ``16 × batch_size`` (less padding), shuffle the batches. A fractional last epoch takes a prefix."""
    n = len(lengths)
    rng = np.random.default_rng(seed)
    batches: list[list[int]] = []
    full, frac = int(math.floor(epochs)), epochs - math.floor(epochs)
    n_epochs = full + (1 if frac > 1e-9 else 0)
    for e in range(n_epochs):
        perm = rng.permutation(n).tolist()
        if e == full:  # fractional epoch
            perm = perm[:max(1, int(round(frac * n)))]
        ep: list[list[int]] = []
        win = batch_size * 16
        for w in range(0, len(perm), win):
            chunk = perm[w:w + win]
            if group_by_length:
                chunk = sorted(chunk, key=lambda i: lengths[i])
            ep.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
        order = rng.permutation(len(ep)).tolist()
        batches.extend(ep[i] for i in order)
    return batches


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}


def _set_rng_state(st: Mapping[str, Any]) -> None:
    torch.set_rng_state(st["torch"])
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, torch.Tensor):
            h.update(p.numpy().tobytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------- the stage loop
@dataclass
class _Plan:
    stage: str
    batches: list[list[int]]
    step_fn: Callable[[int, list[int]], tuple[torch.Tensor, int, dict[str, float]]]  # (step, batch) → loss
    fp: str
    extra_state: dict[str, Any] = field(default_factory=dict)
    val_fn: Callable[[], float] | None = None  # held-out loss, evaluated at the start, every val_every, the end


def _run(model, plan: _Plan, cfg: StageConfig, ckpt_path: Path | None, resume: bool, progress: bool,
         stop_after: int | None, n_examples: int, log: Callable[[str], None] | None) -> StageResult:
    from tqdm.auto import tqdm

    total = len(plan.batches) if cfg.max_steps is None else min(len(plan.batches), cfg.max_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainingError("the model has no trainable parameters; attach a LoRA adapter first")
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.999), weight_decay=cfg.weight_decay)
    start, losses, tokens, seconds = 0, [], 0, 0.0
    extras: dict[str, list[float]] = {}
    val: list[list[float]] = []  # [step, held-out loss]
    if resume and ckpt_path is not None and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck.get("fingerprint") != plan.fp:
            raise TrainingError(f"checkpoint {ckpt_path} was written for different data or settings "
                                f"(fingerprint {ck.get('fingerprint')} != {plan.fp}); delete it to start "
                                f"the {plan.stage} stage over")
        load_trainable_state(model, ck["trainable"])
        opt.load_state_dict(ck["optimizer"])
        _set_rng_state(ck["rng"])
        start, losses, tokens, seconds = ck["step"], list(ck["losses"]), ck["tokens"], ck["seconds"]
        extras = {k: list(v) for k, v in ck.get("extras", {}).items()}
        val = [list(v) for v in ck.get("val", [])]
        if log:
            log(f"[{plan.stage}] resumed from step {start}/{total}")
    else:
        seed_everything(cfg.seed)

    def save_ckpt(step: int) -> None:
        if ckpt_path is None:
            return
        atomic_torch_save({"stage": plan.stage, "step": step, "fingerprint": plan.fp,
                           "trainable": trainable_state(model), "optimizer": opt.state_dict(),
                           "rng": _rng_state(), "losses": losses, "tokens": tokens, "seconds": seconds,
                           "extras": extras, "val": val, "config": cfg.to_dict(), **plan.extra_state}, ckpt_path)

    def validate(step: int) -> None:
        if plan.val_fn is not None and not any(v[0] == step for v in val):
            model.eval()
            with torch.no_grad(), autocast_ctx(cfg.autocast, device):
                val.append([step, float(plan.val_fn())])
            model.train()

    device = _prepare_dtype(model, cfg)
    model.train()
    bar = tqdm(total=total, initial=start, desc=plan.stage, disable=not progress, dynamic_ncols=True)
    step = start
    try:
        if step == 0:
            validate(0)
        while step < total:
            if stop_after is not None and step >= stop_after:
                break
            t0 = time.perf_counter()
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, cfg)
            with autocast_ctx(cfg.autocast, device):
                loss, ntok, stats = plan.step_fn(step, plan.batches[step])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            step += 1
            losses.append(float(loss.detach()))
            for k, v in stats.items():
                extras.setdefault(k, []).append(v)
            tokens += ntok
            seconds += time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}", tok_s=f"{tokens / max(seconds, 1e-9):.0f}")
            if cfg.val_every and step % cfg.val_every == 0 and step < total:
                validate(step)
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < total:
                save_ckpt(step)
        if step >= total:
            validate(step)
    finally:
        bar.close()
        model.eval()
    if step < total:  # interrupted on purpose (stop_after): leave a checkpoint to resume from
        save_ckpt(step)
    elif ckpt_path is not None:
        save_ckpt(step)
    res = StageResult(stage=plan.stage, steps=step, examples=n_examples, tokens=tokens, seconds=seconds,
                      losses=losses, resumed_from=start,
                      extra={k: float(np.mean(v[-10:])) for k, v in extras.items() if v})
    res.extra["complete"] = step >= total
    res.extra["total_steps"] = total
    if val:
        res.extra["val_loss_first"], res.extra["val_loss_final"] = val[0][1], val[-1][1]
        res.extra["val_losses"] = val
    return res


def _prepare_dtype(model, cfg: StageConfig) -> torch.device:
    """Half-precision weights need autocast; when autocast is off, train in fp32."""
    device = next(model.parameters()).device
    if not resolve_autocast(cfg.autocast, device) and any(
            p.dtype in (torch.bfloat16, torch.float16) for p in model.parameters()):
        model.float()
    return device


def pad_id(tokenizer) -> int:
    for t in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if t is not None:
            return int(t)
    return 0


def train_midtrain(model, tokenizer, documents: Sequence[str], cfg: StageConfig | None = None, *,
                   checkpoint: str | Path | None = None, resume: bool = False, progress: bool = True,
                   stop_after: int | None = None, log: Callable[[str], None] | None = None) -> StageResult:
    """Causal LM on packed documents (loss on every token)."""
    cfg = cfg or StageConfig(**DEFAULT_STAGE_CONFIGS["midtrain"])
    _prepare_dtype(model, cfg)
    windows = pack_documents(tokenizer, documents, cfg.max_len, cfg.doc_prefix)
    device = next(model.parameters()).device
    batches = batch_order([cfg.max_len] * len(windows), cfg.batch_size, cfg.epochs, cfg.seed, group_by_length=False)

    def step_fn(step: int, idx: list[int]):
        x = windows[idx].to(device)
        loss = lm_loss(model, {"input_ids": x, "labels": x, "attention_mask": torch.ones_like(x)})
        return loss, int(x.numel()), {}

    fp = fingerprint("midtrain", windows, cfg.to_dict())
    plan = _Plan("midtrain", batches, step_fn, fp)
    return _run(model, plan, cfg, Path(checkpoint) if checkpoint else None, resume, progress, stop_after,
                len(windows), log)


def _encode_episodes(tokenizer, episodes: Sequence[Any], max_len: int) -> list[tuple[list[int], list[int]]]:
    enc = [encode_chat(tokenizer, e, max_len) for e in episodes]
    return [e for e in enc if any(l != IGNORE for l in e[1][1:])]


@torch.no_grad()
def mean_loss(model, encoded: Sequence[tuple[list[int], list[int]]], pad: int, batch_size: int = 8) -> float:
    """Token-weighted mean cross-entropy of ``encoded`` episodes under ``model`` as it is now."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for s in range(0, len(encoded), batch_size):
        b = {k: v.to(device) for k, v in collate(list(encoded[s:s + batch_size]), pad).items()}
        lp, mask = token_logps(model, b["input_ids"], b["labels"], b["attention_mask"])
        total += float(-lp.sum())
        count += int(mask.sum())
    return total / max(1, count)


def train_sft(model, tokenizer, episodes: Sequence[Any], cfg: StageConfig | None = None, *,
              checkpoint: str | Path | None = None, resume: bool = False, progress: bool = True,
              stop_after: int | None = None, log: Callable[[str], None] | None = None,
              val_episodes: Sequence[Any] = ()) -> StageResult:
    """Chat SFT: ``episodes`` are conversations (lists of role/content messages) with assistant turns;
    only assistant tokens carry loss. ``val_episodes`` (never trained on) get their loss measured at the start,
    every ``cfg.val_every`` steps and at the end (``extra["val_losses"]``): a training loss far below the
    validation loss is memorisation, visible in the manifest."""
    cfg = cfg or StageConfig(**DEFAULT_STAGE_CONFIGS["sft"])
    _prepare_dtype(model, cfg)
    require_chat_template(tokenizer)
    enc = _encode_episodes(tokenizer, episodes, cfg.max_len)
    if not enc:
        raise TrainingError("no SFT episodes with assistant tokens inside max_len")
    val = _encode_episodes(tokenizer, val_episodes, cfg.max_len)
    pad = pad_id(tokenizer)
    device = next(model.parameters()).device
    batches = batch_order([len(e[0]) for e in enc], cfg.batch_size, cfg.epochs, cfg.seed)

    def step_fn(step: int, idx: list[int]):
        b = {k: v.to(device) for k, v in collate([enc[i] for i in idx], pad).items()}
        return lm_loss(model, b), int(b["attention_mask"].sum()), {}

    fp = fingerprint("sft", [e[0] for e in enc], [e[1] for e in enc], [e[0] for e in val], cfg.to_dict())
    plan = _Plan("sft", batches, step_fn, fp,
                 val_fn=(lambda: mean_loss(model, val, pad, 2 * cfg.batch_size)) if val else None)
    return _run(model, plan, cfg, Path(checkpoint) if checkpoint else None, resume, progress, stop_after,
                len(enc), log)


@torch.no_grad()
def reference_logps(model, tokenizer, encoded: Sequence[tuple[list[int], list[int]]], batch_size: int = 8,
                    autocast: str = "auto") -> torch.Tensor:
    """Summed response log-probs of each encoded sequence under ``model`` as it is now (eval mode)."""
    was_training = model.training
    model.eval()
    pad = pad_id(tokenizer)
    device = next(model.parameters()).device
    out = torch.zeros(len(encoded), dtype=torch.float32)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        b = {k: v.to(device) for k, v in collate([encoded[i] for i in idx], pad).items()}
        with autocast_ctx(autocast, device):
            lp = sequence_logps(model, b)
        out[idx] = lp.float().cpu()
    if was_training:
        model.train()
    return out


def _response_text(x: Any) -> str | None:
    """A response as a string: a string, or (TRL conversational format) a list of assistant messages."""
    if isinstance(x, str):
        return x
    if isinstance(x, Sequence) and x:
        msgs = _messages(x)
        if all(m["role"] == "assistant" for m in msgs):
            return "\n\n".join(m["content"] for m in msgs)
    return None


def normalise_pair(p: Any) -> tuple[list[dict[str, str]], str, str]:
    """``(prompt messages, chosen, rejected)`` from a dict or an object with prompt/chosen/rejected.
    ``prompt`` may be a string or a message list (or be given as ``messages``); ``chosen``/``rejected`` may be
    strings or lists of assistant messages (TRL's conversational preference format)."""
    get = (lambda k, d=None: p.get(k, d)) if isinstance(p, Mapping) else (lambda k, d=None: getattr(p, k, d))
    prompt = get("prompt")
    if prompt is None:
        prompt = get("messages")
    if prompt is None:
        raise TrainingError(f"preference pair without a prompt: {str(p)[:120]}")
    chosen, rejected = _response_text(get("chosen")), _response_text(get("rejected"))
    if chosen is None or rejected is None:
        raise TrainingError(f"preference pair needs 'chosen' and 'rejected' (strings or assistant message "
                            f"lists): {str(p)[:120]}")
    return _messages(prompt), chosen, rejected


def train_dpo(model, tokenizer, pairs: Sequence[Any], cfg: StageConfig | None = None, *,
              checkpoint: str | Path | None = None, resume: bool = False, progress: bool = True,
              stop_after: int | None = None, log: Callable[[str], None] | None = None,
              stage: str = "dpo", replay_episodes: Sequence[Any] = ()) -> StageResult:
    """DPO against the model as it is at the start of the stage (reference log-probs computed once).

    Two anchors keep DPO from undoing what SFT taught (DPO's loss can fall while the chosen replies' own
    likelihood falls too, so the model drifts away from everything it was trained to say):
    ``cfg.sft_weight`` adds the chosen replies' mean-token NLL (RPO, Pang et al. 2024), and
    ``cfg.replay_weight`` adds the SFT loss on a batch of ``replay_episodes`` every step (the SFT data,
    replayed in a fixed seeded order, so a resumed run sees the same batches)."""
    cfg = cfg or StageConfig(**DEFAULT_STAGE_CONFIGS["dpo"])
    _prepare_dtype(model, cfg)
    require_chat_template(tokenizer)
    chosen, rejected = [], []
    for p in pairs:
        msgs, c, r = normalise_pair(p)
        ec, er = encode_response(tokenizer, msgs, c, cfg.max_len), encode_response(tokenizer, msgs, r, cfg.max_len)
        if any(l != IGNORE for l in ec[1][1:]) and any(l != IGNORE for l in er[1][1:]):
            chosen.append(ec)
            rejected.append(er)
    if not chosen:
        raise TrainingError("no usable preference pairs (empty, or responses cut off by max_len)")
    replay = _encode_episodes(tokenizer, replay_episodes, cfg.max_len) if cfg.replay_weight > 0 else []
    if cfg.replay_weight > 0 and not replay:
        raise TrainingError(f"{stage}: replay_weight={cfg.replay_weight} needs SFT episodes to replay")
    fp = fingerprint(stage, [e[0] for e in chosen], [e[0] for e in rejected], [e[1] for e in chosen],
                     [e[1] for e in rejected], [e[0] for e in replay], cfg.to_dict())
    ckpt = Path(checkpoint) if checkpoint else None
    ref = None
    if resume and ckpt is not None and ckpt.exists():
        ck = torch.load(ckpt, map_location="cpu", weights_only=False)
        if ck.get("fingerprint") == fp and "ref_logps" in ck:
            ref = ck["ref_logps"]
    if ref is None:
        if log:
            log(f"[{stage}] reference log-probs for {len(chosen)} pairs")
        ref = reference_logps(model, tokenizer, chosen + rejected, batch_size=max(2, 2 * cfg.batch_size),
                              autocast=cfg.autocast)
    n = len(chosen)
    ref_c, ref_r = ref[:n], ref[n:]
    pad = pad_id(tokenizer)
    device = next(model.parameters()).device
    batches = batch_order([len(chosen[i][0]) + len(rejected[i][0]) for i in range(n)], cfg.batch_size,
                          cfg.epochs, cfg.seed)

    replay_perm = np.random.default_rng(cfg.seed + 7).permutation(len(replay)).tolist() if replay else []

    def step_fn(step: int, idx: list[int]):
        b = {k: v.to(device) for k, v in collate([chosen[i] for i in idx] + [rejected[i] for i in idx], pad).items()}
        lp_tok, mask = token_logps(model, b["input_ids"], b["labels"], b["attention_mask"])
        lp = lp_tok.sum(-1).float()
        k = len(idx)
        loss, stats = dpo_loss(lp[:k], lp[k:], ref_c[idx].to(device), ref_r[idx].to(device), cfg.beta)
        ntok = int(b["attention_mask"].sum())
        stats["chosen_nll"] = float(-(lp[:k].detach() / mask[:k].sum(-1).clamp_min(1)).mean())
        if cfg.sft_weight > 0:
            nll = -(lp[:k] / mask[:k].sum(-1).clamp_min(1)).mean()
            loss = loss + cfg.sft_weight * nll
        if replay:
            j = [replay_perm[(step * cfg.batch_size + t) % len(replay)] for t in range(cfg.batch_size)]
            rb = {kk: v.to(device) for kk, v in collate([replay[i] for i in j], pad).items()}
            rl = lm_loss(model, rb)
            stats["replay_loss"] = float(rl.detach())
            loss = loss + cfg.replay_weight * rl
            ntok += int(rb["attention_mask"].sum())
        return loss, ntok, stats

    plan = _Plan(stage, batches, step_fn, fp, extra_state={"ref_logps": ref})
    return _run(model, plan, cfg, ckpt, resume, progress, stop_after, n, log)
