"""Importers for SAE layouts other libraries write: sparsify, Gemma Scope and dictionary_learning.

sparsify (EleutherAI; a directory, e.g. `layers.6/` of a hub repo): cfg.json (k, num_latents,
expansion_factor, normalize_decoder, …, d_in) and sae.safetensors with encoder.weight [n, d], encoder.bias
[n], W_dec [n, d], b_dec [d]. Its encoder sees x − b_dec and applies ReLU before top-k; it imports as a top-k
SAE with apply_b_dec_to_input. The directory name (`layers.6`) is the hook: the output of block 6.

Gemma Scope (Google DeepMind; `layer_12/width_16k/average_l0_82/params.npz` in `google/gemma-scope-2b-pt-res`):
params.npz with W_enc [d, n], b_enc [n], W_dec [n, d], b_dec [d], threshold [n]. JumpReLU on the raw
input: f = ReLU(z)·1[z > θ], z = x W_enc + b_enc (no b_dec subtracted). There is no config file: the model
and hook come from the path (`gemma-scope-2b-pt-res` → gemma-2-2b, residual stream; `layer_12`).

dictionary_learning (Marks et al.; `ae.pt` + `config.json`): a torch state dict and a config whose
`trainer.dict_class` names the class. AutoEncoder (ReLU on encoder(x − bias)), AutoEncoderTopK,
BatchTopKSAE and MatryoshkaBatchTopKSAE (top-k / threshold on ReLU(encoder(x − b_dec))), JumpReluAutoEncoder
(threshold on x W_enc + b_enc, no b_dec subtracted) and GatedAutoEncoder import; `trainer.layer`,
`trainer.submodule_name` and `trainer.lm_name` give the hook and model.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from .config import SAEConfig
from .formats import (NATIVE_WEIGHTS, SAEFormatError, dtype_name, expect_shapes, load_tensors, read_json,
                      sae_from_tensors)
from .hooknames import to_monoscope

CFG = "cfg.json"


# ------------------------------------------------------------------------------------------------
# sparsify
# ------------------------------------------------------------------------------------------------
def import_sparsify(path: str | Path, device: str | torch.device = "cpu"):
    """Read an EleutherAI sparsify SAE directory (top-k, optionally with normalised decoder)."""
    path = Path(path)
    d = read_json(path / CFG)
    if d.get("transcode"):
        raise SAEFormatError(f"{path}: a sparsify transcoder predicts another site's output; only SAEs import")
    if d.get("activation", "topk") != "topk":
        raise SAEFormatError(f"{path}: sparsify activation {d.get('activation')!r} is not supported (topk only)")
    if d.get("skip_connection"):
        raise SAEFormatError(f"{path}: sparsify SAEs with a skip connection are not supported")
    if "d_in" not in d or "k" not in d:
        raise SAEFormatError(f"{path}/cfg.json lacks d_in or k: not a sparsify config")
    tensors = load_tensors(path / NATIVE_WEIGHTS)
    if "encoder.weight" not in tensors:
        raise SAEFormatError(f"{path}/{NATIVE_WEIGHTS} lacks encoder.weight: not a sparsify checkpoint")
    din = int(d["d_in"])
    n = int(d.get("num_latents") or 0) or din * int(d.get("expansion_factor", 32))
    expect_shapes(tensors, {"encoder.weight": (n, din), "encoder.bias": (n,), "W_dec": (n, din), "b_dec": (din,)},
                  path / NATIVE_WEIGHTS)
    hook = d.get("hook") or d.get("hookpoint") or _mapped(path.name)
    cfg = SAEConfig(architecture="topk", d_in=din, n_latents=n, k=int(d["k"]), apply_b_dec_to_input=True,
                    normalize_decoder=bool(d.get("normalize_decoder", True)),
                    dtype=dtype_name(tensors["encoder.weight"].dtype), hook=to_monoscope(hook), model=d.get("model"),
                    metadata={"imported_from": "sparsify", "source": str(path)})
    native = {"W_enc": tensors["encoder.weight"], "b_enc": tensors["encoder.bias"], "W_dec": tensors["W_dec"],
              "b_dec": tensors["b_dec"]}
    return sae_from_tensors(cfg, native, path / NATIVE_WEIGHTS, device)


def _mapped(name: str) -> str | None:
    m = to_monoscope(name)
    return m if m != name else None


# ------------------------------------------------------------------------------------------------
# Gemma Scope
# ------------------------------------------------------------------------------------------------
_GEMMA_REPO = re.compile(r"gemma-scope-(2b|9b|27b)-(pt|it)-(res|mlp|att)")
_GEMMA_SITE = {"res": "resid_post", "mlp": "mlp_out"}


def gemmascope_metadata(path: Path) -> tuple[str | None, str | None]:
    """(model, hook) from a Gemma Scope path: the repo name (also in a hub cache path) and `layer_N`."""
    text = str(path.resolve()).replace("models--google--", "")
    repo, layer = _GEMMA_REPO.search(text), re.search(r"(?:^|/)layer_(\d+)(?:/|$)", text)
    if repo is None:
        return None, None
    size, kind, site = repo.groups()
    model = f"gemma-2-{size}" + ("-it" if kind == "it" else "")
    if layer is None:
        return model, None
    L = int(layer.group(1))
    return model, f"{_GEMMA_SITE[site]}.{L}" if site in _GEMMA_SITE else f"blocks.{L}.attn.hook_z"


def import_gemmascope(path: str | Path, device: str | torch.device = "cpu"):
    """Read a Gemma Scope params.npz directory (JumpReLU) into a monoscope SAE."""
    path = Path(path)
    try:
        with np.load(path / "params.npz") as z:
            arrays = {k: torch.from_numpy(np.array(z[k])) for k in z.files}
    except (OSError, ValueError) as e:
        raise SAEFormatError(f"{path}/params.npz is not a readable .npz file ({e})") from None
    arrays = {("W_" + k[2:] if k.startswith("w_") else k): v for k, v in arrays.items()}
    if "W_enc" not in arrays:
        raise SAEFormatError(f"{path}/params.npz lacks W_enc (has {', '.join(sorted(arrays))}): not Gemma Scope")
    din, n = arrays["W_enc"].shape
    expect_shapes(arrays, {"W_enc": (din, n), "b_enc": (n,), "W_dec": (n, din), "b_dec": (din,), "threshold": (n,)},
                  path / "params.npz")
    sf = arrays.get("scaling_factor")
    if sf is not None and not torch.all(sf == 1):
        raise SAEFormatError(f"{path}: a scaling factor other than 1 is not supported")
    model, hook = gemmascope_metadata(path)
    cfg = SAEConfig(architecture="jumprelu", d_in=int(din), n_latents=int(n), hook=hook, model=model,
                    dtype=dtype_name(arrays["W_enc"].dtype), apply_b_dec_to_input=False, normalize_decoder=False,
                    metadata={"imported_from": "gemmascope", "source": str(path)})
    native = {"W_enc": arrays["W_enc"].T.contiguous(), "b_enc": arrays["b_enc"], "W_dec": arrays["W_dec"],
              "b_dec": arrays["b_dec"], "threshold": arrays["threshold"]}
    return sae_from_tensors(cfg, native, path / "params.npz", device)


# ------------------------------------------------------------------------------------------------
# dictionary_learning
# ------------------------------------------------------------------------------------------------
_DL_CLASSES = ("AutoEncoder", "AutoEncoderTopK", "BatchTopKSAE", "MatryoshkaBatchTopKSAE", "JumpReluAutoEncoder",
               "GatedAutoEncoder")


def import_dictionary_learning(path: str | Path, device: str | torch.device = "cpu"):
    """Read a dictionary_learning directory (ae.pt + config.json) into a monoscope SAE."""
    path = Path(path)
    conf = read_json(path / "config.json")
    tr = conf.get("trainer") if isinstance(conf.get("trainer"), dict) else {}
    cls = tr.get("dict_class")
    if cls not in _DL_CLASSES:
        raise SAEFormatError(f"{path}/config.json: dictionary_learning class {cls!r} is not supported "
                             f"(supported: {', '.join(_DL_CLASSES)})")
    try:
        sd = torch.load(path / "ae.pt", map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickle and zip errors alike
        raise SAEFormatError(f"{path}/ae.pt is not a readable torch state dict ({type(e).__name__}: {e})") from None
    if not isinstance(sd, dict):
        raise SAEFormatError(f"{path}/ae.pt holds a {type(sd).__name__}, not a state dict")
    get = lambda *names: next((sd[k] for k in names if k in sd), None)
    W_dec = get("W_dec")
    W_dec = W_dec if W_dec is not None else _t(get("decoder.weight"))            # [d, n] → [n, d]
    W_enc = get("encoder.weight")
    W_enc = W_enc if W_enc is not None else _t(get("W_enc"))                     # [d, n] → [n, d]
    b_dec = get("b_dec", "bias", "decoder_bias")
    if W_dec is None or W_enc is None or b_dec is None:
        raise SAEFormatError(f"{path}/ae.pt lacks the encoder, decoder or decoder bias "
                             f"(has {', '.join(sorted(sd))}): not a dictionary_learning {cls}")
    n, din = W_dec.shape
    arch = {"AutoEncoder": "relu", "AutoEncoderTopK": "topk", "BatchTopKSAE": "batchtopk",
            "MatryoshkaBatchTopKSAE": "matryoshka", "JumpReluAutoEncoder": "jumprelu", "GatedAutoEncoder": "gated"}[cls]
    kw = {}
    if arch in ("topk", "batchtopk", "matryoshka"):
        k = get("k")
        kw["k"] = int(k) if k is not None else int(tr.get("k") or 0)
    if arch == "matryoshka":
        sizes = get("group_sizes")
        sizes = [int(s) for s in (sizes.tolist() if sizes is not None else tr.get("group_sizes") or [])]
        kw["matryoshka_widths"] = np.cumsum(sizes).tolist() if sizes else None
    native = {"W_enc": W_enc, "b_enc": get("encoder.bias", "b_enc", "gate_bias"), "W_dec": W_dec, "b_dec": b_dec}
    if arch in ("batchtopk", "matryoshka", "jumprelu"):
        th = get("threshold")
        if th is None:
            raise SAEFormatError(f"{path}/ae.pt lacks the threshold a {cls} needs")
        native["threshold"] = th.float().expand(n).clone() if th.ndim == 0 else th
    if arch == "gated":
        native.update(r_mag=get("r_mag"), b_mag=get("mag_bias", "b_mag"))
    if any(v is None for v in native.values()):
        raise SAEFormatError(f"{path}/ae.pt lacks tensors a {cls} needs (has {', '.join(sorted(sd))})")
    layer, sub = tr.get("layer"), tr.get("submodule_name")
    hook = to_monoscope(sub) if sub and to_monoscope(sub) != sub else (f"resid_post.{int(layer)}"
                                                                      if layer is not None else None)
    cfg = SAEConfig(architecture=arch, d_in=int(din), n_latents=int(n), hook=hook, model=tr.get("lm_name"),
                    dtype=dtype_name(W_enc.dtype), apply_b_dec_to_input=arch != "jumprelu", normalize_decoder=False,
                    metadata={"imported_from": "dictionary_learning", "source": str(path),
                              "dictionary_learning_class": cls}, **kw)
    return sae_from_tensors(cfg, native, path / "ae.pt", device)


def _t(w: torch.Tensor | None) -> torch.Tensor | None:
    return None if w is None else w.T.contiguous()
