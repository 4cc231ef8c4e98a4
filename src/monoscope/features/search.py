"""Feature search: which features a prompt lights up, contrasts against negative prompts, lookups by token
and by explanation text.

- `active(prompt, mode="summed")` ranks features by activation summed over the prompt's tokens;
  `mode="token"` by the max at a single token. The auditing paper found the sum ranks the feature you are
  after higher (RM-bias feature: rank 18 summed on several transcripts, and only findable summed on two).
- `contrast(positives, negatives)` is Scaling Monosemanticity's filter: keep features active on *every*
  positive prompt (intersect), then subtract the negatives' mean score (or drop features that fire on
  any negative) — e.g. remove generic features that fire on all text.
- `by_token` / `by_explanation` need only the feature database.

Special tokens (BOS, chat markers) are excluded from scores, as they are from the index and training.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import torch

from .db import FeatureDB
from .index import FeatureDBError


@dataclass
class Hit:
    feature: int
    score: float
    token: str | None = None        # where the feature peaked in the prompt
    position: int | None = None
    explanation: str | None = None
    max_act: float | None = None    # over the indexed corpus (the steering unit)
    density: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Encoded:
    ids: list[int]
    tokens: list[str]
    acts: torch.Tensor               # [T, n] feature activations (0 on special tokens)
    special: list[bool]


class FeatureSearch:
    """A model and its SAE (and optionally the SAE's feature database) for prompt-level feature search."""

    def __init__(self, lm, sae, db: FeatureDB | None = None, allow_mismatch: bool = False):
        from ..models.fit import check_fit, sae_hook

        self.lm, self.sae, self.db = lm, sae, db
        try:
            self.hook = sae_hook(sae)
        except ValueError:
            if db is None:
                raise
            self.hook = db.hook
        if not allow_mismatch:
            check_fit(lm, sae, self.hook)
        if db is not None:
            db.check_sae(sae)
        self.n_latents = int(sae.W_dec.shape[0])

    # ---- encoding ---------------------------------------------------------------------------------
    def tokenize(self, prompt: str | Sequence[int], chat: bool = False) -> list[int]:
        if not isinstance(prompt, str):
            return [int(i) for i in prompt]
        tok = self.lm.tokenizer
        if chat:
            if not getattr(tok, "chat_template", None):
                raise ValueError(f"{self.lm.name} has no chat template; search raw text instead")
            text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False)
            return tok(text, add_special_tokens=False).input_ids
        return tok(prompt).input_ids

    def encode(self, prompt: str | Sequence[int], chat: bool = False, max_tokens: int = 1024,
               skip_first: int = 0) -> Encoded:
        """Token ids, display text and feature activations of a prompt. Activations on special tokens are
        zeroed (as in the index); `skip_first` also zeroes the first n ordinary tokens, whose residuals many
        SAEs treat specially (position-1 features fire hugely there and swamp summed rankings)."""
        ids = self.tokenize(prompt, chat)[:max_tokens]
        if not ids:
            raise ValueError("empty prompt")
        special_ids = set(self.lm.tokenizer.all_special_ids)
        special = [i in special_ids for i in ids]
        if skip_first > 0:
            ordinary = [j for j, s in enumerate(special) if not s][:skip_first]
            special = [s or j in ordinary for j, s in enumerate(special)]
        x = torch.tensor([ids], device=self.lm.device)
        with torch.no_grad():
            h = self.lm.hooked.run_to([self.hook], input_ids=x)[self.hook][0].float()
            f = self.sae.encode(h).float().cpu()
        f[torch.tensor(special)] = 0.0
        if self.db is not None:
            tokens = self.db.token_text(ids)
        else:
            tokens = [self.lm.tokenizer.decode([i]) for i in ids]
        return Encoded(ids, tokens, f, special)

    # ---- ranking ----------------------------------------------------------------------------------
    def scores(self, enc: Encoded, mode: str = "summed", normalize: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(score [n], position of each feature's max [n]) for one encoded prompt."""
        f = enc.acts
        if normalize:
            f = f / self._max_acts().clamp_min(1e-12)
        peak_val, pos = f.max(0)
        if mode == "summed":
            return f.sum(0), pos
        if mode == "token":
            return peak_val, pos
        raise ValueError(f"mode must be 'summed' or 'token', got {mode!r}")

    def _max_acts(self) -> torch.Tensor:
        if self.db is None:
            raise FeatureDBError("normalising by max activation needs the feature database (db=...)")
        return self.db.max_acts().float()

    def _hits(self, score: torch.Tensor, pos: torch.Tensor | None, enc: Encoded | None, k: int,
              offset: int = 0) -> list[Hit]:
        order = torch.argsort(score, descending=True, stable=True)[offset:offset + k]
        order = [int(i) for i in order if score[i] > 0]
        meta: dict[int, dict] = {}
        if self.db is not None and order:
            meta = {r["feature"]: r for r in self.db.list_features(ids=order, limit=len(order))}
        hits = []
        for i in order:
            m = meta.get(i, {})
            p = int(pos[i]) if pos is not None else None
            hits.append(Hit(i, float(score[i]), enc.tokens[p] if (enc is not None and p is not None) else None, p,
                            m.get("explanation"), m.get("max_act"), m.get("density")))
        return hits

    def active(self, prompt: str | Sequence[int], mode: str = "summed", k: int = 20, offset: int = 0,
               normalize: bool = False, chat: bool = False, exclude: Sequence[int] = (),
               max_density: float | None = None, skip_first: int = 0) -> list[Hit]:
        """Features active on a prompt, ranked by summed (default) or single-token activation; pageable
        with `offset`. `normalize` ranks by activation relative to each feature's corpus max;
        `max_density` drops features that fire on more than that fraction of corpus tokens (dense
        features otherwise top every summed ranking); `skip_first` ignores the first n ordinary tokens."""
        enc = self.encode(prompt, chat, skip_first=skip_first)
        score, pos = self.scores(enc, mode, normalize)
        if len(exclude):
            score[torch.as_tensor(list(exclude), dtype=torch.long)] = 0
        score = self._density_filter(score, max_density)
        return self._hits(score, pos, enc, k, offset)

    def _density_filter(self, score: torch.Tensor, max_density: float | None) -> torch.Tensor:
        if max_density is None:
            return score
        dense = torch.as_tensor(self._densities() > max_density)
        return torch.where(dense, torch.zeros_like(score), score)

    def _densities(self):
        import numpy as np

        if getattr(self, "_dens", None) is None:
            rows = _need_db(self.db).query("SELECT density FROM features ORDER BY feature")
            self._dens = np.array([r["density"] for r in rows], dtype=np.float64)
        return self._dens

    def per_token(self, prompt: str | Sequence[int], features: Sequence[int], chat: bool = False) -> dict:
        """Per-token activations of chosen features: {"tokens": [...], "features": [...], "acts": [T][F]}."""
        feats = [self._check(f) for f in features]
        enc = self.encode(prompt, chat)
        return {"tokens": enc.tokens, "ids": enc.ids, "features": feats,
                "acts": enc.acts[:, feats].tolist() if feats else [[] for _ in enc.ids]}

    def contrast(self, positives: Sequence[str], negatives: Sequence[str] = (), mode: str = "summed",
                 require_all: bool = True, negative_mode: str = "subtract", k: int = 20,
                 normalize: bool = False, max_density: float | None = None, skip_first: int = 0) -> list[Hit]:
        """Features for what the positive prompts share and the negatives lack.

        score = mean over positives − mean over negatives (`negative_mode="subtract"`), or features active
        on any negative are dropped (`"exclude"`); with `require_all` a feature must be active on every
        positive prompt (the intersection).
        """
        if not positives:
            raise ValueError("contrast needs at least one positive prompt")
        if negative_mode not in ("subtract", "exclude"):
            raise ValueError(f"negative_mode must be 'subtract' or 'exclude', got {negative_mode!r}")
        pos = torch.stack([self.scores(self.encode(p, skip_first=skip_first), mode, normalize)[0] for p in positives])
        score = pos.mean(0)
        if require_all:
            score = torch.where((pos > 0).all(0), score, torch.zeros_like(score))
        if negatives:
            neg = torch.stack([self.scores(self.encode(p, skip_first=skip_first), mode, normalize)[0]
                               for p in negatives])
            if negative_mode == "subtract":
                score = score - neg.mean(0)
            else:
                score = torch.where((neg > 0).any(0), torch.zeros_like(score), score)
        return self._hits(self._density_filter(score, max_density), None, None, k)

    def _check(self, f) -> int:
        if self.db is not None:
            return self.db.check_feature(f)
        f = int(f)
        if not 0 <= f < self.n_latents:
            raise FeatureDBError(f"feature {f} is out of range: this SAE has features 0..{self.n_latents - 1}")
        return f

    # ---- database-only lookups ----------------------------------------------------------------------
    def by_token(self, token: str | int, side: str = "input", k: int = 20) -> list[dict]:
        return _need_db(self.db).features_by_token(token, side, k)

    def by_explanation(self, query: str, k: int = 20) -> list[dict]:
        return _need_db(self.db).search_explanations(query, k)


def _need_db(db: FeatureDB | None) -> FeatureDB:
    if db is None:
        raise FeatureDBError("this search needs the feature database (build it with `monoscope index`)")
    return db
