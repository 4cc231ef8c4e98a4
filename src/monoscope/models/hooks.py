"""Uniform hook-point names over Hugging Face architectures.

Every later stage (harvest, SAE splicing, steering, attribution) speaks in one vocabulary of sites,
`resid_pre.L`, `resid_post.L`, `attn_out.L` and `mlp_out.L`, whatever the model family calls its
modules. This module maps those names onto real `torch.nn.Module` hooks, so a site can be read
(`capture`) or rewritten (`intervene`) without the caller knowing the architecture.

`attn_out.L` / `mlp_out.L` are the tensors the block *adds to the residual stream* (so for Gemma they are
taken after the post-attention / post-feed-forward norms, and for BERT before the post-LN).
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch
from torch import nn
from ..errors import UserError

SITE_KINDS = ("resid_pre", "attn_out", "mlp_out", "resid_post")  # execution order inside one layer
_POINT_RE = re.compile(r"^(resid_pre|resid_post|attn_out|mlp_out)\.(\d+)$")

# Per-family sub-module paths (relative to one layer) whose *output* is the attn/mlp contribution.
_FAMILY_SITES: dict[str, tuple[str, str]] = {
    "llama": ("self_attn", "mlp"),
    "mistral": ("self_attn", "mlp"),
    "qwen2": ("self_attn", "mlp"),
    "qwen3": ("self_attn", "mlp"),
    "phi3": ("self_attn", "mlp"),
    "olmo2": ("post_attention_layernorm", "post_feedforward_layernorm"),
    "gemma": ("self_attn", "mlp"),
    "gemma2": ("post_attention_layernorm", "post_feedforward_layernorm"),
    "gemma3": ("post_attention_layernorm", "post_feedforward_layernorm"),
    "gemma3_text": ("post_attention_layernorm", "post_feedforward_layernorm"),
    "gpt2": ("attn", "mlp"),
    "gpt_neox": ("attention", "mlp"),
    "gptj": ("attn", "mlp"),
    "bert": ("attention.output.dense", "output.dense"),
    "roberta": ("attention.output.dense", "output.dense"),
}
_GENERIC_ATTN = ("self_attn", "attn", "attention", "self_attention")
_GENERIC_MLP = ("mlp", "feed_forward", "ffn")


class HookPointError(UserError):
    """A hook-point name that does not exist on this model."""


class StopForward(Exception):
    """Raised inside a hook to end a forward pass early, once every requested site has been seen."""


@dataclass(frozen=True, order=True)
class HookPoint:
    layer: int
    kind_rank: int
    kind: str

    @property
    def name(self) -> str:
        return f"{self.kind}.{self.layer}"

    def __str__(self) -> str:
        return self.name


def _first_output(out):
    return out[0] if isinstance(out, tuple) else out


def _get_submodule(root: nn.Module, path: str) -> nn.Module | None:
    mod = root
    for part in path.split("."):
        mod = getattr(mod, part, None)
        if mod is None:
            return None
    return mod


def find_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The ModuleList of transformer blocks: the one whose length is the config's layer count."""
    cfg = getattr(model, "config", None)
    text_cfg = cfg.get_text_config() if cfg is not None and hasattr(cfg, "get_text_config") else cfg
    n_layers = getattr(text_cfg, "num_hidden_layers", None) or getattr(text_cfg, "n_layer", None)
    candidates = [(name, mod) for name, mod in model.named_modules() if isinstance(mod, nn.ModuleList)]
    for name, mod in candidates:
        if n_layers is not None and len(mod) == n_layers and name.split(".")[-1] in ("layers", "h", "layer", "blocks"):
            return name, mod
    for name, mod in candidates:
        if n_layers is not None and len(mod) == n_layers:
            return name, mod
    raise HookPointError(
        f"could not find the transformer blocks of {type(model).__name__}: no nn.ModuleList of length "
        f"{n_layers} (config.num_hidden_layers)")


