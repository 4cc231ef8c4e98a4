"""Feature search: which features a prompt lights up, contrasts against negative prompts, lookups by token
and by explanation text.

- `active(prompt, mode="summed")` ranks features by activation summed over the prompt's tokens;
  `mode="token"` by the max at a single token. The auditing paper found the sum ranks the feature you are
  after higher (RM-bias feature: rank 18 summed on several transcripts, and only findable summed on two).
- `contrast(positives, negatives)` is Scaling Monosemanticity's filter: keep features active on *every*
  positive prompt (intersect), then subtract the negatives' mean score (or drop features that fire on
  any negative) — e.g. remove generic features that fire on all text.
- `by_token` / `by_explanation` need only the feature database.

Excluded from scores by default, as from the index: special tokens (BOS, chat markers), the prompt's first
ordinary token (`skip_first=1`) and attention-sink tokens (residual norm over the feature database's sink
threshold, or 10× the prompt's median). The first position is the attention sink: its residual has an
outsized norm whatever the token, so features fire there at ~100× their usual level and swamp every
ranking. `skip_first=0, sink_ratio=0` keeps everything.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..errors import UserError
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
    acts: torch.Tensor               # [T, n] feature activations (0 on excluded tokens)
    special: list[bool]              # excluded from scores: special tokens and the first positions


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

    def encode(self, prompt: str | Sequence[int], chat: bool = False, max_tokens: int | None = None,
               skip_first: int = 1, sink_ratio: float = 10.0) -> Encoded:
        """Token ids, display text and feature activations of a prompt. Activations are zeroed (as in the
        index) on special tokens, on the first `skip_first` ordinary tokens, and on attention sinks: tokens
        whose residual norm is over the database's sink threshold (or `sink_ratio` × the prompt's median
        norm without a database; 0 keeps them). A prompt longer than the model's context (or `max_tokens`)
        is refused, not cut."""
        from ..models.positions import check_length, excluded_positions

        ids = self.tokenize(prompt, chat)
        if not ids:
            raise UserError("the prompt is empty: give some text to search with")
        check_length(self.lm, len(ids))
        if max_tokens is not None and len(ids) > max_tokens:
            raise UserError(f"the prompt is {len(ids)} tokens; this search takes at most {max_tokens}")
        x = torch.tensor([ids], device=self.lm.device)
        with torch.no_grad():
            h = self.lm.hooked.run_to([self.hook], input_ids=x)[self.hook][0].float()
            f = self.sae.encode(h).float().cpu()
        special = excluded_positions(ids, h.norm(dim=-1), self.lm.tokenizer.all_special_ids, skip_first,
                                     sink_ratio, self.sink_norm(sink_ratio))
        f[torch.tensor(special)] = 0.0
        if self.db is not None:
            tokens = self.db.token_text(ids)
        else:
            tokens = [self.lm.tokenizer.decode([i]) for i in ids]
        return Encoded(ids, tokens, f, special)

    def sink_norm(self, ratio: float) -> float | None:
        """The residual norm above which a token is an attention sink, from the database (set on the indexed
        corpus, rescaled to `ratio`); None without a database (then the prompt's own median is used)."""
        ex = (self.db.manifest.get("excluded") or {}) if self.db is not None else {}
        if ratio and ex.get("sink_norm"):
            return float(ex["sink_norm"]) * ratio / float(ex.get("sink_norm_ratio") or ratio)
        return None

    # ---- ranking ----------------------------------------------------------------------------------
    def scores(self, enc: Encoded, mode: str = "summed", normalize: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(score [n], position of each feature's max [n]) for one encoded prompt."""
        f = enc.acts
        if normalize:  # features that never fired on the indexed corpus have no scale: they score 0
            ma = self._max_acts()
            f = torch.where(ma > 0, f / ma.clamp_min(1e-12), torch.zeros_like(f))
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
               max_density: float | None = None, skip_first: int = 1, sink_ratio: float = 10.0) -> list[Hit]:
        """Features active on a prompt, ranked by summed (default) or single-token activation; pageable
        with `offset`. `normalize` ranks by activation relative to each feature's corpus max;
        `max_density` drops features that fire on more than that fraction of corpus tokens (dense
        features otherwise top every summed ranking); `skip_first` ignores the first n ordinary tokens
        (1 by default: the attention sink) and `sink_ratio` other sink tokens (see `encode`)."""
        enc = self.encode(prompt, chat, skip_first=skip_first, sink_ratio=sink_ratio)
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

    def per_token(self, prompt: str | Sequence[int], features: Sequence[int], chat: bool = False,
                  skip_first: int = 1, sink_ratio: float = 10.0) -> dict:
        """Per-token activations of chosen features: {"tokens": [...], "features": [...], "acts": [T][F],
        "excluded": [T]} (excluded tokens — special, the first, sinks — read 0)."""
        feats = [self._check(f) for f in features]
        enc = self.encode(prompt, chat, skip_first=skip_first, sink_ratio=sink_ratio)
        return {"tokens": enc.tokens, "ids": enc.ids, "features": feats, "excluded": enc.special,
                "acts": enc.acts[:, feats].tolist() if feats else [[] for _ in enc.ids]}

    def contrast(self, positives: Sequence[str], negatives: Sequence[str] = (), mode: str = "summed",
                 require_all: bool = True, negative_mode: str = "subtract", k: int = 20,
                 normalize: bool = False, max_density: float | None = None, skip_first: int = 1,
                 sink_ratio: float = 10.0) -> list[Hit]:
        """Features for what the positive prompts share and the negatives lack.

        score = mean over positives − mean over negatives (`negative_mode="subtract"`), or features active
        on any negative are dropped (`"exclude"`); with `require_all` a feature must be active on every
        positive prompt (the intersection).
        """
        if not positives:
            raise UserError("contrast needs at least one positive prompt (the texts the features must share)")
        if negative_mode not in ("subtract", "exclude"):
            raise ValueError(f"negative_mode must be 'subtract' or 'exclude', got {negative_mode!r}")
        enc = lambda p: self.encode(p, skip_first=skip_first, sink_ratio=sink_ratio)  # noqa: E731
        pos = torch.stack([self.scores(enc(p), mode, normalize)[0] for p in positives])
        score = pos.mean(0)
        if require_all:
            score = torch.where((pos > 0).all(0), score, torch.zeros_like(score))
        if negatives:
            neg = torch.stack([self.scores(enc(p), mode, normalize)[0] for p in negatives])
            if negative_mode == "subtract":
                score = score - neg.mean(0)
            else:
                score = torch.where((neg > 0).any(0), torch.zeros_like(score), score)
        return self._hits(self._density_filter(score, max_density), None, None, k)

    def assistant_token_scan(self, queries: Sequence[str], threshold: float = 0.9) -> list[Hit]:
        """Features active on more than `threshold` of the tokens that open the assistant turn (what the
        chat template writes after the user's message), pooled over generic queries: what the persona
        carries into every answer, the auditing paper's assistant-token scan. Score = the fraction."""
        tok = self.lm.tokenizer
        if not getattr(tok, "chat_template", None):
            raise UserError(f"{self.lm.name} has no chat template: the assistant-token scan needs chat turns")
        counts, total = None, 0
        for q in queries:
            msgs = [{"role": "user", "content": q}]
            full = tok(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True),
                       add_special_tokens=False).input_ids
            user = tok(tok.apply_chat_template(msgs, tokenize=False), add_special_tokens=False).input_ids
            enc = self.encode(full)
            rows = [j for j in range(len(user), len(full)) if not enc.special[j]] or [len(full) - 1]
            active = (enc.acts[rows] > 0).sum(0)
            counts = active if counts is None else counts + active
            total += len(rows)
        if counts is None:
            raise UserError("the assistant-token scan needs at least one query")
        frac = counts.float() / total
        keep = torch.nonzero(frac > threshold).flatten()
        keep = keep[torch.argsort(frac[keep], descending=True, stable=True)]
        return [Hit(int(i), float(frac[i])) for i in keep]

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


def feature_text(ids: Sequence[int], lm, sae, db: FeatureDB | None = None, n_tokens: int = 4) -> dict[int, str]:
    """A few words per feature, for tables that would otherwise show bare ids: its explanation, else the
    tokens its top examples peak on (from the database), else the tokens its decoder direction promotes
    (through the unembedding; needs no database)."""
    ids = [int(i) for i in ids]
    out: dict[int, str] = {}
    if not ids:
        return out
    if db is not None:
        meta = {r["feature"]: r for r in db.list_features(ids=ids, limit=len(ids))}
        marks = ", ".join("?" * len(ids))
        rows = db.query(f"""SELECT feature, peak_token, count(*) AS n FROM examples
                            WHERE kind = 'top' AND feature IN ({marks})
                            GROUP BY feature, peak_token ORDER BY feature, n DESC, peak_token""", ids)
        peaks: dict[int, list[str]] = {}
        for r in rows:
            peaks.setdefault(r["feature"], []).append(db.token_text([r["peak_token"]])[0])
        for i in ids:
            expl = (meta.get(i) or {}).get("explanation")
            if expl:
                out[i] = expl
            elif peaks.get(i):
                out[i] = "fires on " + " ".join(repr(t) for t in peaks[i][:n_tokens])
    rest = [i for i in ids if i not in out]
    if rest:
        from .index import logit_effects

        top_ids = logit_effects(sae.W_dec.detach().float().cpu()[rest], lm, n_tokens)[0]
        for i, toks in zip(rest, top_ids):
            out[i] = "promotes " + " ".join(repr(lm.tokenizer.decode([int(t)])) for t in toks)
    return out


def find_feature_db(sae_path: str | Path, sae=None) -> Path | None:
    """The feature database built from this SAE, looked for beside it (`runs/demo/sae` → `runs/demo/features`):
    a sibling directory whose manifest names this SAE's path or decoder fingerprint."""
    sae_path = Path(sae_path).resolve()
    fp = None
    for d in sorted(p for p in sae_path.parent.iterdir() if p.is_dir() and p != sae_path):
        mf = d / "manifest.json"
        if not mf.exists():
            continue
        try:
            m = json.loads(mf.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if m.get("kind") != "monoscope-feature-db" or not m.get("complete"):
            continue
        named = m.get("sae_path")
        if named and Path(named).resolve() == sae_path:
            return d
        if sae is not None:
            if fp is None:
                from .index import sae_fingerprint
                fp = sae_fingerprint(sae)
            if m.get("sae", {}).get("fingerprint") == fp:
                return d
    return None


def _need_db(db: FeatureDB | None) -> FeatureDB:
    if db is None:
        raise FeatureDBError("this search needs the feature database (build it with `monoscope index`)")
    return db
