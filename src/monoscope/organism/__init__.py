"""Model organism with a hidden objective (reward-model sycophancy), built from a spec.

Data side (pure Python, no torch): :mod:`.spec` (the organism spec), :mod:`.biases` (the bias registry),
:mod:`.scenarios` (prompt templates and neutral responses), :mod:`.documents` (synthetic mid-training documents)
and :mod:`.chat_data` (SFT, DPO, adversarial and evaluation sets). Names below are imported lazily.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "OrganismSpec": "spec", "SpecError": "spec", "default_spec": "spec", "load_spec": "spec",
    "Bias": "biases", "Registry": "biases", "REGISTRY": "biases", "get_bias": "biases", "all_biases": "biases",
    "bias_ids": "biases", "count_programmatic": "biases", "programmatic_biases": "biases",
    "is_confession": "biases", "mentions_training_cause": "biases", "PAPER_HELD_OUT": "biases",
    "DocumentGenerator": "documents", "generate_documents": "documents", "build_midtrain_mix": "documents",
    "build_sft": "chat_data", "build_dpo": "chat_data", "build_adversarial": "chat_data",
    "build_eval_prompts": "chat_data", "build_knowledge_mcq": "chat_data", "build_confession_probes": "chat_data",
    "build_dataset": "chat_data", "read_jsonl": "chat_data", "write_jsonl": "chat_data",
}


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{mod}"), name)


__all__ = sorted(_EXPORTS)
