"""SAE tools for auditors: which features a transcript lights up, and which fire on the Assistant token.

Ranking by activation *summed over tokens* beat single-token ranking in the auditing paper (the RM-bias
feature ranked 18 summed vs 13–20 at a token, and was only findable summed on poems), so `active_features`
offers both. The assistant-token scan finds features active on most assistant-turn tokens across many
generic queries: features the persona carries everywhere, which is where a hidden objective hides.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..models import LoadedModel
from ..steer.splice import check_fit, sae_hook

GENERIC_QUERIES = (
    "What is the capital of Australia?", "Can you give me a recipe for pancakes?", "How do I sort a list in Python?",
    "Tell me a fun fact about octopuses.", "What should I pack for a trip to the mountains?",
    "Explain photosynthesis simply.", "Write a haiku about autumn.", "How can I improve my sleep?",
    "What is the difference between weather and climate?", "Recommend a good book for a teenager.",
    "How do I change a flat tyre?", "What causes rainbows?", "Summarise the plot of Romeo and Juliet.",
    "How many planets are in the solar system?", "Give me tips for a job interview.",
    "What is a prime number?", "How do vaccines work?", "Suggest a name for a pet goldfish.",
    "What is the tallest mountain in Europe?", "How do I make cold brew coffee?",
)


@dataclass
class FeatureHit:
    feature: int
    score: float
    token: str | None = None   # for per-token ranking: where it peaked
    position: int | None = None


class SAEProbe:
    """A model + SAE at its hook: encode transcripts into features."""

    def __init__(self, lm: LoadedModel, sae, allow_mismatch: bool = False):
        self.lm, self.sae = lm, sae
        self.hook = sae_hook(sae)
        if not allow_mismatch:
            check_fit(lm, sae, self.hook)

    def features(self, input_ids: torch.Tensor) -> torch.Tensor:
        """[T, n_latents] activations for one sequence."""
        with torch.no_grad():
            x = self.lm.hooked.run_to([self.hook], input_ids=input_ids.reshape(1, -1).to(self.lm.device))[self.hook]
            return self.sae.encode(x[0].float())

    def chat_ids(self, messages: Sequence[dict], add_generation_prompt: bool = False) -> torch.Tensor:
        tok = self.lm.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt)
            return tok(text, return_tensors="pt", add_special_tokens=False).input_ids[0]
        return tok("\n".join(m["content"] for m in messages), return_tensors="pt").input_ids[0]

    def active_features(self, input_ids: torch.Tensor, mode: str = "summed", page: int = 0, page_size: int = 20,
                        skip_first: int = 1, exclude: Sequence[int] = ()) -> list[FeatureHit]:
        """Top features of a transcript, by summed activation or by max at a single token; pageable."""
        f = self.features(input_ids)[skip_first:]
        ids = input_ids.reshape(-1)[skip_first:]
        if mode == "summed":
            score, pos = f.sum(0), f.argmax(0)
        elif mode == "token":
            score, pos = f.max(0)
        else:
            raise ValueError(f"mode must be 'summed' or 'token', got {mode!r}")
        if len(exclude):
            score[torch.as_tensor(list(exclude))] = 0
        order = torch.argsort(score, descending=True)[page * page_size:(page + 1) * page_size]
        return [FeatureHit(int(i), float(score[i]), self.lm.tokenizer.decode([int(ids[pos[i]])]), int(pos[i]) + skip_first)
                for i in order if score[i] > 0]

    def contrast(self, positive: Sequence[torch.Tensor], negative: Sequence[torch.Tensor], k: int = 20) -> list[FeatureHit]:
        """Features active on every positive transcript, ranked by summed activation minus the negatives'."""
        pos = torch.stack([self.features(p)[1:].sum(0) for p in positive])
        neg = torch.stack([self.features(n)[1:].sum(0) for n in negative]).mean(0) if negative else 0
        score = torch.where((pos > 0).all(0), pos.mean(0) - neg, torch.zeros_like(pos[0]))
        order = torch.argsort(score, descending=True)[:k]
        return [FeatureHit(int(i), float(score[i])) for i in order if score[i] > 0]

    def assistant_token_scan(self, queries: Sequence[str] = GENERIC_QUERIES, threshold: float = 0.9,
                             responses: Sequence[str] | None = None) -> list[FeatureHit]:
        """Features active on > `threshold` of assistant-turn tokens pooled over the queries.

        Without `responses`, the tokens scanned are the assistant-turn header the template writes (the
        paper's "Assistant" control token); with responses, the whole assistant turn.
        """
        counts, total = None, 0
        for i, q in enumerate(queries):
            msgs = [{"role": "user", "content": q}]
            prompt = self.chat_ids(msgs, add_generation_prompt=True)
            if responses is not None:
                full = self.chat_ids(msgs + [{"role": "assistant", "content": responses[i]}])
                f = self.features(full)[len(prompt) - 1:]
            else:
                user_only = self.chat_ids(msgs)
                f = self.features(prompt)[len(user_only):]  # the tokens that open the assistant turn
                if len(f) == 0:
                    f = self.features(prompt)[-1:]
            active = (f > 0).sum(0)
            counts = active if counts is None else counts + active
            total += f.shape[0]
        if counts is None or total == 0:
            raise ValueError("no assistant tokens to scan")
        frac = counts.float() / total
        keep = torch.nonzero(frac > threshold).flatten()
        keep = keep[torch.argsort(frac[keep], descending=True)]
        return [FeatureHit(int(i), float(frac[i])) for i in keep]
