"""Top-k SAEs trained through two peer libraries' own code, for `benchmarks/sae_quality.py` (install with
`pip install -e '.[peers]'`).

  sae-lens  SAELens v6: `TopKTrainingSAE` trained by its `SAETrainer` on our batches, with its defaults:
            Adam β=(0.9, 0.999), constant lr (base 3e-4), AuxK coefficient 1 over a 1,000-step dead window,
            decoder initialised at norm 0.1, activations rescaled by the decoder norm.
  sparsify  EleutherAI sparsify: `SparseCoder` with its defaults (signum: `SignSGD` in a `ScheduleFreeWrapper`,
            momentum 0.95, base lr 5e-3·√(2¹⁴/n); b_dec set to the first batch's mean; decoder kept at unit
            norm, the gradient parallel to each decoder row removed; no AuxK). Its `Trainer` hooks a Hugging
            Face model and a token dataset, so it cannot take an activation stream: `train_sparsify` runs the
            step that Trainer runs, with sparsify's own module, optimiser and loss (its `fvu`), and evaluates at
            the schedule-free average, as sparsify does before saving.

Each trainer returns a `PeerSAE`: `W_dec` [n, d], `encode(x)` to dense latents and `decode(f)`, the three
calls the benchmark scores every recipe with. `scale` is the activation store's normalisation scalar: the
peers train on normalised rows (what the store yields), so raw inputs are scaled in and outputs scaled back.
"""
from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

PEERS = {"sae-lens": "sae_lens", "sparsify": "sparsify"}      # recipe name -> module it needs


def installed(name: str) -> bool:
    return importlib.util.find_spec(PEERS[name]) is not None


def base_lr(name: str, n_latents: int) -> float:
    """The peer's own default learning rate for an SAE of `n_latents` (the benchmark tunes multiples of it)."""
    return 3e-4 if name == "sae-lens" else 5e-3 / (n_latents / 2 ** 14) ** 0.5


@dataclass
class PeerSAE:
    W_dec: torch.Tensor
    encode_normalised: Callable[[torch.Tensor], torch.Tensor]
    decode_normalised: Callable[[torch.Tensor], torch.Tensor]
    scale: float = 1.0

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_normalised(x * self.scale)

    @torch.no_grad()
    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return self.decode_normalised(f) / self.scale


def train(name: str, batches: Iterator[torch.Tensor], d: int, n: int, k: int, lr: float, steps: int,
          batch_size: int, seed: int, scale: float = 1.0) -> PeerSAE:
    """Train peer `name` for `steps` batches of `batches` (normalised rows); SAE init seeded by `seed`."""
    torch.manual_seed(seed)
    fit = {"sae-lens": train_saelens, "sparsify": train_sparsify}[name]
    return fit(batches, d, n, k, lr, steps, batch_size, scale)


def train_saelens(batches, d, n, k, lr, steps, batch_size, scale) -> PeerSAE:
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import SAETrainerConfig
    from sae_lens.training import sae_trainer
    from tqdm import tqdm

    sae_trainer.tqdm = functools.partial(tqdm, disable=True)      # fit() draws a progress bar per run

    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d, d_sae=n, k=k, device="cpu"))
    cfg = SAETrainerConfig(total_training_samples=steps * batch_size, train_batch_size_samples=batch_size,
                           lr=lr, lr_end=lr / 10, device="cpu")   # lr_end: what its runner config sets
    sae_trainer.SAETrainer(cfg=cfg, sae=sae, data_provider=iter(batches)).fit()
    sae.eval()
    return PeerSAE(sae.W_dec.detach(), sae.encode, sae.decode, scale)


def train_sparsify(batches, d, n, k, lr, steps, batch_size, scale) -> PeerSAE:
    from schedulefree import ScheduleFreeWrapper
    from sparsify import SparseCoder, SparseCoderConfig
    from sparsify.sign_sgd import SignSGD

    sae = SparseCoder(d, SparseCoderConfig(num_latents=n, k=k), device="cpu")
    opt = ScheduleFreeWrapper(SignSGD([dict(params=sae.parameters(), lr=lr)]), momentum=0.95)
    opt.train()
    for step, x in zip(range(steps), batches):
        if step == 0:
            sae.b_dec.data = x.mean(0).to(sae.dtype)
        sae.set_decoder_norm_to_unit_norm()
        sae(x).fvu.backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        opt.step()
        opt.zero_grad()
    opt.eval()                                      # the schedule-free average, as sparsify saves it

    def encode(x: torch.Tensor) -> torch.Tensor:
        acts, idx, _ = sae.encode(x)
        return torch.zeros(len(x), n, dtype=acts.dtype).scatter_(1, idx, acts)

    def decode(f: torch.Tensor) -> torch.Tensor:
        acts, idx = f.topk(k, dim=1)
        return sae.decode(acts, idx)

    return PeerSAE(sae.W_dec.detach(), encode, decode, scale)
