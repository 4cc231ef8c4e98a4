"""Models: load any HF model (or an embedded default) and address its sites by uniform hook names."""
from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    'HookedModel': 'hooks',
    'HookPoint': 'hooks',
    'HookPointError': 'hooks',
    'StopForward': 'hooks',
    'SITE_KINDS': 'hooks',
    'EMBEDDED': 'loading',
    'LoadedModel': 'loading',
    'ModelNotFoundError': 'loading',
    'cache_dir': 'loading',
    'from_model': 'loading',
    'load': 'loading',
})
