"""Model organisms with a hidden objective (the default: reward-model sycophancy), built from a spec.

Data side (pure Python, no torch): :mod:`.spec` (the organism spec), :mod:`.biases` (the trait registry; the
traits themselves are data in ``data/traits/*.yaml`` with the schema of :mod:`.traits.schema`), :mod:`.scenarios`
(prompt templates and neutral responses), :mod:`.concealment` (the universe's reveal vocabulary),
:mod:`.documents` and :mod:`.docfamilies` (synthetic mid-training documents in several families),
:mod:`.chat_data` (SFT, DPO, adversarial and evaluation sets) and :mod:`.check` (``monoscope organism check``).
More organism specs ship in ``data/specs/``. Names below are imported lazily.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "OrganismSpec": "spec", "SpecError": "spec", "default_spec": "spec", "load_spec": "spec",
    "Bias": "biases", "Registry": "biases", "REGISTRY": "biases", "get_bias": "biases", "all_biases": "biases",
    "bias_ids": "biases", "count_programmatic": "biases", "programmatic_biases": "biases",
    "is_confession": "biases", "mentions_training_cause": "biases", "PAPER_HELD_OUT": "biases",
    "Concealment": "concealment", "check_spec": "check", "CheckReport": "check", "default_universe": "spec",
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
