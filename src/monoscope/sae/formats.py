"""SAE files: the native format, SAELens export/import, and `load_sae`, the one loader behind every `--sae`.

`load_sae(NAME)` takes
    a local directory       in any layout below (detected from its files)
    saelens:RELEASE/SAE_ID  an id from the SAELens pretrained registry (needs `pip install 'monoscope[saelens]'`)
    hf:ORG/REPO[/PATH]      a Hugging Face repo (or a folder in it) in any layout below
and returns a monoscope SAE whose `cfg.hook` is a monoscope site name (`resid_post.12`) and `cfg.model` the
model it was trained on, taken from the file's own metadata where it has them.

Native (a directory):
    cfg.json          `SAEConfig` (format "monoscope-sae", format_version 1)
    sae.safetensors   W_enc [n, d], b_enc [n], W_dec [n, d], b_dec [d]
                      (+ threshold [n] for jumprelu, batchtopk, matryoshka; + r_mag, b_mag [n] for gated)

SAELens (a directory, the layout `SAE.save_model` writes and `SAE.load_from_disk` reads; SAELens ≥ 6):
    cfg.json                 architecture, d_in, d_sae, dtype, device, apply_b_dec_to_input,
                             normalize_activations, reshape_activations, k, metadata (sae_lens_version,
                             model_name, hook_name, …)
    sae_weights.safetensors  W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in]
                             (+ threshold for jumprelu; gated: b_gate, r_mag, b_mag instead of b_enc)
  relu ↔ standard, topk ↔ topk, jumprelu ↔ jumprelu, gated ↔ gated; batchtopk and matryoshka export as
  jumprelu (their inference form, as SAELens saves them). Export folds the normalisation scalar (SAELens has
  no fixed-scalar mode), writes the hook in TransformerLens form (`blocks.3.hook_resid_post`) and keeps
  every weight bit for bit otherwise, so export → import gives bit-identical encode/decode. SAELens top-k
  files saved with `rescale_acts_by_decoder_norm=True` import with the decoder norms folded into the encoder
  (W_e·‖d‖, b_e·‖d‖, W_d/‖d‖): the same activations and reconstructions, with unit decoder rows.

sparsify, Gemma Scope and dictionary_learning directories import through `monoscope.sae.layouts`.
Anything else raises `SAEFormatError` saying what was found and which layouts monoscope knows.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from ..fileio import atomic_save_safetensors, atomic_write, atomic_write_text
from .config import SAEConfig, SAEError
from .hooknames import to_monoscope, to_transformerlens

NATIVE_WEIGHTS = "sae.safetensors"
SAELENS_WEIGHTS = "sae_weights.safetensors"
CFG = "cfg.json"
SAELENS_FORMAT_VERSION = "6.0.0"   # the SAELens config format the export follows (sae-lens reads ≥ 6 files as is)
KNOWN_LAYOUTS = ("monoscope (cfg.json with format 'monoscope-sae' + sae.safetensors)",
                 "SAELens (cfg.json + sae_weights.safetensors)",
                 "sparsify (cfg.json with k/num_latents + sae.safetensors)",
                 "Gemma Scope (params.npz)",
                 "dictionary_learning (ae.pt + config.json)")

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
           "torch.float32": torch.float32, "torch.float16": torch.float16, "torch.bfloat16": torch.bfloat16,
           "float64": torch.float64, "torch.float64": torch.float64}


class SAEFormatError(SAEError):
    """The path does not hold an SAE in a format monoscope reads, or the files are inconsistent."""


def known_layouts() -> str:
    return "; ".join(KNOWN_LAYOUTS)


# ------------------------------------------------------------------------------------------------
# file helpers
# ------------------------------------------------------------------------------------------------
def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None):
    atomic_save_safetensors(path, tensors, metadata)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise SAEFormatError(f"{path} does not exist") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise SAEFormatError(f"{path} is not a readable safetensors file ({e})") from None


def read_json(path: Path) -> dict:
    try:
        d = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SAEFormatError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SAEFormatError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise SAEFormatError(f"{path} must hold a JSON object")
    return d


def expect_shapes(tensors: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]], where: Path) -> None:
    missing = [k for k in shapes if k not in tensors]
    if missing:
        raise SAEFormatError(f"{where} lacks tensor(s) {', '.join(missing)} (has {', '.join(sorted(tensors))})")
    for k, shape in shapes.items():
        if tuple(tensors[k].shape) != tuple(shape):
            raise SAEFormatError(f"{where}: tensor {k} has shape {tuple(tensors[k].shape)}, expected {shape} "
                                 f"from its config")


def dtype_name(d: Any) -> str:
    s = str(d or "float32").replace("torch.", "")
    return s if s in _DTYPES else "float32"


# ------------------------------------------------------------------------------------------------
# native
# ------------------------------------------------------------------------------------------------
def native_shapes(cfg: SAEConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor the architecture holds, with its shape (built on the meta device: no memory)."""
    with torch.device("meta"):
        sae = build_sae(cfg)
    return {k: tuple(v.shape) for k, v in sae.state_dict().items()}


