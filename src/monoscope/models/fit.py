"""Does an SAE (or any dictionary with `W_dec` and a `cfg`) fit a model: its hook point, width and model name.
Every stage that splices, scans or evaluates an SAE on a model asks this, so it lives with the models."""
from __future__ import annotations

from ..errors import UserError
from .loading import LoadedModel


class SpliceError(UserError):
    """An SAE that does not fit the model (other width, other layer, unknown hook)."""


def sae_hook(sae) -> str:
    cfg = getattr(sae, "cfg", None)
    hook = getattr(cfg, "hook", None) if cfg is not None else getattr(sae, "hook", None)
    if not hook:
        raise SpliceError("the SAE does not say which hook point it was trained on (cfg.hook); pass hook=...")
    return hook


def check_fit(lm: LoadedModel, sae, hook: str) -> None:
    lm.hooked.parse(hook)  # unknown hook → HookPointError listing the valid ones
    d_in = int(sae.W_dec.shape[1])
    if d_in != lm.d_model:
        raise SpliceError(f"SAE width {d_in} does not match {lm.name}'s residual width {lm.d_model}: "
                          f"this SAE was trained on another model")
    cfg_model = getattr(getattr(sae, "cfg", None), "model", None)
    if cfg_model and lm.name and cfg_model not in (lm.name, lm.source) and not _same_model(cfg_model, lm):
        raise SpliceError(f"SAE was trained on {cfg_model!r}, but the model is {lm.name!r}; "
                          f"pass allow_mismatch=True if you know they share weights")


def _same_model(name: str, lm: LoadedModel) -> bool:
    return name.split(":")[-1].lower().rstrip("/") in (lm.name.lower(), str(lm.source).lower())
