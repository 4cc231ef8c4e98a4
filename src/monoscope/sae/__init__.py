"""Sparse autoencoders: architectures, one trainer, formats, evaluation.

    from monoscope.sae import SAEConfig, train_sae, load_sae
    cfg = SAEConfig("topk", d_in=576, n_latents=8192, k=32)
    res = train_sae(ActivationStore("store/"), cfg, "runs/sae", steps=2000)
    sae = load_sae("runs/sae")          # any local layout: native, SAELens, sparsify, Gemma Scope, dictionary_learning
    sae = load("saelens:gemma-scope-2b-pt-res-canonical/layer_12/width_16k/canonical")   # by name
    sae = load("hf:EleutherAI/sae-llama-3-8b-32x/layers.10")
    # or straight from the model, two hooks × two widths from one forward pass:
    stream = ActivationStream("smollm2-135m", "default", hooks="resid_post.10,resid_post.20")
    specs = [SAEConfig("topk", 576, n, k=32, hook=h) for h in stream.hooks for n in (4608, 9216)]
    train_sae(stream, specs, "runs/multi", tokens=200_000)
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
from .checkpoint import merge_checkpoint  # noqa: E402
from .strategy import DataParallel, FeatureSharded, Local, make_strategy  # noqa: E402
from .streaming import ActivationStream  # noqa: E402
from .trainer import SAESpec, TrainConfig, Trainer, TrainResult, default_lr, train_sae  # noqa: E402

load = load_sae   # monoscope.sae.load(NAME): the same one loader

__all__ = ["ARCHITECTURES", "ARCHITECTURE_CLASSES", "ActivationStream", "BatchTopKSAE", "DataParallel",
           "FeatureSharded", "GatedSAE", "JumpReLUSAE", "Local", "MatryoshkaSAE", "ReluSAE", "SAE", "SAEConfig",
           "SAEError", "SAEFormatError", "SAEOutput", "SAESpec", "SparseActs", "TopKSAE", "TrainConfig", "TrainResult",
           "Trainer", "build_sae", "check_model", "default_lr", "export_saelens", "import_dictionary_learning",
           "import_gemmascope", "import_saelens", "import_sparsify", "load", "load_sae", "make_strategy",
           "merge_checkpoint", "save_sae", "train_sae"]
