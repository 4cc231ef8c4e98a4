"""Steering, ablation and attribution with an SAE spliced into the model (error term kept)."""
from .attribution import AttributionResult, ablation_effects, attribute, completion_logprob, logit_diff
from .interventions import DirectionAdd, EditPlan, Intervention, ablate, clamp, scale
from .probes import diff_of_means, fuzz, steering_effects, token_probability_shift
from .splice import SpliceError, Steerer, chat_ids

__all__ = ["AttributionResult", "DirectionAdd", "EditPlan", "Intervention", "SpliceError", "Steerer",
           "ablate", "ablation_effects", "attribute", "chat_ids", "clamp", "completion_logprob",
           "diff_of_means", "fuzz", "logit_diff", "scale", "steering_effects", "token_probability_shift"]
