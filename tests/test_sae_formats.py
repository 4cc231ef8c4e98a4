"""SAE files: native save/load, SAELens export/import round trip, sparsify import, bad files."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from monoscope.sae import (SAEConfig, SAEFormatError, build_sae, export_saelens, import_saelens, import_sparsify,
                           load_sae, save_sae)


pytestmark = pytest.mark.usefixtures("one_thread")


def trained_like(arch, d=16, n=48, seed=0, **kw):
    """An SAE with non-trivial weights in every tensor (as after training)."""
    if arch in ("topk", "batchtopk"):
        kw.setdefault("k", 5)
    sae = build_sae(SAEConfig(arch, d_in=d, n_latents=n, hook="resid_post.3", model="tiny", **kw))
    sae.init_weights(torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        sae.W_enc.add_(0.1 * torch.randn(n, d, generator=g))
        sae.b_enc.copy_(0.05 * torch.randn(n, generator=g))
        sae.b_dec.copy_(torch.randn(d, generator=g))
        if arch == "relu":
            sae.W_dec.mul_(torch.rand(n, 1, generator=g) + 0.5)
        if arch in ("jumprelu", "batchtopk"):
            sae.threshold.copy_(0.05 + 0.1 * torch.rand(n, generator=g))
    return sae.train(False)


ARCHS = ["relu", "topk", "batchtopk", "jumprelu"]


@pytest.mark.parametrize("arch", ARCHS)
def test_native_round_trip_is_exact(tmp_path, arch):
    sae = trained_like(arch, norm_scalar=1.7)
    save_sae(sae, tmp_path / "s")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["cfg.json", "sae.safetensors"]
    back = load_sae(tmp_path / "s")
    assert type(back) is type(sae) and back.cfg == sae.cfg
    for k, v in sae.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    x = torch.randn(20, 16)
    assert torch.equal(back.encode(x), sae.encode(x))


@pytest.mark.parametrize("arch", ARCHS)
def test_saelens_round_trip_is_bit_identical(tmp_path, arch):
    sae = trained_like(arch).exported()
    export_saelens(sae, tmp_path / "lens")
    files = sorted(p.name for p in (tmp_path / "lens").iterdir())
    assert files == ["cfg.json", "sae_weights.safetensors"]
    cfg = json.loads((tmp_path / "lens" / "cfg.json").read_text())
    w = load_file(str(tmp_path / "lens" / "sae_weights.safetensors"))
    expected_arch = {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu", "jumprelu": "jumprelu"}[arch]
    assert cfg["architecture"] == expected_arch and cfg["d_in"] == 16 and cfg["d_sae"] == 48
    assert cfg["apply_b_dec_to_input"] is False and cfg["normalize_activations"] == "none"
    assert cfg["metadata"]["hook_name"] == "resid_post.3" and cfg["metadata"]["model_name"] == "tiny"
    assert w["W_enc"].shape == (16, 48) and w["W_dec"].shape == (48, 16)
    assert w["b_enc"].shape == (48,) and w["b_dec"].shape == (16,)
    assert ("threshold" in w) == (expected_arch == "jumprelu")
    if arch == "topk":
        assert cfg["k"] == 5
    back = import_saelens(tmp_path / "lens")
    assert load_sae(tmp_path / "lens").cfg.architecture == back.cfg.architecture
    x = torch.randn(64, 16) * 2
    f = sae.encode(x)
    assert torch.equal(back.encode(x), f)
    assert torch.equal(back.decode(f), sae.decode(f))


def test_saelens_export_follows_saelens_semantics(tmp_path):
    """Re-implement SAELens' inference maths on the exported tensors (sae_in − b_dec·apply, x @ W_enc)."""
    for arch in ARCHS:
        sae = trained_like(arch, norm_scalar=3.0, apply_b_dec_to_input=(arch == "topk"))
        export_saelens(sae, tmp_path / arch)
        cfg = json.loads((tmp_path / arch / "cfg.json").read_text())
        w = load_file(str(tmp_path / arch / "sae_weights.safetensors"))
        x = torch.randn(30, 16) * 5
        pre = (x - w["b_dec"] * cfg["apply_b_dec_to_input"]) @ w["W_enc"] + w["b_enc"]
        if cfg["architecture"] == "standard":
            f = pre.relu()
        elif cfg["architecture"] == "topk":
            v, i = pre.topk(cfg["k"], dim=-1)
            f = torch.zeros_like(pre).scatter(-1, i, v.relu())
        else:
            f = pre.relu() * (pre > w["threshold"])
        out = f @ w["W_dec"] + w["b_dec"]
        assert torch.allclose(f, sae.encode(x), rtol=1e-4, atol=1e-4), arch
        assert torch.allclose(out, sae.reconstruct(x), rtol=1e-4, atol=1e-4), arch


