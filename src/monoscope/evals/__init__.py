"""Evaluations: reconstruction, sparsity, spliced-in loss, ground-truth recovery, synthetic data."""
from .synthetic import (RecoveryResult, SyntheticConfig, SyntheticData, direction_recovery,
                        evaluate_recovery)

__all__ = ["RecoveryResult", "SyntheticConfig", "SyntheticData", "direction_recovery", "evaluate_recovery"]
