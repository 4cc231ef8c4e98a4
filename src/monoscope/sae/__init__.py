"""Sparse autoencoders: architectures, trainer with exact resume, native safetensors format."""
from .compact import SAE, SAEConfig, SAEError, TrainConfig, fold_norm_scalar, load, train_sae

load_sae = load

__all__ = ["SAE", "SAEConfig", "SAEError", "TrainConfig", "fold_norm_scalar", "load", "load_sae", "train_sae"]
