"""Auditing probes built on the splice: steering-effect ranking, activation fuzzing, diff-of-means vectors.

- SE_α (auditing paper, technique 6): log p(C | P, f ← (1+α)f) − log p(C | P, f ← (1−α)f), error term kept;
  ranking many features by |SE| surfaces the ones that causally drive a completion.
- Fuzzing (technique 8): x ← x + α·v with random v at the hook, then sample; a cheap search for leaks.
- Difference of means (Scaling Monosemanticity's steering baseline): mean last-token residual of positive
  prompts minus negatives, added to every position.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .attribution import completion_logprob
from .interventions import DirectionAdd, Intervention
from .splice import Steerer


@dataclass
class SteeringEffect:
    feature: int
    effect: float


def steering_effects(steerer: Steerer, prompt_ids: torch.Tensor, completion_ids: torch.Tensor,
                     features: Sequence[int], alpha: float = 4.0, batch_size: int = 16,
                     prompt_only: bool = True) -> list[SteeringEffect]:
    """SE_α for each feature, batched (one feature per batch row), sorted by |SE| descending.

    With `prompt_only` the feature is scaled on the prompt tokens (f(P) in the paper) and left alone on the
    completion, so SE measures how the prompt's use of the feature drives the completion.
    """
    ids = torch.cat([prompt_ids.reshape(1, -1), completion_ids.reshape(1, -1)], dim=1).to(steerer.lm.device)
    metric = completion_logprob(prompt_ids.numel(), completion_ids.reshape(1, -1))
    positions = slice(0, prompt_ids.numel()) if prompt_only else None
    effects: list[SteeringEffect] = []
    features = list(features)
    for i in range(0, len(features), batch_size):
        chunk = features[i:i + batch_size]
        batch = ids.expand(len(chunk), -1)
        up = metric(steerer.logits(batch, [Intervention(chunk, scale=1 + alpha, positions=positions, per_row=True)]))
        down = metric(steerer.logits(batch, [Intervention(chunk, scale=1 - alpha, positions=positions, per_row=True)]))
        effects += [SteeringEffect(f, float(u - d)) for f, u, d in zip(chunk, up.tolist(), down.tolist())]
    return sorted(effects, key=lambda e: -abs(e.effect))


def fuzz(steerer: Steerer, prompt: str, alphas: Sequence[float] = (0, 1, 2, 4, 8), n_vectors: int = 4,
         samples_per_vector: int = 2, max_new_tokens: int = 48, seed: int = 0, chat: bool = True,
         temperature: float = 1.0) -> list[dict]:
    """Sample under Gaussian noise at the hook: v ~ N(0, I) rescaled to the prompt's mean residual norm.

    α is therefore in units of a typical residual vector: α = 1 adds noise as large as the signal.
    """
    ids = steerer.encode_prompt(prompt, chat=chat).to(steerer.lm.device)
    with torch.no_grad():
        x = steerer.lm.hooked.run_to([steerer.hook], input_ids=ids)[steerer.hook]
    norm = float(x[0, 1:].float().norm(dim=-1).mean()) if x.shape[1] > 1 else float(x.float().norm())
    gen = torch.Generator().manual_seed(seed)
    out = []
    for alpha in alphas:
        for v in range(n_vectors if alpha else 1):
            direction = torch.randn(steerer.lm.d_model, generator=gen)
            direction = direction / direction.norm() * norm
            texts = steerer.generate(prompt, adds=[DirectionAdd(direction, float(alpha))], chat=chat,
                                     max_new_tokens=max_new_tokens, temperature=temperature,
                                     seed=seed + v, n=samples_per_vector)
            out += [{"alpha": alpha, "vector": v, "text": t} for t in texts]
    return out


def diff_of_means(steerer: Steerer, positive: Sequence[str], negative: Sequence[str],
                  chat: bool = False) -> torch.Tensor:
    """Mean last-token residual at the hook over positives minus over negatives."""
    def mean_last(prompts: Sequence[str]) -> torch.Tensor:
        rows = []
        for p in prompts:
            ids = steerer.encode_prompt(p, chat=chat).to(steerer.lm.device)
            with torch.no_grad():
                rows.append(steerer.lm.hooked.run_to([steerer.hook], input_ids=ids)[steerer.hook][0, -1].float())
        return torch.stack(rows).mean(0)

    if not positive or not negative:
        raise ValueError("difference of means needs at least one positive and one negative prompt")
    return mean_last(positive) - mean_last(negative)


def token_probability(steerer: Steerer, prompts: Sequence[str], token_ids: Sequence[int],
                      edits: Sequence[Intervention] = (), adds: Sequence[DirectionAdd] = (),
                      chat: bool = True) -> float:
    """Mean next-token probability mass on `token_ids` at the prompts' last position, under `edits`/`adds`."""
    idx = torch.as_tensor(list(token_ids))
    return float(np.mean([torch.softmax(steerer.logits(steerer.encode_prompt(p, chat=chat), edits, adds)[0, -1],
                                        -1)[idx].sum().item() for p in prompts]))


def token_probability_shift(steerer: Steerer, prompts: Sequence[str], token_ids: Sequence[int],
                            edits: Sequence[Intervention] = (), adds: Sequence[DirectionAdd] = (),
                            chat: bool = True) -> tuple[float, float]:
    """Mean next-token probability mass on `token_ids` (unsteered, steered) at the prompts' last position."""
    return (token_probability(steerer, prompts, token_ids, chat=chat),
            token_probability(steerer, prompts, token_ids, edits, adds, chat=chat))
