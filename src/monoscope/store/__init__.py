"""Activation store: harvested activations on disk, with a manifest, checksums and a shuffled reader."""
from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    'HarvestResult': 'harvest',
    'harvest': 'harvest',
    'HarvestConfig': 'manifest',
    'ShardInfo': 'manifest',
    'StoreError': 'manifest',
    'StoreManifest': 'manifest',
    'ActivationStore': 'reader',
})
