"""SAE files: native save/load, SAELens export/import, the layouts other libraries write (fixtures written by
sae-lens and eai-sparsify themselves, hand-built Gemma Scope and dictionary_learning), `saelens:` / `hf:`
names resolved from a pre-populated Hugging Face cache (no network), and the one-line errors."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from monoscope.sae import (SAEConfig, SAEError, SAEFormatError, build_sae, export_saelens, import_saelens,
                           import_sparsify, load, load_sae, save_sae)

pytestmark = pytest.mark.usefixtures("one_thread")
FIX = Path(__file__).parent / "fixtures" / "sae"
GEMMA_REPO = FIX / "hub" / "models--google--gemma-scope-2b-pt-res"
GEMMA = next(GEMMA_REPO.glob("snapshots/*/layer_3/width_32/average_l0_5"))
REV = "0123456789abcdef0123456789abcdef01234567"
ARCHS = ["relu", "topk", "batchtopk", "jumprelu", "matryoshka", "gated"]
TO_LENS = {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu", "jumprelu": "jumprelu",
           "matryoshka": "jumprelu", "gated": "gated"}


def trained_like(arch, d=16, n=48, seed=0, **kw):
    """An SAE with non-trivial weights in every tensor (as after training)."""
    if arch in ("topk", "batchtopk", "matryoshka"):
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
        if hasattr(sae, "threshold"):
            sae.threshold.copy_(0.05 + 0.1 * torch.rand(n, generator=g))
        if arch == "gated":
            sae.r_mag.copy_(0.2 * torch.randn(n, generator=g))
            sae.b_mag.copy_(0.1 * torch.randn(n, generator=g))
    return sae.train(False)


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
    assert sorted(p.name for p in (tmp_path / "lens").iterdir()) == ["cfg.json", "sae_weights.safetensors"]
    cfg = json.loads((tmp_path / "lens" / "cfg.json").read_text())
    w = load_file(str(tmp_path / "lens" / "sae_weights.safetensors"))
    assert cfg["architecture"] == TO_LENS[arch] and cfg["d_in"] == 16 and cfg["d_sae"] == 48
    assert cfg["apply_b_dec_to_input"] is (arch == "gated") and cfg["normalize_activations"] == "none"
    # SAELens ≥ 6 metadata, so sae-lens takes its current path (no pre-6.0 hook_name: null failure)
    assert cfg["metadata"]["sae_lens_version"].startswith("6.")
    assert cfg["metadata"]["hook_name"] == "blocks.3.hook_resid_post" and cfg["metadata"]["model_name"] == "tiny"
    assert w["W_enc"].shape == (16, 48) and w["W_dec"].shape == (48, 16) and w["b_dec"].shape == (16,)
    assert ("threshold" in w) == (TO_LENS[arch] == "jumprelu")
    assert ("b_gate" in w and "b_enc" not in w) == (arch == "gated")
    back = import_saelens(tmp_path / "lens")
    assert back.cfg.hook == "resid_post.3"
    x = torch.randn(64, 16) * 2
    f = sae.encode(x)
    assert torch.equal(back.encode(x), f)
    assert torch.equal(back.decode(f), sae.decode(f))


def test_saelens_export_follows_saelens_semantics(tmp_path):
    """Re-implement SAELens' inference maths on the exported tensors (sae_in − b_dec·apply, x @ W_enc)."""
    for arch in ARCHS:
        sae = trained_like(arch, norm_scalar=3.0, apply_b_dec_to_input=arch in ("topk", "gated"))
        export_saelens(sae, tmp_path / arch)
        cfg = json.loads((tmp_path / arch / "cfg.json").read_text())
        w = load_file(str(tmp_path / arch / "sae_weights.safetensors"))
        x = torch.randn(30, 16) * 5
        xin = x - w["b_dec"] * cfg["apply_b_dec_to_input"]
        if cfg["architecture"] == "gated":
            gate = (xin @ w["W_enc"] + w["b_gate"]) > 0
            f = gate * torch.relu(xin @ (w["W_enc"] * w["r_mag"].exp()) + w["b_mag"])
        else:
            pre = xin @ w["W_enc"] + w["b_enc"]
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


