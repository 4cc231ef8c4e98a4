"""Interventions on SAE features with the SAE spliced in and its error term kept.

The paper writes x = SAE(x) + err(x) and steers by rebuilding SAE(x) with a feature clamped while keeping
err(x). We compute the same thing as x' = x + W_dᵀ(f' − f): algebraically identical, exactly x when no
feature changes (so splicing without an intervention leaves the model bit-for-bit unchanged), and it only
touches the features that moved, so steering costs little more than one encoder pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import torch


class FeatureDictionary(Protocol):
    """What steering needs from an SAE: encode raw activations and the decoder rows (one per latent)."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    @property
    def W_dec(self) -> torch.Tensor: ...  # [n_latents, d_in], acting on raw (un-normalised) activations


Positions = Sequence[int] | slice | None  # None: every position


@dataclass
class Intervention:
    """One edit of feature activations: f_i ← value (clamp), f_i ← f_i·scale, or both unset = ablate."""

    features: Sequence[int]
    value: float | None = None          # clamp target; in units of max activation when `max_acts` is set
    scale: float | None = None          # multiply the current activation (SE_α uses 1±α)
    positions: Positions = None
    per_row: bool = False               # features[b] applies to batch row b only (batched sweeps)

    def __post_init__(self) -> None:
        if self.value is not None and self.scale is not None:
            raise ValueError("an intervention sets either value (clamp) or scale, not both")


def clamp(features: int | Sequence[int], value: float, positions: Positions = None) -> Intervention:
    """Clamp features to `value` × their max activation (the paper's unit; negative values allowed)."""
    return Intervention([features] if isinstance(features, int) else list(features), value=value,
                        positions=positions)


def ablate(features: int | Sequence[int], positions: Positions = None) -> Intervention:
    return Intervention([features] if isinstance(features, int) else list(features), value=0.0,
                        positions=positions)


def scale(features: int | Sequence[int], factor: float, positions: Positions = None) -> Intervention:
    return Intervention([features] if isinstance(features, int) else list(features), scale=factor,
                        positions=positions)


@dataclass
class DirectionAdd:
    """Add coeff·direction to the residual (difference-of-means vectors, fuzzing noise, raw directions)."""

    direction: torch.Tensor              # [d] or [batch, d]
    coeff: float = 1.0
    positions: Positions = None


def _position_mask(positions: Positions, start: int, length: int, device) -> torch.Tensor:
    """Which of the absolute positions [start, start+length) this edit touches (generation sees chunks)."""
    pos = torch.arange(start, start + length, device=device)
    if positions is None:
        return torch.ones(length, dtype=torch.bool, device=device)
    if isinstance(positions, slice):
        lo = positions.start or 0
        hi = positions.stop if positions.stop is not None else 1 << 62
        if lo < 0 or hi < 0:
            raise ValueError("negative slice bounds are ambiguous during generation; use absolute positions")
        return (pos >= lo) & (pos < hi)
    return torch.isin(pos, torch.as_tensor(list(positions), device=device))


@dataclass
class EditPlan:
    """The edits applied at one hook, plus the state that generation needs (absolute position offset)."""

    sae: FeatureDictionary | None
    edits: list[Intervention] = field(default_factory=list)
    adds: list[DirectionAdd] = field(default_factory=list)
    max_acts: torch.Tensor | None = None   # [n_latents]: unit of clamp values
    seen: int = 0                          # tokens already processed (KV-cached generation)
    record: list[torch.Tensor] | None = None  # optional log of edited feature activations

    def reset(self) -> None:
        self.seen = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor | None:
        if not self.edits and not self.adds:
            return None
        b, t, _ = x.shape
        start, self.seen = self.seen, self.seen + t
        out = x
        if self.edits:
            if self.sae is None:
                raise ValueError("feature interventions need an SAE")
            f = self.sae.encode(x.float())
            new = f.clone()
            for e in self.edits:
                self._apply(e, f, new, start)
            delta = new - f
            if self.record is not None:
                self.record.append(new.detach())
            # Only features that moved contribute; exact zero when nothing did.
            touched = torch.nonzero(delta.abs().sum(dim=(0, 1)), as_tuple=True)[0]
            if len(touched):
                out = out + (delta[..., touched] @ self.sae.W_dec[touched].float()).to(x.dtype)
        for a in self.adds:
            mask = _position_mask(a.positions, start, t, x.device).to(x.dtype)[None, :, None]
            direction = a.direction.to(device=x.device, dtype=x.dtype)
            direction = direction[:, None, :] if direction.ndim == 2 else direction[None, None, :]
            out = out + a.coeff * direction * mask
        return out

    def _apply(self, e: Intervention, f: torch.Tensor, new: torch.Tensor, start: int) -> None:
        mask = _position_mask(e.positions, start, f.shape[1], f.device)
        feats = torch.as_tensor(list(e.features), device=f.device, dtype=torch.long)
        if e.per_row:
            if len(feats) != f.shape[0]:
                raise ValueError(f"per_row intervention needs one feature per batch row ({f.shape[0]}), "
                                 f"got {len(feats)}")
            rows = torch.arange(f.shape[0], device=f.device)
            cur = f[rows, :, feats]                           # [B, T]
            target = self._target(e, cur, feats[:, None])
            new[rows, :, feats] = torch.where(mask[None, :], target, new[rows, :, feats])
            return
        cur = f[..., feats]                                   # [B, T, k]
        target = self._target(e, cur, feats[None, None, :])
        new[..., feats] = torch.where(mask[None, :, None], target, new[..., feats])

    def _target(self, e: Intervention, cur: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        if e.scale is not None:
            return cur * e.scale
        value = torch.full_like(cur, float(e.value))
        if self.max_acts is not None and e.value != 0.0:
            value = value * self.max_acts.to(cur.device)[feats].to(cur.dtype)
        return value
