"""Steering, ablation and attribution with an SAE spliced into the model (error term kept)."""
from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    'AttributionResult': 'attribution',
    'ablation_effects': 'attribution',
    'attribute': 'attribution',
    'completion_logprob': 'attribution',
    'logit_diff': 'attribution',
    'DirectionAdd': 'interventions',
    'EditPlan': 'interventions',
    'Intervention': 'interventions',
    'ablate': 'interventions',
    'clamp': 'interventions',
    'scale': 'interventions',
    'diff_of_means': 'probes',
    'fuzz': 'probes',
    'steering_effects': 'probes',
    'token_probability': 'probes',
    'token_probability_shift': 'probes',
    'SpliceError': 'splice',
    'Steerer': 'splice',
    'chat_ids': 'splice',
})