def test_every_export_loads_in_saelens_own_loader(tmp_path):
    """sae-lens's `SAE.load_from_disk` reads each export with no edits and computes the same activations."""
    sae_lens = pytest.importorskip("sae_lens")
    for arch in ARCHS:
        sae = trained_like(arch, norm_scalar=1.5).exported()
        export_saelens(sae, tmp_path / arch)
        lens = sae_lens.SAE.load_from_disk(str(tmp_path / arch))
        assert lens.cfg.metadata.hook_name == "blocks.3.hook_resid_post"
        x = torch.randn(40, 16) * 2
        with torch.no_grad():
            f = lens.encode(x)
            assert torch.allclose(f, sae.encode(x), atol=1e-5), arch
            assert torch.allclose(lens.decode(f), sae.decode(f), atol=1e-5), arch


# ---- the layouts other libraries write ---------------------------------------------------------------------
LIBRARY_FIXTURES = {  # directory → (architecture, hook, model) after import
    "saelens_standard": ("relu", "resid_post.2", "tiny-llama"),
    "saelens_topk": ("topk", "resid_post.2", "tiny-llama"),
    "saelens_topk_rescaled": ("topk", "resid_post.2", "tiny-llama"),
    "saelens_jumprelu": ("jumprelu", "resid_post.2", "tiny-llama"),
    "saelens_gated": ("gated", "resid_post.2", "tiny-llama"),
    "sparsify/layers.2": ("topk", "resid_post.2", None),
    "dictionary_learning_topk": ("topk", "resid_post.2", "org/tiny-llama"),
    "dictionary_learning_relu": ("relu", "resid_post.2", "org/tiny-llama"),
}


@pytest.mark.parametrize("name", [*LIBRARY_FIXTURES, "gemmascope"])
def test_library_layouts_import_and_match_the_library(name):
    """Each fixture holds the writing library's own activations and reconstruction of an input batch
    (tests/fixtures/make_sae_fixtures.py); the import must reproduce them and read model and hook from the
    file's metadata (TransformerLens / sparsify / dictionary_learning / Gemma Scope names → monoscope's)."""
    path = GEMMA if name == "gemmascope" else FIX / name
    arch, hook, model = ("jumprelu", "resid_post.3", "gemma-2-2b") if name == "gemmascope" else LIBRARY_FIXTURES[name]
    e = load_file(str(path / "expected.safetensors"))
    sae = load_sae(path)
    assert (sae.cfg.architecture, sae.cfg.hook, sae.cfg.model) == (arch, hook, model)
    with torch.no_grad():
        f = sae.encode(e["x"])
        assert torch.equal(f != 0, e["acts"] != 0), "a different set of latents fires"
        assert torch.allclose(f, e["acts"], atol=1e-5)
        assert torch.allclose(sae.decode(f), e["recon"], atol=1e-5)


def test_saelens_rescaled_topk_is_folded_exactly():
    """rescale_acts_by_decoder_norm=True (SAELens's top-k training default) imports with the norms folded:
    unit decoder rows, the same top-k selection and values as sae-lens computed."""
    sae = load_sae(FIX / "saelens_topk_rescaled")
    raw = load_file(str(FIX / "saelens_topk_rescaled" / "sae_weights.safetensors"))
    assert json.loads((FIX / "saelens_topk_rescaled" / "cfg.json").read_text())["rescale_acts_by_decoder_norm"]
    assert raw["W_dec"].norm(dim=1).std() > 0.1                              # the norms really differ
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(32), atol=1e-6)
    assert sae.cfg.decoder_norms_folded


