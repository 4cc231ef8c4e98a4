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
from ..lazy import attach

# `load` is `load_sae`: monoscope.sae.load(NAME), the same one loader
__getattr__, __dir__, __all__ = attach(__name__, {
    'SAE': 'base',
    'SAEOutput': 'base',
    'SparseActs': 'base',
    'BatchTopKSAE': 'batchtopk',
    'ARCHITECTURES': 'config',
    'SAEConfig': 'config',
    'SAEError': 'config',
    'GatedSAE': 'gated',
    'JumpReLUSAE': 'jumprelu',
    'MatryoshkaSAE': 'matryoshka',
    'ReluSAE': 'relu',
    'TopKSAE': 'topk',
    'ARCHITECTURE_CLASSES': 'architectures',
    'SAEFormatError': 'formats',
    'build_sae': 'formats',
    'check_model': 'formats',
    'export_saelens': 'formats',
    'import_saelens': 'formats',
    'load_sae': 'formats',
    'save_sae': 'formats',
    'import_dictionary_learning': 'layouts',
    'import_gemmascope': 'layouts',
    'import_sparsify': 'layouts',
    'merge_checkpoint': 'checkpoint',
    'DataParallel': 'strategy',
    'FeatureSharded': 'strategy',
    'Local': 'strategy',
    'make_strategy': 'strategy',
    'ActivationStream': 'streaming',
    'SAESpec': 'trainer',
    'TrainConfig': 'trainer',
    'Trainer': 'trainer',
    'TrainResult': 'trainer',
    'default_lr': 'trainer',
    'train_sae': 'trainer',
    'load': 'formats:load_sae',
})
