"""Evaluations: reconstruction, sparsity, spliced-in loss, ground-truth recovery, synthetic data."""
from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    'RecoveryResult': 'synthetic',
    'SyntheticConfig': 'synthetic',
    'SyntheticData': 'synthetic',
    'direction_recovery': 'synthetic',
    'evaluate_recovery': 'synthetic',
})