# ---- names: hf: and saelens: from a pre-populated Hugging Face cache (the network is never used) ----------
def add_to_cache(cache: Path, repo: str, files: dict[str, Path]) -> None:
    """Lay out `repo` as huggingface_hub's cache does (refs/main → snapshots/REV/…)."""
    base = cache / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(REV)
    for rel, src in files.items():
        dst = base / "snapshots" / REV / rel
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    """huggingface_hub pointed at a local cache, offline: what a user's machine has after one download."""
    import huggingface_hub.constants as hc

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    shutil.copytree(GEMMA_REPO, cache / GEMMA_REPO.name)
    add_to_cache(cache, "EleutherAI/sae-tiny-32x", {"layers.2": FIX / "sparsify" / "layers.2",
                                                    "layers.3": FIX / "sparsify" / "layers.2"})
    add_to_cache(cache, "someone/saelens-tiny", {"blocks.2.hook_resid_post": FIX / "saelens_topk"})
    add_to_cache(cache, "someone/dl-tiny", {"resid_post_layer_2/trainer_0": FIX / "dictionary_learning_topk"})
    add_to_cache(cache, "someone/junk", {"folder/weights.bin": FIX / "saelens_topk" / "cfg.json"})
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    return cache


def test_hf_names_resolve_every_layout_from_the_cache(hub):
    sp = load("hf:EleutherAI/sae-tiny-32x/layers.2")
    assert sp.cfg.architecture == "topk" and sp.cfg.hook == "resid_post.2"
    assert sp.cfg.metadata["source"] == "hf:EleutherAI/sae-tiny-32x/layers.2"
    e = load_file(str(FIX / "sparsify" / "layers.2" / "expected.safetensors"))
    assert torch.allclose(sp.encode(e["x"]), e["acts"], atol=1e-5)
    gs = load_sae("hf:google/gemma-scope-2b-pt-res/layer_3/width_32/average_l0_5")
    assert (gs.cfg.architecture, gs.cfg.model, gs.cfg.hook) == ("jumprelu", "gemma-2-2b", "resid_post.3")
    assert load_sae("hf:someone/saelens-tiny/blocks.2.hook_resid_post").cfg.hook == "resid_post.2"
    dl = load_sae("hf:someone/dl-tiny/resid_post_layer_2/trainer_0")
    assert (dl.cfg.architecture, dl.cfg.k, dl.cfg.hook) == ("topk", 4, "resid_post.2")


def test_hf_bad_names_are_one_line_errors(hub):
    with pytest.raises(SAEFormatError, match="several SAEs.*layers.2, layers.3"):
        load_sae("hf:EleutherAI/sae-tiny-32x")
    with pytest.raises(SAEFormatError) as e:
        load_sae("hf:someone/junk/folder")
    msg = str(e.value)
    assert "\n" not in msg and all(k in msg for k in ("SAELens", "sparsify", "Gemma Scope", "dictionary_learning"))
    with pytest.raises(SAEError, match="no folder 'layers.22'; nearest: layers.2"):
        load_sae("hf:EleutherAI/sae-tiny-32x/layers.22")
    with pytest.raises(SAEError, match="not in the Hugging Face cache"):
        load_sae("hf:nobody/not-downloaded/x")
    with pytest.raises(SAEError, match="hf:ORG/REPO"):
        load_sae("hf:justonepart")


def test_saelens_names_resolve_through_the_registry(hub):
    pytest.importorskip("sae_lens")
    from monoscope.sae.pretrained import saelens_registry

    look = saelens_registry()["gemma-scope-2b-pt-res"]
    sae_id = next(i for i in look.saes_map if i.startswith("layer_3/"))
    add_to_cache(hub, look.repo_id, {look.saes_map[sae_id]: GEMMA})      # a tiny stand-in at the real path
    sae = load_sae(f"saelens:gemma-scope-2b-pt-res/{sae_id}")
    assert (sae.cfg.model, sae.cfg.hook) == ("gemma-2-2b", "resid_post.3")
    with pytest.raises(SAEError, match="unknown SAELens release 'gemma-scope-2b-pt-rse'; did you mean "
                                       "gemma-scope-2b-pt-res"):
        load_sae("saelens:gemma-scope-2b-pt-rse/layer_3/width_16k/canonical")
    with pytest.raises(SAEError, match="has no SAE id 'layer_3/width_16k/average_l0_999'; nearest: layer_3/width_16k"):
        load_sae("saelens:gemma-scope-2b-pt-res/layer_3/width_16k/average_l0_999")


