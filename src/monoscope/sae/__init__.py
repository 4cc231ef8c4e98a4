"""Sparse autoencoders: architectures, one trainer, formats, evaluation.

    from monoscope.sae import SAEConfig, train_sae, load_sae
    cfg = SAEConfig("topk", d_in=576, n_latents=8192, k=32)
    res = train_sae(ActivationStore("store/"), cfg, "runs/sae", steps=2000)
    sae = load_sae("runs/sae")          # native, SAELens or sparsify directories
    f = sae.encode(raw_activations)     # [..., n_latents]
"""
from .base import SAE, SAEOutput, SparseActs
from .batchtopk import BatchTopKSAE
from .config import ARCHITECTURES, SAEConfig, SAEError
from .jumprelu import JumpReLUSAE
from .relu import ReluSAE
from .topk import TopKSAE

ARCHITECTURE_CLASSES = {"relu": ReluSAE, "topk": TopKSAE, "batchtopk": BatchTopKSAE, "jumprelu": JumpReLUSAE}

from .formats import (SAEFormatError, build_sae, export_saelens, import_saelens, import_sparsify,  # noqa: E402
                      load_sae, save_sae)
from .trainer import TrainConfig, Trainer, TrainResult, default_lr, train_sae  # noqa: E402

__all__ = ["ARCHITECTURES", "ARCHITECTURE_CLASSES", "BatchTopKSAE", "JumpReLUSAE", "ReluSAE", "SAE",
           "SAEConfig", "SAEError", "SAEFormatError", "SAEOutput", "SparseActs", "TopKSAE", "TrainConfig",
           "TrainResult", "Trainer", "build_sae", "default_lr", "export_saelens", "import_saelens",
           "import_sparsify", "load_sae", "save_sae", "train_sae"]