def write_sparsify(path, d=16, n=40, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(n, d, generator=g)
    Wd = W / W.norm(dim=1, keepdim=True)
    t = {"encoder.weight": W.contiguous(), "encoder.bias": 0.1 * torch.randn(n, generator=g),
         "W_dec": Wd.contiguous(), "b_dec": torch.randn(d, generator=g)}
    path.mkdir(parents=True)
    save_file(t, str(path / "sae.safetensors"))
    (path / "cfg.json").write_text(json.dumps({"activation": "topk", "expansion_factor": 32, "normalize_decoder": True,
                                               "num_latents": n, "k": k, "multi_topk": False,
                                               "skip_connection": False, "transcode": False, "d_in": d}))
    return t


def test_sparsify_import_matches_sparsify_forward(tmp_path):
    t = write_sparsify(tmp_path / "layers.6")
    sae = load_sae(tmp_path / "layers.6")
    assert sae.cfg.architecture == "topk" and sae.cfg.k == 4 and sae.cfg.apply_b_dec_to_input
    assert import_sparsify(tmp_path / "layers.6").cfg.n_latents == 40
    x = torch.randn(25, 16)
    # sparsify: pre = relu(encoder(x − b_dec)); top-k; decode = acts @ W_dec + b_dec
    pre = torch.relu((x - t["b_dec"]) @ t["encoder.weight"].T + t["encoder.bias"])
    v, i = pre.topk(4, dim=-1)
    f = torch.zeros_like(pre).scatter(-1, i, v)
    assert torch.allclose(sae.encode(x), f, atol=1e-5)
    assert torch.allclose(sae.reconstruct(x), f @ t["W_dec"] + t["b_dec"], atol=1e-5)


def test_sparsify_unsupported_variants_are_refused(tmp_path):
    write_sparsify(tmp_path / "a")
    cfg = json.loads((tmp_path / "a" / "cfg.json").read_text())
    (tmp_path / "a" / "cfg.json").write_text(json.dumps({**cfg, "transcode": True}))
    with pytest.raises(SAEFormatError, match="transcoder"):
        load_sae(tmp_path / "a")
    (tmp_path / "a" / "cfg.json").write_text(json.dumps({**cfg, "skip_connection": True}))
    with pytest.raises(SAEFormatError, match="skip connection"):
        load_sae(tmp_path / "a")


def test_invalid_sae_paths_raise_documented_error(tmp_path):
    with pytest.raises(SAEFormatError, match="does not exist"):
        load_sae(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SAEFormatError, match="no cfg.json"):
        load_sae(tmp_path / "empty")
    f = tmp_path / "file.bin"
    f.write_bytes(b"x")
    with pytest.raises(SAEFormatError, match="is a file"):
        load_sae(f)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "cfg.json").write_text("{not json")
    with pytest.raises(SAEFormatError, match="not valid JSON"):
        load_sae(tmp_path / "junk")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "cfg.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(SAEFormatError, match="neither"):
        load_sae(tmp_path / "other")
    # native config with a corrupt weights file
    sae = trained_like("topk")
    save_sae(sae, tmp_path / "bad")
    (tmp_path / "bad" / "sae.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(SAEFormatError, match="not a readable safetensors"):
        load_sae(tmp_path / "bad")
    # weights that disagree with cfg.json
    save_sae(sae, tmp_path / "shape")
    cfg = json.loads((tmp_path / "shape" / "cfg.json").read_text())
    (tmp_path / "shape" / "cfg.json").write_text(json.dumps({**cfg, "n_latents": 64}))
    with pytest.raises(SAEFormatError, match="shape"):
        load_sae(tmp_path / "shape")
    # an architecture SAELens has but we do not
    export_saelens(sae, tmp_path / "lens")
    c = json.loads((tmp_path / "lens" / "cfg.json").read_text())
    (tmp_path / "lens" / "cfg.json").write_text(json.dumps({**c, "architecture": "gated"}))
    with pytest.raises(SAEFormatError, match="gated"):
        load_sae(tmp_path / "lens")