def save_sae(sae, path: str | Path) -> Path:
    """Write `sae` (weights in cfg.dtype) to a directory in the native format; each file atomically."""
    path = Path(path)
    dtype = _DTYPES.get(sae.cfg.dtype, torch.float32)
    tensors = {k: v.to(dtype) for k, v in sae.state_dict().items()}
    atomic_save_tensors(path / NATIVE_WEIGHTS, tensors, metadata={"format": "monoscope-sae",
                                                                  "sha256": tensors_digest(tensors)})
    atomic_write_text(path / CFG, sae.cfg.to_json())
    return path


def build_sae(cfg: SAEConfig):
    from .architectures import ARCHITECTURE_CLASSES

    return ARCHITECTURE_CLASSES[cfg.architecture](cfg)


def sae_from_tensors(cfg: SAEConfig, tensors: dict[str, torch.Tensor], where: Path, device="cpu"):
    """A monoscope SAE from native-layout tensors (checked against the config's shapes)."""
    shapes = native_shapes(cfg)
    expect_shapes(tensors, shapes, where)
    sae = build_sae(cfg)
    dtype = _DTYPES.get(cfg.dtype, torch.float32)
    sae.load_state_dict({k: tensors[k] for k in shapes}, strict=True)
    return sae.to(device=device, dtype=dtype).train(False)


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the tensors' names, dtypes, shapes and bytes, in name order: stored in the native file's
    metadata, so a flipped byte in the weights is found when they are read (the header carries the digest)."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_native(path: str | Path, device: str | torch.device = "cpu"):
    path = Path(path)
    cfg = SAEConfig.load(path / CFG)
    tensors = load_tensors(path / NATIVE_WEIGHTS)
    try:
        with safe_open(str(path / NATIVE_WEIGHTS), "pt") as f:
            want = (f.metadata() or {}).get("sha256")
    except (SafetensorError, OSError) as e:
        raise SAEFormatError(f"{path / NATIVE_WEIGHTS} is not a readable safetensors file ({e})") from None
    if want and tensors_digest(tensors) != want:
        raise SAEFormatError(f"{path / NATIVE_WEIGHTS}: checksum mismatch (the weights are corrupt); retrain, or "
                             f"export the SAE again from its checkpoint")
    return sae_from_tensors(cfg, tensors, path / NATIVE_WEIGHTS, device)


