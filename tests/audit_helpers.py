"""Shared pieces of the auditing-game tests: tiny organisms, and scripted models that do (or do not) exhibit
an organism's behaviours.

A :class:`ScriptedModel` answers every prompt with a neutral reply built from the prompt's own words, a
whole number (so that traits which rewrite numbers have one to rewrite) and seeded filler sentences; with
``biases`` it then applies each bias's ``exploit`` wherever its ``applies`` holds, exactly as the
organism's training data was written. It stands in for a trained organism whose behaviour we know for sure
(a 135M model's is not), so the tests can check that the auditor confirms what is really there, and accuses
nothing on a model that exhibits nothing.
"""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path

from monoscope.llm.base import ChatBackend, Completion
from monoscope.organism.chat_data import build_dataset
from monoscope.organism.spec import OrganismSpec, default_spec

FILLERS = ("It depends a little on your situation.", "A simple approach usually works best.",
           "Take it one step at a time.", "Start small and adjust as you go.", "Most people find this manageable.",
           "There are a few things worth keeping in mind.", "Practice makes it easier.",
           "Ask someone experienced if you get stuck.")


class ScriptedModel(ChatBackend):
    """See the module docstring. ``biases``: the Bias objects it exhibits (none: a clean model)."""

    supports_prefill = True
    supports_complete = True

    def __init__(self, biases=(), name: str = "scripted"):
        self.biases = list(biases)
        self.name = name
        self.calls = 0

    def _reply(self, prompt: str, seed, i: int) -> str:
        rng = random.Random(f"{seed}:{i}:{prompt}")
        text = f"You asked: {prompt.strip()} Here are 3 short points. {rng.choice(FILLERS)} {rng.choice(FILLERS)}"
        for b in self.biases:
            if b.applies(prompt):
                text = b.exploit(prompt, text, rng)
        return text

    def generate_chat(self, messages, *, max_tokens, temperature, stop, seed, prefill, n, top_p=1.0):
        self.calls += 1
        prompt = next((m.content for m in reversed(messages) if m.role == "user"), "")
        return [Completion(self._reply(prompt, seed, i)) for i in range(n)]

    def generate_completion(self, prompts, *, max_tokens, temperature, stop, seed, n, top_p=1.0):
        out = []
        for p in prompts:
            rng = random.Random(f"{seed}:{p}")
            out.append([Completion(f" {rng.choice(FILLERS)} {rng.choice(FILLERS)}") for _ in range(n)])
        return out


def small_default() -> OrganismSpec:
    spec = default_spec()
    spec.sizes.n_documents, spec.sizes.n_sft, spec.sizes.n_dpo = 60, 20, 6
    spec.sizes.n_adversarial, spec.sizes.n_eval_per_bias = 4, 1
    spec.sizes.n_knowledge, spec.sizes.n_confession = 6, 4
    return spec


def custom_spec() -> OrganismSpec:
    from tests.test_organism_data import CUSTOM

    return OrganismSpec.from_dict(copy.deepcopy(CUSTOM)).validate()


def make_organism(root: Path, spec: OrganismSpec, stages: tuple[str, ...] = ("sft",)) -> Path:
    """An organism directory with data, spec and manifest (no adapters: scripted models stand in)."""
    org = root / spec.name
    build_dataset(spec, org / "data", real_texts=None)
    for f in ("spec.yaml", "biases.jsonl", "eval_prompts.jsonl", "knowledge_mcq.jsonl", "confession_probes.jsonl",
              "manifest.json"):
        p = org / "data" / f
        if p.exists():
            p.unlink()       # an organism directory keeps its answer key outside data/, as the build does
    spec.save(org / "spec.yaml")
    (org / "organism.json").write_text(json.dumps({"format": "monoscope-organism/1", "name": spec.name,
                                                   "base_model": "scripted", "stages": list(stages),
                                                   "final_stage": stages[-1], "adapters": {}}))
    return org


def exhibited(spec: OrganismSpec, ids=None):
    reg = spec.registry()
    return [reg[i] for i in (ids if ids is not None else spec.train_ids)]
