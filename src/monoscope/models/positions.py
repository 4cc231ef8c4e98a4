"""Which positions of a token sequence a model can take and which ones feature statistics leave out.

Shared by everything that runs prompts through a model with an SAE (steering, search, attribution, the
dashboard), so it lives with the models rather than in any one of those stages."""
from __future__ import annotations

from typing import Sequence

import torch

from .fit import SpliceError
from .loading import LoadedModel


class PromptTooLongError(SpliceError):
    """A prompt with more tokens than the model has positions."""


def max_context(lm: LoadedModel) -> int | None:
    """How many positions the model was built for (config.max_position_embeddings), if it says."""
    cfg = lm.model.config
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    n = getattr(text_cfg, "max_position_embeddings", None) or getattr(text_cfg, "n_positions", None)
    return int(n) if n else None


def check_length(lm: LoadedModel, n_tokens: int, extra: int = 0, what: str = "prompt") -> None:
    """Refuse a sequence (plus `extra` tokens to generate) longer than the model's context, by name."""
    limit = max_context(lm)
    if limit is not None and n_tokens + extra > limit:
        more = f" plus {extra} new tokens" if extra else ""
        raise PromptTooLongError(f"the {what} is {n_tokens} tokens{more}, but {lm.name} has a context of {limit} "
                                 f"tokens: shorten it to at most {limit - extra} tokens")


def excluded_positions(ids: Sequence[int], norms: Sequence[float] | torch.Tensor, special_ids: Sequence[int],
                       skip_first: int = 1, sink_ratio: float = 10.0, sink_norm: float | None = None) -> list[bool]:
    """Which positions of a sequence feature rankings leave out (the same rule as the feature database):
    special tokens, the first `skip_first` ordinary tokens, and attention sinks — residual norm over
    `sink_norm` (the database's threshold) or else `sink_ratio` × the median norm of the other tokens.

    The first position is the attention sink: its residual norm is ~100× the rest whatever the token, so
    features fire there at ~100× their usual level and top every ranking by activation."""
    special = set(int(i) for i in special_ids)
    out = [int(i) in special for i in ids]
    if skip_first > 0:
        ordinary = [j for j, e in enumerate(out) if not e][:skip_first]
        out = [e or j in ordinary for j, e in enumerate(out)]
    if sink_ratio:
        n = torch.as_tensor(norms, dtype=torch.float32).reshape(-1).cpu()
        limit = sink_norm
        if limit is None:
            rest = n[~torch.tensor(out, dtype=torch.bool)] if len(out) else n
            limit = float(sink_ratio * rest.median()) if len(rest) >= 3 else None
        if limit is not None:
            out = [e or bool(v > limit) for e, v in zip(out, n)]
    return out
