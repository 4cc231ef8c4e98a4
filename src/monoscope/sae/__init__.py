"""Sparse autoencoders: architectures, one trainer, formats, evaluation.

    from monoscope.sae import SAEConfig, train_sae, load_sae
    cfg = SAEConfig("topk", d_in=576, n_latents=8192, k=32)
    res = train_sae(ActivationStore("store/"), cfg, "runs/sae", steps=2000)
    sae = load_sae("runs/sae")          # any local layout: native, SAELens, sparsify, Gemma Scope, dictionary_learning
    sae = load("saelens:gemma-scope-2b-pt-res-canonical/layer_12/width_16k/canonical")   # by name
    sae = load("hf:EleutherAI/sae-llama-3-8b-32x/layers.10")
    f = sae.encode(raw_activations)     # [..., n_latents]
"""
from .base import SAE, SAEOutput, SparseActs
from .batchtopk import BatchTopKSAE
from .config import ARCHITECTURES, SAEConfig, SAEError
from .gated import GatedSAE
from .jumprelu import JumpReLUSAE
from .matryoshka import MatryoshkaSAE
from .relu import ReluSAE
from .topk import TopKSAE

ARCHITECTURE_CLASSES = {"relu": ReluSAE, "topk": TopKSAE, "batchtopk": BatchTopKSAE, "jumprelu": JumpReLUSAE,
                        "matryoshka": MatryoshkaSAE, "gated": GatedSAE}

from .formats import (SAEFormatError, build_sae, check_model, export_saelens, import_saelens,  # noqa: E402
                      load_sae, save_sae)
from .layouts import import_dictionary_learning, import_gemmascope, import_sparsify  # noqa: E402
from .trainer import TrainConfig, Trainer, TrainResult, default_lr, train_sae  # noqa: E402

load = load_sae   # monoscope.sae.load(NAME): the same one loader

__all__ = ["ARCHITECTURES", "ARCHITECTURE_CLASSES", "BatchTopKSAE", "GatedSAE", "JumpReLUSAE", "MatryoshkaSAE",
           "ReluSAE", "SAE", "SAEConfig", "SAEError", "SAEFormatError", "SAEOutput", "SparseActs", "TopKSAE",
           "TrainConfig", "TrainResult", "Trainer", "build_sae", "check_model", "default_lr", "export_saelens",
           "import_dictionary_learning", "import_gemmascope", "import_saelens", "import_sparsify", "load",
           "load_sae", "save_sae", "train_sae"]