def test_saelens_names_without_sae_lens_say_what_to_install(monkeypatch):
    for mod in [m for m in sys.modules if m == "sae_lens" or m.startswith("sae_lens.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "sae_lens", None)                   # import sae_lens → ImportError
    with pytest.raises(SAEError, match=r"pip install 'monoscope\[saelens\]'"):
        load_sae("saelens:gemma-scope-2b-pt-res/layer_3/width_16k/canonical")


# ---- the SAE against the model it is used with ----------------------------------------------------------
def test_model_mismatch_and_width_mismatch_are_one_line_errors(tiny_lm):
    from monoscope.models.hooks import HookPointError

    sae = load_sae(FIX / "saelens_topk", model="someorg/tiny-llama")          # same model, another path prefix
    assert sae.cfg.model == "tiny-llama"
    with pytest.raises(SAEError, match="trained on 'tiny-llama', not 'gpt2'"):
        load_sae(FIX / "saelens_topk", model="gpt2")
    # tiny_lm (tiny-llama, 3 layers) is 32 wide; the fixture SAE reads 16-wide activations
    with pytest.raises(SAEError, match="reads 16-wide activations, but tiny-llama's resid_post.2 is 32 wide"):
        load_sae(FIX / "saelens_topk", model=tiny_lm)
    with pytest.raises(HookPointError):
        load_sae(GEMMA,
                 model=type("M", (), {"name": "gemma-2-2b", "source": "", "d_model": 16,
                                      "hooked": tiny_lm.hooked})())   # layer 3 of a 3-layer model: no such site


def test_cli_sae_errors_are_one_line(tmp_path, capsys):
    from monoscope.cli import main

    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "cfg.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(SystemExit) as e:
        main(["eval", "--sae", str(tmp_path / "junk"), "--store", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("error:") and "Gemma Scope" in err


# ---- sparsify by hand and bad files ----------------------------------------------------------------------
def write_sparsify(path, d=16, n=40, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(n, d, generator=g)
    t = {"encoder.weight": W.contiguous(), "encoder.bias": 0.1 * torch.randn(n, generator=g),
         "W_dec": (W / W.norm(dim=1, keepdim=True)).contiguous(), "b_dec": torch.randn(d, generator=g)}
    path.mkdir(parents=True)
    save_file(t, str(path / "sae.safetensors"))
    (path / "cfg.json").write_text(json.dumps({"activation": "topk", "expansion_factor": 32, "normalize_decoder": True,
                                               "num_latents": n, "k": k, "multi_topk": False,
                                               "skip_connection": False, "transcode": False, "d_in": d}))
    return t


def test_sparsify_unsupported_variants_are_refused(tmp_path):
    write_sparsify(tmp_path / "a")
    assert import_sparsify(tmp_path / "a").cfg.n_latents == 40
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
    with pytest.raises(SAEFormatError, match="holds no cfg.json, params.npz or ae.pt"):
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
    with pytest.raises(SAEFormatError, match="match no SAE layout"):
        load_sae(tmp_path / "other")
    sae = trained_like("topk")
    save_sae(sae, tmp_path / "bad")
    (tmp_path / "bad" / "sae.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(SAEFormatError, match="not a readable safetensors"):
        load_sae(tmp_path / "bad")
    save_sae(sae, tmp_path / "shape")
    cfg = json.loads((tmp_path / "shape" / "cfg.json").read_text())
    (tmp_path / "shape" / "cfg.json").write_text(json.dumps({**cfg, "n_latents": 64}))
    with pytest.raises(SAEFormatError, match="shape"):
        load_sae(tmp_path / "shape")
    export_saelens(sae, tmp_path / "lens")
    c = json.loads((tmp_path / "lens" / "cfg.json").read_text())
    (tmp_path / "lens" / "cfg.json").write_text(json.dumps({**c, "architecture": "transcoder"}))
    with pytest.raises(SAEFormatError, match="'transcoder' is not supported"):
        load_sae(tmp_path / "lens")
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "ae.pt").write_bytes(b"not a pickle")
    (tmp_path / "dl" / "config.json").write_text(json.dumps({"trainer": {"dict_class": "AutoEncoderTopK"}}))
    with pytest.raises(SAEFormatError, match="ae.pt is not a readable torch state dict"):
        load_sae(tmp_path / "dl")