# ------------------------------------------------------------------------------------------------
# detection and the one loader
# ------------------------------------------------------------------------------------------------
def detect_format(path: str | Path) -> str:
    """'native', 'saelens', 'sparsify', 'gemmascope' or 'dictionary_learning'; SAEFormatError naming the
    layouts monoscope knows when the directory holds none of them."""
    path = Path(path)
    if not path.exists():
        raise SAEFormatError(f"{path} does not exist")
    if path.is_file():
        if path.name in ("params.npz", "ae.pt", CFG, NATIVE_WEIGHTS, SAELENS_WEIGHTS):
            raise SAEFormatError(f"{path} is a file; pass the directory that holds it ({path.parent})")
        raise SAEFormatError(f"{path} is a file; an SAE is a directory in one of these layouts: {known_layouts()}")
    if (path / "params.npz").exists():
        return "gemmascope"
    if (path / "ae.pt").exists() and (path / "config.json").exists():
        return "dictionary_learning"
    if not (path / CFG).exists():
        subs = sorted(p.name for p in path.iterdir() if p.is_dir() and _looks_like_sae(p))
        if subs:
            more = f" … ({len(subs)} in all)" if len(subs) > 5 else ""
            raise SAEFormatError(f"{path} holds several SAEs, not one: name a subdirectory, e.g. "
                                 f"{', '.join(subs[:5])}{more}")
        raise SAEFormatError(f"{path} holds no cfg.json, params.npz or ae.pt: not an SAE directory in a layout "
                             f"monoscope reads ({known_layouts()})")
    cfg = read_json(path / CFG)
    if cfg.get("format") == "monoscope-sae":
        return "native"
    if (path / SAELENS_WEIGHTS).exists():
        return "saelens"
    if (path / NATIVE_WEIGHTS).exists() and ("num_latents" in cfg or "expansion_factor" in cfg):
        return "sparsify"
    raise SAEFormatError(f"{path}: its files match no SAE layout monoscope reads (cfg.json keys: "
                         f"{', '.join(sorted(cfg)[:8]) or 'none'}); it knows: {known_layouts()}")


def _looks_like_sae(p: Path) -> bool:
    return any((p / f).exists() for f in (CFG, "params.npz", "ae.pt"))


def load_sae(name: str | Path, device: str | torch.device = "cpu", *, model: Any = None):
    """Load an SAE by local directory (any supported layout), `saelens:RELEASE/SAE_ID` or `hf:ORG/REPO[/PATH]`.

    `model` (a model name or a loaded `monoscope.models.LoadedModel`) is checked against the SAE's own
    metadata: another model, a hook the model lacks, or a d_in that is not the model's width is an
    `SAEError`. Hook names from other libraries are mapped onto monoscope's (`resid_post.12`).
    """
    hints: dict[str, Any] = {}
    s = str(name)
    if s.startswith(("saelens:", "hf:")):
        from .pretrained import resolve

        path, hints = resolve(s)
    else:
        path = Path(name)
    sae = _load_dir(path, device, hints)
    cfg = sae.cfg
    cfg.hook = to_monoscope(cfg.hook or hints.get("hook"))
    cfg.model = cfg.model or hints.get("model")
    if hints.get("source"):
        cfg.metadata["source"] = hints["source"]
    if model is not None:
        check_model(sae, model)
    return sae


def _load_dir(path: Path, device, hints: dict[str, Any]):
    fmt = detect_format(path)
    if fmt == "native":
        return load_native(path, device)
    if fmt == "saelens":
        return import_saelens(path, device)
    from . import layouts

    return {"sparsify": layouts.import_sparsify, "gemmascope": layouts.import_gemmascope,
            "dictionary_learning": layouts.import_dictionary_learning}[fmt](path, device)


def same_model(a: str, b: str) -> bool:
    """Model names from different sources name one model when their last path parts agree
    (`gemma-2-2b` in Gemma Scope metadata, `google/gemma-2-2b` on the hub)."""
    norm = lambda s: str(s).split(":")[-1].rstrip("/").split("/")[-1].lower()
    return norm(a) == norm(b)