class HookedModel:
    """Reads and rewrites named sites of a Hugging Face model through forward hooks."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.layers_path, self.layers = find_layers(model)
        self.n_layers = len(self.layers)
        cfg = model.config
        text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        self.model_type = getattr(text_cfg, "model_type", getattr(cfg, "model_type", ""))
        self.d_model = int(getattr(text_cfg, "hidden_size", None) or getattr(text_cfg, "n_embd"))
        self._attn_path, self._mlp_path = self._resolve_site_paths()

    # ---- names -------------------------------------------------------------------------------------
    def _resolve_site_paths(self) -> tuple[str, str]:
        layer0 = self.layers[0]
        if self.model_type in _FAMILY_SITES:
            attn, mlp = _FAMILY_SITES[self.model_type]
            if _get_submodule(layer0, attn) is not None and _get_submodule(layer0, mlp) is not None:
                return attn, mlp
        if hasattr(layer0, "post_feedforward_layernorm") and hasattr(layer0, "post_attention_layernorm"):
            return "post_attention_layernorm", "post_feedforward_layernorm"
        attn = next((p for p in _GENERIC_ATTN if _get_submodule(layer0, p) is not None), None)
        mlp = next((p for p in _GENERIC_MLP if _get_submodule(layer0, p) is not None), None)
        if attn is None or mlp is None:
            raise HookPointError(
                f"unsupported block layout {type(layer0).__name__} (model_type={self.model_type!r}): "
                f"found no attention ({_GENERIC_ATTN}) or MLP ({_GENERIC_MLP}) sub-module")
        return attn, mlp

    @property
    def points(self) -> list[str]:
        return [f"{k}.{layer}" for layer in range(self.n_layers) for k in SITE_KINDS]

    def parse(self, name: str) -> HookPoint:
        m = _POINT_RE.match(name.strip())
        if m is None or int(m.group(2)) >= self.n_layers:
            raise HookPointError(
                f"unknown hook point {name!r} for {self.model_type} with {self.n_layers} layers; valid points are "
                f"{', '.join(SITE_KINDS)} followed by .L for L in 0..{self.n_layers - 1} "
                f"(e.g. resid_post.{self.n_layers // 2}); all: {', '.join(self.points)}")
        kind = m.group(1)
        return HookPoint(int(m.group(2)), SITE_KINDS.index(kind), kind)

    def parse_many(self, names: Iterable[str] | str) -> list[HookPoint]:
        if isinstance(names, str):
            names = [n for n in names.split(",") if n.strip()]
        pts = sorted({self.parse(n) for n in names})
        if not pts:
            raise HookPointError(f"no hook points given; valid points: {', '.join(self.points)}")
        return pts

    def middle(self, kind: str = "resid_post") -> str:
        return f"{kind}.{self.n_layers // 2}"

    # ---- hooks -------------------------------------------------------------------------------------
    def _module_and_kind(self, pt: HookPoint) -> tuple[nn.Module, str]:
        layer = self.layers[pt.layer]
        if pt.kind == "resid_pre":
            return layer, "pre"
        if pt.kind == "resid_post":
            return layer, "post"
        return _get_submodule(layer, self._attn_path if pt.kind == "attn_out" else self._mlp_path), "post"

    def _register(self, pt: HookPoint, fn: Callable[[torch.Tensor], torch.Tensor | None]):
        """Register `fn(x) -> x' | None` at a site; a returned tensor replaces the site's value."""
        module, where = self._module_and_kind(pt)
        if where == "pre":
            def pre_hook(mod, args, kwargs):
                if args:
                    new = fn(args[0])
                    return None if new is None else ((new, *args[1:]), kwargs)
                new = fn(kwargs["hidden_states"])
                return None if new is None else (args, {**kwargs, "hidden_states": new})
            return module.register_forward_pre_hook(pre_hook, with_kwargs=True)

        def post_hook(mod, args, out):
            new = fn(_first_output(out))
            if new is None:
                return None
            return (new, *out[1:]) if isinstance(out, tuple) else new
        return module.register_forward_hook(post_hook)

    @contextlib.contextmanager
    def hooks(self, fns: dict[str, Callable[[torch.Tensor], torch.Tensor | None]]) -> Iterator[None]:
        parsed = [(self.parse(name), fn) for name, fn in fns.items()]  # all names checked before any hook
        handles = [self._register(pt, fn) for pt, fn in parsed]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    @contextlib.contextmanager
    def capture(self, names: Iterable[str] | str, stop: bool = False,
                detach: bool = True) -> Iterator[dict[str, torch.Tensor]]:
        """Record the listed sites into the yielded dict.

        With `stop=True` the forward is cut right after the deepest site (harvesting does not pay for
        layers it will never read); the resulting `StopForward` is swallowed by this context manager.
        """
        pts = self.parse_many(names)
        deepest = pts[-1]
        cache: dict[str, torch.Tensor] = {}

        def make(pt: HookPoint):
            def fn(x: torch.Tensor):
                cache[pt.name] = x.detach() if detach else x
                if stop and pt == deepest and len(cache) == len(pts):
                    raise StopForward
                return None
            return fn

        try:
            with self.hooks({pt.name: make(pt) for pt in pts}):
                yield cache
        except StopForward:
            pass

    def run_to(self, names: Iterable[str] | str, **inputs) -> dict[str, torch.Tensor]:
        """One forward (no grad) that stops after the deepest requested site and returns the sites."""
        with torch.no_grad(), self.capture(names, stop=True) as cache:
            extra = {"use_cache": False} if _is_generative(self.model) else {}
            self.model(**inputs, **extra)
        return cache


def _is_generative(model: nn.Module) -> bool:
    can = getattr(model, "can_generate", None)
    return bool(can()) if callable(can) else False
