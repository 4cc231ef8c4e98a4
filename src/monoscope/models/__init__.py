"""Models: load any HF model (or an embedded default) and address its sites by uniform hook names."""
from .hooks import HookedModel, HookPoint, HookPointError, StopForward, SITE_KINDS
from .loading import EMBEDDED, LoadedModel, ModelNotFoundError, cache_dir, from_model, load

__all__ = ["EMBEDDED", "HookedModel", "HookPoint", "HookPointError", "LoadedModel", "ModelNotFoundError",
           "SITE_KINDS", "StopForward", "cache_dir", "from_model", "load"]