def check_model(sae, model: Any) -> None:
    """One `SAEError` line when `sae` was not made for `model` (a name or a LoadedModel)."""
    cfg = sae.cfg
    names = [model] if isinstance(model, str) else [getattr(model, "name", ""), str(getattr(model, "source", ""))]
    names = [n for n in names if n]
    if cfg.model and names and not any(same_model(cfg.model, n) for n in names):
        raise SAEError(f"this SAE was trained on {cfg.model!r}, not {names[0]!r}: pass --model {cfg.model} "
                       f"(or an SAE trained on {names[0]})")
    if isinstance(model, str):
        return
    d_model = getattr(model, "d_model", None)
    if cfg.hook and hasattr(model, "hooked"):
        model.hooked.parse(cfg.hook)          # a site the model lacks → HookPointError listing the valid ones
    if d_model is not None and int(d_model) != cfg.d_in:
        raise SAEError(f"this SAE reads {cfg.d_in}-wide activations, but {names[0] if names else 'the model'}'s "
                       f"{cfg.hook or 'hook'} is {d_model} wide: the SAE belongs to another model")


# ------------------------------------------------------------------------------------------------
# SAELens
# ------------------------------------------------------------------------------------------------
_TO_SAELENS = {"relu": "standard", "topk": "topk", "jumprelu": "jumprelu", "batchtopk": "jumprelu",
               "matryoshka": "jumprelu", "gated": "gated"}
_FROM_SAELENS = {"standard": "relu", "topk": "topk", "jumprelu": "jumprelu", "gated": "gated"}


def export_saelens(sae, path: str | Path) -> Path:
    """Write `sae` as a SAELens (≥ 6) inference SAE: cfg.json + sae_weights.safetensors, loadable by
    `sae_lens.SAE.load_from_disk` without edits."""
    path = Path(path)
    s = copy.deepcopy(sae).float()
    s.cfg = copy.deepcopy(sae.cfg)
    s.fold_norm_scalar()
    cfg = s.cfg
    arch = _TO_SAELENS[cfg.architecture]
    tensors = {"W_enc": s.W_enc.detach().T.contiguous(), "b_enc": s.b_enc.detach(),
               "W_dec": s.W_dec.detach(), "b_dec": s.b_dec.detach()}
    if arch == "jumprelu":
        tensors["threshold"] = s.threshold.detach()
    if arch == "gated":
        tensors["b_gate"] = tensors.pop("b_enc")
        tensors["r_mag"], tensors["b_mag"] = s.r_mag.detach(), s.b_mag.detach()
    dtype = _DTYPES.get(cfg.dtype, torch.float32)
    tensors = {k: v.to(dtype) for k, v in tensors.items()}
    meta = {"sae_lens_version": SAELENS_FORMAT_VERSION, "sae_lens_training_version": None,
            "model_name": cfg.model, "hook_name": to_transformerlens(cfg.hook), "hook_head_index": None,
            "prepend_bos": True, "context_size": cfg.metadata.get("context_size"),
            "dataset_path": cfg.metadata.get("dataset"),
            "monoscope": {"architecture": cfg.architecture, "hook": cfg.hook,
                          "folded_norm_scalar": cfg.folded_norm_scalar,
                          "decoder_norms_folded": cfg.decoder_norms_folded}}
    d = {"architecture": arch, "d_in": cfg.d_in, "d_sae": cfg.n_latents, "dtype": cfg.dtype, "device": "cpu",
         "apply_b_dec_to_input": bool(cfg.apply_b_dec_to_input), "normalize_activations": "none",
         "reshape_activations": "none", "metadata": meta}
    if arch == "topk":
        d["k"] = int(cfg.k)
        d["rescale_acts_by_decoder_norm"] = False
    atomic_save_tensors(path / SAELENS_WEIGHTS, tensors)
    atomic_write_text(path / CFG, json.dumps(d, indent=2))
    return path


