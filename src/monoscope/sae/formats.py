"""SAE files: the native format, SAELens export/import, and sparsify import.

Native (a directory):
    cfg.json          `SAEConfig` (format "monoscope-sae", format_version 1)
    sae.safetensors   W_enc [n, d], b_enc [n], W_dec [n, d], b_dec [d]
                      (+ threshold [n] for jumprelu and batchtopk)

SAELens (a directory, the layout `SAE.save_model` writes and `SAE.load_from_disk` reads):
    cfg.json                 architecture ("standard" | "topk" | "jumprelu"), d_in, d_sae, dtype, device,
                             apply_b_dec_to_input, normalize_activations, reshape_activations, k, metadata
    sae_weights.safetensors  W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in]
                             (+ threshold [d_sae] for jumprelu)
  relu ↔ standard, topk ↔ topk, jumprelu ↔ jumprelu; batchtopk exports as jumprelu (its inference form).
  Export folds the normalisation scalar (SAELens has no fixed-scalar mode) and keeps every weight bit for
  bit otherwise, so export → import gives bit-identical encode/decode.

sparsify (EleutherAI; a directory): cfg.json (k, num_latents, expansion_factor, normalize_decoder, …, d_in)
and sae.safetensors with encoder.weight [n, d], encoder.bias [n], W_dec [n, d], b_dec [d]. Its encoder sees
x − b_dec and applies ReLU before top-k; it imports as a top-k SAE with apply_b_dec_to_input.

Anything else raises `SAEFormatError` saying what was found and what was expected.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..fileio import atomic_write, atomic_write_text
from .config import SAEConfig, SAEError

NATIVE_WEIGHTS = "sae.safetensors"
SAELENS_WEIGHTS = "sae_weights.safetensors"
CFG = "cfg.json"

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
           "torch.float32": torch.float32, "torch.float16": torch.float16, "torch.bfloat16": torch.bfloat16,
           "float64": torch.float64, "torch.float64": torch.float64}


class SAEFormatError(SAEError):
    """The path does not hold an SAE in a format monoscope reads, or the files are inconsistent."""


# ------------------------------------------------------------------------------------------------
# atomic file helpers
# ------------------------------------------------------------------------------------------------
def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None):
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise SAEFormatError(f"{path} does not exist") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise SAEFormatError(f"{path} is not a readable safetensors file ({e})") from None


def _read_json(path: Path) -> dict:
    try:
        d = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SAEFormatError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SAEFormatError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise SAEFormatError(f"{path} must hold a JSON object")
    return d


def _expect(tensors: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]], where: Path) -> None:
    missing = [k for k in shapes if k not in tensors]
    if missing:
        raise SAEFormatError(f"{where} lacks tensor(s) {', '.join(missing)} (has {', '.join(sorted(tensors))})")
    for k, shape in shapes.items():
        if tuple(tensors[k].shape) != tuple(shape):
            raise SAEFormatError(f"{where}: tensor {k} has shape {tuple(tensors[k].shape)}, expected {shape} "
                                 f"from cfg.json")


# ------------------------------------------------------------------------------------------------
# native
# ------------------------------------------------------------------------------------------------
def _native_shapes(cfg: SAEConfig) -> dict[str, tuple[int, ...]]:
    n, d = cfg.n_latents, cfg.d_in
    shapes = {"W_enc": (n, d), "b_enc": (n,), "W_dec": (n, d), "b_dec": (d,)}
    if cfg.architecture in ("jumprelu", "batchtopk"):
        shapes["threshold"] = (n,)
    return shapes


def save_sae(sae, path: str | Path) -> Path:
    """Write `sae` (weights in cfg.dtype) to a directory in the native format; each file atomically."""
    path = Path(path)
    dtype = _DTYPES.get(sae.cfg.dtype, torch.float32)
    tensors = {k: v.to(dtype) for k, v in sae.state_dict().items()}
    atomic_save_tensors(path / NATIVE_WEIGHTS, tensors, metadata={"format": "monoscope-sae"})
    atomic_write_text(path / CFG, sae.cfg.to_json())
    return path


def build_sae(cfg: SAEConfig):
    from . import ARCHITECTURE_CLASSES

    return ARCHITECTURE_CLASSES[cfg.architecture](cfg)


def _from_tensors(cfg: SAEConfig, tensors: dict[str, torch.Tensor], where: Path, device="cpu"):
    _expect(tensors, _native_shapes(cfg), where)
    sae = build_sae(cfg)
    dtype = _DTYPES.get(cfg.dtype, torch.float32)
    sd = {k: tensors[k] for k in _native_shapes(cfg)}
    sae.load_state_dict(sd, strict=True)
    return sae.to(device=device, dtype=dtype).train(False)


def load_native(path: str | Path, device: str | torch.device = "cpu"):
    path = Path(path)
    cfg = SAEConfig.load(path / CFG)
    return _from_tensors(cfg, _load_tensors(path / NATIVE_WEIGHTS), path / NATIVE_WEIGHTS, device)


def detect_format(path: str | Path) -> str:
    """'native', 'saelens' or 'sparsify'; SAEFormatError when the directory holds none of them."""
    path = Path(path)
    if not path.exists():
        raise SAEFormatError(f"{path} does not exist")
    if path.is_file():
        raise SAEFormatError(f"{path} is a file; an SAE is a directory holding cfg.json and weights "
                             f"({NATIVE_WEIGHTS} or {SAELENS_WEIGHTS})")
    if not (path / CFG).exists():
        raise SAEFormatError(f"{path} holds no {CFG}: not an SAE directory (native, SAELens or sparsify)")
    cfg = _read_json(path / CFG)
    if cfg.get("format") == "monoscope-sae":
        return "native"
    if (path / SAELENS_WEIGHTS).exists():
        return "saelens"
    if (path / NATIVE_WEIGHTS).exists() and ("num_latents" in cfg or "expansion_factor" in cfg):
        return "sparsify"
    raise SAEFormatError(f"{path}: cfg.json is neither a monoscope config (format 'monoscope-sae'), a SAELens "
                         f"config (with {SAELENS_WEIGHTS}) nor a sparsify config (num_latents/expansion_factor "
                         f"with {NATIVE_WEIGHTS})")


def load_sae(path: str | Path, device: str | torch.device = "cpu"):
    """Load an SAE directory in any supported format (native, SAELens, sparsify)."""
    fmt = detect_format(path)
    if fmt == "native":
        return load_native(path, device)
    if fmt == "saelens":
        return import_saelens(path, device)
    return import_sparsify(path, device)


# ------------------------------------------------------------------------------------------------
# SAELens
# ------------------------------------------------------------------------------------------------
_TO_SAELENS = {"relu": "standard", "topk": "topk", "jumprelu": "jumprelu", "batchtopk": "jumprelu"}


def export_saelens(sae, path: str | Path) -> Path:
    """Write `sae` as a SAELens inference SAE (cfg.json + sae_weights.safetensors)."""
    import copy

    path = Path(path)
    s = copy.deepcopy(sae).float()
    s.cfg = copy.deepcopy(sae.cfg)
    s.fold_norm_scalar()
    cfg = s.cfg
    arch = _TO_SAELENS[cfg.architecture]
    tensors = {"W_enc": s.W_enc.detach().T.contiguous(), "b_enc": s.b_enc.detach(),
               "W_dec": s.W_dec.detach(), "b_dec": s.b_dec.detach()}
    if cfg.architecture == "jumprelu":
        tensors["threshold"] = s.threshold.detach()
    elif cfg.architecture == "batchtopk":
        tensors["threshold"] = s.threshold.detach()
    dtype = _DTYPES.get(cfg.dtype, torch.float32)
    tensors = {k: v.to(dtype) for k, v in tensors.items()}
    meta = {"model_name": cfg.model, "hook_name": cfg.hook, "hook_head_index": None, "prepend_bos": True,
            "context_size": cfg.metadata.get("context_size"), "dataset_path": cfg.metadata.get("dataset"),
            "monoscope": {"architecture": cfg.architecture, "folded_norm_scalar": cfg.folded_norm_scalar,
                          "decoder_norms_folded": cfg.decoder_norms_folded}}
    d = {"architecture": arch, "d_in": cfg.d_in, "d_sae": cfg.n_latents, "dtype": cfg.dtype, "device": "cpu",
         "apply_b_dec_to_input": bool(cfg.apply_b_dec_to_input), "normalize_activations": "none",
         "reshape_activations": "none", "metadata": meta,
         # top-level copies for SAELens < 6, which read these names directly
         "model_name": cfg.model, "hook_name": cfg.hook, "hook_head_index": None,
         "activation_fn_str": "topk" if arch == "topk" else "relu",
         "finetuning_scaling_factor": False}
    if arch == "topk":
        d["k"] = int(cfg.k)
        d["rescale_acts_by_decoder_norm"] = False
        d["activation_fn_kwargs"] = {"k": int(cfg.k)}
    atomic_save_tensors(path / SAELENS_WEIGHTS, tensors)
    atomic_write_text(path / CFG, json.dumps(d, indent=2))
    return path


def import_saelens(path: str | Path, device: str | torch.device = "cpu"):
    """Read a SAELens SAE directory (standard, topk or jumprelu) into a monoscope SAE."""
    path = Path(path)
    d = _read_json(path / CFG)
    arch = d.get("architecture", "standard")
    if arch not in ("standard", "topk", "jumprelu"):
        raise SAEFormatError(f"{path}: SAELens architecture {arch!r} is not supported "
                             f"(supported: standard, topk, jumprelu)")
    for key in ("d_in", "d_sae"):
        if key not in d:
            raise SAEFormatError(f"{path}/cfg.json lacks {key!r}: not a SAELens config")
    norm = d.get("normalize_activations") or "none"
    if norm not in ("none", False):
        raise SAEFormatError(f"{path}: normalize_activations={norm!r} needs a data-dependent scale that the "
                             f"file does not carry; fold it into the weights first")
    if (d.get("reshape_activations") or "none") != "none":
        raise SAEFormatError(f"{path}: reshape_activations={d['reshape_activations']!r} (hook_z) is not supported")
    tensors = _load_tensors(path / SAELENS_WEIGHTS)
    if "scaling_factor" in tensors or "finetuning_scaling_factor" in tensors:
        sf = tensors.pop("scaling_factor", tensors.pop("finetuning_scaling_factor", None))
        if sf is not None and not torch.all(sf == 1):
            raise SAEFormatError(f"{path}: a finetuning scaling factor is not supported")
    n, din = int(d["d_sae"]), int(d["d_in"])
    shapes = {"W_enc": (din, n), "b_enc": (n,), "W_dec": (n, din), "b_dec": (din,)}
    if arch == "jumprelu":
        shapes["threshold"] = (n,)
    _expect(tensors, shapes, path / SAELENS_WEIGHTS)
    meta = d.get("metadata") or d.get("meta") or {}
    mono = meta.get("monoscope") or {}
    k = d.get("k") or (d.get("activation_fn_kwargs") or {}).get("k")
    ours = {"standard": "relu", "topk": "topk", "jumprelu": "jumprelu"}[arch]
    dtype = str(d.get("dtype", "float32")).replace("torch.", "")
    cfg = SAEConfig(architecture=ours, d_in=din, n_latents=n, k=int(k) if ours == "topk" else None,
                    hook=meta.get("hook_name", d.get("hook_name")), model=meta.get("model_name", d.get("model_name")),
                    dtype=dtype if dtype in _DTYPES else "float32",
                    apply_b_dec_to_input=bool(d.get("apply_b_dec_to_input", True)),
                    normalize_decoder=False,
                    decoder_norms_folded=bool(mono.get("decoder_norms_folded", False)),
                    folded_norm_scalar=mono.get("folded_norm_scalar"),
                    metadata={"imported_from": "saelens", "source": str(path),
                              "saelens_architecture": arch})
    if ours == "topk" and d.get("rescale_acts_by_decoder_norm"):
        raise SAEFormatError(f"{path}: rescale_acts_by_decoder_norm=True top-k SAEs are not supported; "
                             f"fold the decoder norms in SAELens first (fold_W_dec_norm)")
    native = {"W_enc": tensors["W_enc"].T.contiguous(), "b_enc": tensors["b_enc"], "W_dec": tensors["W_dec"],
              "b_dec": tensors["b_dec"]}
    if ours == "jumprelu":
        native["threshold"] = tensors["threshold"]
    return _from_tensors(cfg, native, path / SAELENS_WEIGHTS, device)


# ------------------------------------------------------------------------------------------------
# sparsify (EleutherAI)
# ------------------------------------------------------------------------------------------------
def import_sparsify(path: str | Path, device: str | torch.device = "cpu"):
    """Read an EleutherAI sparsify SAE directory (top-k, optionally with normalised decoder)."""
    path = Path(path)
    d = _read_json(path / CFG)
    if d.get("transcode"):
        raise SAEFormatError(f"{path}: a sparsify transcoder predicts another site's output; only SAEs import")
    if d.get("activation", "topk") != "topk":
        raise SAEFormatError(f"{path}: sparsify activation {d.get('activation')!r} is not supported (topk only)")
    if d.get("skip_connection"):
        raise SAEFormatError(f"{path}: sparsify SAEs with a skip connection are not supported")
    if "d_in" not in d or "k" not in d:
        raise SAEFormatError(f"{path}/cfg.json lacks d_in or k: not a sparsify config")
    tensors = _load_tensors(path / NATIVE_WEIGHTS)
    if "encoder.weight" not in tensors:
        raise SAEFormatError(f"{path}/{NATIVE_WEIGHTS} lacks encoder.weight: not a sparsify checkpoint")
    din = int(d["d_in"])
    n = int(d.get("num_latents") or 0) or din * int(d.get("expansion_factor", 32))
    _expect(tensors, {"encoder.weight": (n, din), "encoder.bias": (n,), "W_dec": (n, din), "b_dec": (din,)},
            path / NATIVE_WEIGHTS)
    dtype = str(tensors["encoder.weight"].dtype).replace("torch.", "")
    cfg = SAEConfig(architecture="topk", d_in=din, n_latents=n, k=int(d["k"]), apply_b_dec_to_input=True,
                    normalize_decoder=bool(d.get("normalize_decoder", True)), dtype=dtype,
                    hook=d.get("hook") or d.get("hookpoint"), model=d.get("model"),
                    metadata={"imported_from": "sparsify", "source": str(path)})
    native = {"W_enc": tensors["encoder.weight"], "b_enc": tensors["encoder.bias"], "W_dec": tensors["W_dec"],
              "b_dec": tensors["b_dec"]}
    return _from_tensors(cfg, native, path / NATIVE_WEIGHTS, device)
