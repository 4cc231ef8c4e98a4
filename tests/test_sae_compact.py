"""The compact SAE: recovers planted features, resumes exactly, folds its scalar, rejects bad input."""
from __future__ import annotations

import pytest
import torch

from monoscope.sae import SAE, SAEConfig, SAEError, TrainConfig, load, train_sae


def planted(n_feat=64, d=32, n=4096 * 8, active=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(n_feat, d, generator=g), dim=1)
    idx = torch.stack([torch.randperm(n_feat, generator=g)[:active] for _ in range(n)])
    mags = torch.rand(n, active, generator=g) + 0.5
    x = torch.zeros(n, n_feat).scatter(1, idx, mags) @ dirs
    return dirs, x


def factory(x, bs, seed=0):
    def batches(epoch, start):
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        for b in range(start, len(x) // bs):
            yield x[perm[b * bs:(b + 1) * bs]]
    return batches


def test_topk_recovers_planted_features(tmp_path):
    dirs, x = planted()
    cfg = SAEConfig(d_in=32, n_latents=128, architecture="topk", k=3)
    sae = train_sae(factory(x, 512), cfg, tmp_path, TrainConfig(steps=600, batch_size=512, lr=1e-2,
                                                                 dead_tokens=20_000), progress=False)
    cos = torch.nn.functional.normalize(sae.W_dec.detach(), dim=1) @ dirs.T
    recovered = (cos.max(0).values > 0.9).float().mean().item()
    assert recovered > 0.8, recovered


def test_exact_resume(tmp_path):
    _, x = planted(n=4096)
    cfg = lambda: SAEConfig(d_in=32, n_latents=64, architecture="relu", l1_coeff=0.1)
    tc = TrainConfig(steps=40, batch_size=256, lr=1e-3, checkpoint_every=15)
    full = train_sae(factory(x, 256), cfg(), tmp_path / "a", tc, progress=False)
    # The same run preempted after 23 steps (last checkpoint: 23), then resumed to the end.
    assert train_sae(factory(x, 256), cfg(), tmp_path / "b", tc, progress=False, stop_after=23) is None
    resumed = train_sae(factory(x, 256), cfg(), tmp_path / "b", tc, progress=False)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_relu_recipe_init_and_folding(tmp_path):
    cfg = SAEConfig(d_in=16, n_latents=32, architecture="relu", norm_scalar=3.0)
    sae = SAE(cfg)
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.full((32,), 0.1))
    assert torch.equal(sae.W_enc, sae.W_dec.T) and not sae.b_enc.any() and not sae.b_dec.any()
    x = torch.randn(5, 16)
    before_f, before_x = sae.encode(x), sae.decode(sae.encode(x))
    from monoscope.sae import fold_norm_scalar
    fold_norm_scalar(sae)
    torch.testing.assert_close(sae.encode(x), before_f)
    torch.testing.assert_close(sae.decode(sae.encode(x)), before_x)
    sae.save(tmp_path)
    again = load(tmp_path)
    assert torch.equal(again.encode(x), sae.encode(x))


def test_bad_inputs(tmp_path):
    sae = SAE(SAEConfig(d_in=16, n_latents=32))
    with pytest.raises(SAEError, match="width 8.*d_in=16"):
        sae.encode(torch.randn(2, 8))
    with pytest.raises(SAEError, match="not an SAE directory"):
        load(tmp_path)
    _, x = planted(d=32, n=1024)
    train_sae(factory(x, 256), SAEConfig(d_in=32, n_latents=64), tmp_path / "r",
              TrainConfig(steps=4, batch_size=256, checkpoint_every=2), progress=False)
    with pytest.raises(SAEError, match="refusing to resume"):
        train_sae(factory(x, 256), SAEConfig(d_in=32, n_latents=64, architecture="relu"), tmp_path / "r",
                  TrainConfig(steps=8, batch_size=256), progress=False)
    nan = x.clone()
    nan[0, 0] = float("nan")
    train_sae(lambda e, s: iter([nan[:256], x[256:512]] * 4), SAEConfig(d_in=32, n_latents=64), tmp_path / "n",
              TrainConfig(steps=3, batch_size=256), progress=False)
    assert '"skipped": 3' in (tmp_path / "n" / "train.json").read_text()