def import_saelens(path: str | Path, device: str | torch.device = "cpu"):
    """Read a SAELens SAE directory (standard, topk, jumprelu or gated) into a monoscope SAE."""
    path = Path(path)
    d = read_json(path / CFG)
    arch = d.get("architecture", "standard")
    if arch not in _FROM_SAELENS:
        raise SAEFormatError(f"{path}: SAELens architecture {arch!r} is not supported "
                             f"(supported: {', '.join(_FROM_SAELENS)})")
    for key in ("d_in", "d_sae"):
        if key not in d:
            raise SAEFormatError(f"{path}/cfg.json lacks {key!r}: not a SAELens config")
    norm = d.get("normalize_activations") or "none"
    if norm not in ("none", False):
        raise SAEFormatError(f"{path}: normalize_activations={norm!r} needs a data-dependent scale that the "
                             f"file does not carry; fold it into the weights first")
    if (d.get("reshape_activations") or "none") != "none":
        raise SAEFormatError(f"{path}: reshape_activations={d['reshape_activations']!r} (hook_z) is not supported")
    tensors = load_tensors(path / SAELENS_WEIGHTS)
    sf = tensors.pop("scaling_factor", tensors.pop("finetuning_scaling_factor", None))
    if sf is not None and not torch.all(sf == 1):
        raise SAEFormatError(f"{path}: a finetuning scaling factor is not supported")
    n, din = int(d["d_sae"]), int(d["d_in"])
    bias = "b_gate" if arch == "gated" else "b_enc"
    shapes = {"W_enc": (din, n), bias: (n,), "W_dec": (n, din), "b_dec": (din,)}
    if arch == "jumprelu":
        shapes["threshold"] = (n,)
    if arch == "gated":
        shapes.update(r_mag=(n,), b_mag=(n,))
    expect_shapes(tensors, shapes, path / SAELENS_WEIGHTS)
    meta = d.get("metadata") or d.get("meta") or {}
    mono = meta.get("monoscope") or {}
    k = d.get("k") or (d.get("activation_fn_kwargs") or {}).get("k")
    ours = _FROM_SAELENS[arch]
    cfg = SAEConfig(architecture=ours, d_in=din, n_latents=n, k=int(k) if ours == "topk" else None,
                    hook=mono.get("hook") or to_monoscope(meta.get("hook_name", d.get("hook_name"))),
                    model=meta.get("model_name", d.get("model_name")), dtype=dtype_name(d.get("dtype")),
                    apply_b_dec_to_input=bool(d.get("apply_b_dec_to_input", True)), normalize_decoder=False,
                    decoder_norms_folded=bool(mono.get("decoder_norms_folded", False)),
                    folded_norm_scalar=mono.get("folded_norm_scalar"),
                    metadata={"imported_from": "saelens", "source": str(path), "saelens_architecture": arch})
    native = {"W_enc": tensors["W_enc"].T.contiguous(), "b_enc": tensors[bias], "W_dec": tensors["W_dec"],
              "b_dec": tensors["b_dec"]}
    if ours == "jumprelu":
        native["threshold"] = tensors["threshold"]
    if ours == "gated":
        native.update(r_mag=tensors["r_mag"], b_mag=tensors["b_mag"])
    if ours == "topk" and d.get("rescale_acts_by_decoder_norm"):
        native = _fold_rescale(native)
        cfg.decoder_norms_folded = True
        cfg.metadata["folded_rescale_acts_by_decoder_norm"] = True
    return sae_from_tensors(cfg, native, path / SAELENS_WEIGHTS, device)


def _fold_rescale(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SAELens `rescale_acts_by_decoder_norm`: top-k over z·‖d‖, decode (f/‖d‖)·W_d. Folding ‖d‖ into the
    encoder gives the same selection and activations with unit decoder rows (exact up to float rounding)."""
    s = t["W_dec"].float().norm(dim=1)
    s = torch.where(s > 0, s, torch.ones_like(s))
    dt = t["W_enc"].dtype
    return {**t, "W_enc": (t["W_enc"].float() * s[:, None]).to(dt), "b_enc": (t["b_enc"].float() * s).to(dt),
            "W_dec": (t["W_dec"].float() / s[:, None]).to(dt)}
