"""Activation store: harvested activations on disk, with a manifest, checksums and a shuffled reader."""
from .harvest import HarvestResult, harvest
from .manifest import HarvestConfig, ShardInfo, StoreError, StoreManifest
from .reader import ActivationStore

__all__ = ["ActivationStore", "HarvestConfig", "HarvestResult", "ShardInfo", "StoreError", "StoreManifest",
           "harvest"]
