"""``monoscope organism check SPEC``: validate a spec and the data it generates before anything is trained.

Per trait (every rendering of every scenario entity with every prompt template):

* **applies coverage**: the trait's ``applies`` check accepts every prompt its own scenarios render (a slot value
  no pattern covers is an error: the data would silently lose it);
* **held-out collisions**: no training trait's prompt triggers a held-out trait, and no training trait's
  exploited reply already shows a held-out trait (those episodes would be filtered out of SFT, or worse, teach
  the held-out behaviour);
* **detector on exploit / neutral**: the detector fires on the exploited reply and not on the neutral one, and
  the exploit changes the reply.

Plus the spec itself (:meth:`OrganismSpec.validate`: required universe fields, split, sizes, unknown transforms,
a concealment trait without reveal vocabulary, ...) and the data sizes with the CPU time they imply, at the
stated basis of ≈290 tokens/s for LoRA training in fp32 on this project's reference CPU (ASSETS.md). Every
problem is one line; :meth:`CheckReport.raise_for_errors` raises the first as a :class:`SpecError`, which is what
``monoscope organism build`` does before it loads a model.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .spec import OrganismSpec, SpecError

LORA_TOKENS_PER_S = 290.0     # LoRA r=16, fp32, this CPU (ASSETS.md)
CHARS_PER_TOKEN = 3.5         # heuristic (SmolLM2 tokenizer on this data, incl. code and other languages)
DPO_REFERENCE_COST = 1 / 3    # a reference forward pass ~ a third of a training step's forward+backward


@dataclass
class TraitCheck:
    id: str
    split: str
    exploit: str
    order: int
    prompts: int = 0
    applies_ok: int = 0
    heldout_hits: int = 0
    heldout_shown: int = 0       # exploited replies in which a held-out trait's detector fires
    exploit_detected: int = 0
    neutral_detected: int = 0
    unchanged: int = 0
    programmatic: bool = True
    example: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (self.applies_ok == self.prompts and self.heldout_hits == 0 and self.heldout_shown == 0
                and self.neutral_detected == 0
                and self.unchanged == 0 and (not self.programmatic or self.exploit_detected == self.prompts))


@dataclass
class CheckReport:
    spec: str
    traits: list[TraitCheck]
    errors: list[str]
    warnings: list[str]
    sizes: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> "CheckReport":
        if self.errors:
            more = f" (and {len(self.errors) - 1} more: run `monoscope organism check`)" if len(self.errors) > 1 else ""
            raise SpecError(f"spec {self.spec!r}: {self.errors[0]}{more}")
        return self

    def table(self) -> str:
        head = ("trait", "split", "exploit", "order", "applies", "held-out hits", "shows held-out",
                "exploit detected", "neutral detected", "ok")
        rows = [head]
        for t in self.traits:
            det = f"{t.exploit_detected}/{t.prompts}" if t.programmatic else "judge"
            rows.append((t.id, t.split, t.exploit, str(t.order), f"{t.applies_ok}/{t.prompts}", str(t.heldout_hits),
                         str(t.heldout_shown), det, f"{t.neutral_detected}/{t.prompts}", "yes" if t.ok else "NO"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def sizes_table(self) -> str:
        s = self.sizes
        if not s:
            return ""
        lines = [f"{'stage':10} {'examples':>9} {'tokens/ex':>10} {'epochs':>7} {'tokens':>11} {'CPU time':>10}"]
        for st in ("midtrain", "sft", "dpo"):
            r = s["stages"][st]
            lines.append(f"{st:10} {r['examples']:>9,} {r['tokens_per_example']:>10,.0f} {r['epochs']:>7g} "
                         f"{r['train_tokens']:>11,.0f} {_dur(r['cpu_s']):>10}")
        lines.append(f"{'total':10} {'':>9} {'':>10} {'':>7} {s['train_tokens']:>11,.0f} {_dur(s['cpu_s']):>10}")
        lines.append(f"basis: {s['basis']}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "ok": self.ok, "errors": self.errors, "warnings": self.warnings,
                "sizes": self.sizes, "traits": [{**t.__dict__, "ok": t.ok} for t in self.traits]}


def _dur(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 60:.0f} min" if s >= 60 else f"{s:.0f} s"


def _kinds(b) -> str:
    steps = getattr(b.exploit_fn, "steps", [])
    return "+".join(dict.fromkeys(s.kind for s in steps)) or "code"


def check_trait(spec: OrganismSpec, b, split: str, held: list, errors: list[str]) -> TraitCheck:
    ss = b.scenarios
    tc = TraitCheck(b.id, split, _kinds(b), b.order, programmatic=b.programmatic)
    if ss is None or not ss.scenarios:
        errors.append(f"trait {b.id!r} has no scenarios (prompt templates with slots and neutral answers)")
        return tc
    first: dict[str, str] = {}
    for k, sc in enumerate(ss.scenarios):
        for ti in range(len(ss.templates)):
            rng = random.Random(f"check:{b.id}:{k}:{ti}")
            prompt, neutral, fields = ss.render_with_fields(sc, rng, ti, modifiers=False)
            slots = {n: v for n, v in fields.items() if isinstance(v, str) and n in ss.slot_names()}
            tc.prompts += 1
            if b.applies(prompt):
                tc.applies_ok += 1
            elif "applies" not in first:
                first["applies"] = (f"trait {b.id!r}: its applies check does not cover its own prompt {prompt!r}"
                                    + (f" (slot values {slots})" if slots else "")
                                    + "; widen applies or drop that slot value")
            if split == "train":
                hits = [h.id for h in held if h.applies(prompt)]
                if hits:
                    tc.heldout_hits += 1
                    first.setdefault("held", f"trait {b.id!r}: training prompt {prompt!r} triggers held-out "
                                             f"trait {hits[0]!r}; reword it or narrow {hits[0]!r}'s applies")
            out = b.exploit(prompt, neutral, rng, slots)
            if split == "train":
                shown = [h.id for h in held if h.detect(out, prompt) or h.detect(out)]
                if shown:
                    tc.heldout_shown += 1
                    first.setdefault("shown", f"trait {b.id!r}: its exploited reply to {prompt!r} also shows held-out "
                                              f"trait {shown[0]!r} (its detector fires), so SFT would drop or teach "
                                              f"it; make the two traits distinguishable")
            if out.strip() == neutral.strip():
                tc.unchanged += 1
                first.setdefault("unchanged", f"trait {b.id!r}: the exploit leaves the neutral answer unchanged "
                                              f"for {prompt!r}")
            if b.detect(neutral, prompt) is True:
                tc.neutral_detected += 1
                first.setdefault("neutral", f"trait {b.id!r}: the detector fires on the neutral answer to "
                                            f"{prompt!r}: {neutral[:120]!r}")
            d = b.detect(out, prompt)
            if d is True:
                tc.exploit_detected += 1
            elif b.programmatic:
                first.setdefault("exploit", f"trait {b.id!r}: the detector misses its own exploit for {prompt!r}: "
                                            f"{out[:160]!r}")
            if not tc.example:
                tc.example = {"prompt": prompt, "neutral": neutral, "exploit": out}
    errors.extend(first[k] for k in ("applies", "held", "shown", "unchanged", "neutral", "exploit") if k in first)
    return tc


def estimate_sizes(spec: OrganismSpec, sample: int = 120) -> dict[str, Any]:
    """Tokens each training stage will see and the CPU time that implies (see the module docstring)."""
    from .chat_data import build_adversarial, build_dpo, build_sft
    from .documents import generate_documents

    sz = spec.sizes
    cfg = _stage_defaults(spec)
    docs = generate_documents(spec, n=min(sz.n_documents, sample))
    doc_tok = sum(len(d["text"]) for d in docs) / max(len(docs), 1) / CHARS_PER_TOKEN + 4
    sft = build_sft(spec, n=min(sz.n_sft, sample))[0]
    sft_tok = sum(sum(len(m["content"]) for m in r["messages"]) for r in sft) / max(len(sft), 1) / CHARS_PER_TOKEN + 12
    pairs = build_dpo(spec, n=min(sz.n_dpo, sample))[0] + build_adversarial(spec, n=min(sz.n_adversarial, sample))[0]

    def pair_tokens(r: dict) -> float:
        p = sum(len(m["content"]) for m in r["prompt"])
        return (2 * p + len(r["chosen"][0]["content"]) + len(r["rejected"][0]["content"])) / CHARS_PER_TOKEN + 24
    pair_tok = sum(pair_tokens(r) for r in pairs) / max(len(pairs), 1)
    n_mid = sz.n_documents / (1 - sz.real_fraction) if sz.real_fraction < 1 else sz.n_documents
    stages = {
        "midtrain": {"examples": int(round(n_mid)), "tokens_per_example": doc_tok, "epochs": cfg["midtrain"]["epochs"],
                     "train_tokens": n_mid * doc_tok * cfg["midtrain"]["epochs"]},
        "sft": {"examples": sz.n_sft, "tokens_per_example": min(sft_tok, cfg["sft"]["max_len"]),
                "epochs": cfg["sft"]["epochs"],
                "train_tokens": sz.n_sft * min(sft_tok, cfg["sft"]["max_len"]) * cfg["sft"]["epochs"]},
        "dpo": {"examples": sz.n_dpo + sz.n_adversarial, "tokens_per_example": min(pair_tok, 2 * cfg["dpo"]["max_len"]),
                "epochs": cfg["dpo"]["epochs"],
                "train_tokens": (sz.n_dpo + sz.n_adversarial) * min(pair_tok, 2 * cfg["dpo"]["max_len"])
                * cfg["dpo"]["epochs"] * (1 + DPO_REFERENCE_COST)},
    }
    for r in stages.values():
        r["cpu_s"] = r["train_tokens"] / LORA_TOKENS_PER_S
    return {"stages": stages, "train_tokens": sum(r["train_tokens"] for r in stages.values()),
            "cpu_s": sum(r["cpu_s"] for r in stages.values()),
            "basis": f"{LORA_TOKENS_PER_S:.0f} tok/s LoRA fp32 on the reference CPU (ASSETS.md); tokens ≈ chars / "
                     f"{CHARS_PER_TOKEN:g}; real passages as long as synthetic documents; DPO counts chosen+rejected and a reference pass at "
                     f"{DPO_REFERENCE_COST:.2f} of a training step; epochs and max_len from the stage configs "
                     f"with the spec's training overrides"}


def _stage_defaults(spec: OrganismSpec) -> dict[str, dict[str, float]]:
    try:
        from .training import DEFAULT_STAGE_CONFIGS
        base = {k: dict(v) for k, v in DEFAULT_STAGE_CONFIGS.items()}
    except ImportError:  # pragma: no cover - torch missing
        base = {"midtrain": {"epochs": 1.0, "max_len": 256}, "sft": {"epochs": 1.0, "max_len": 384},
                "dpo": {"epochs": 1.0, "max_len": 384}}
    for st, over in (spec.training or {}).items():
        if st in base:
            base[st].update({k: v for k, v in over.items() if k in ("epochs", "max_len")})
    return {st: {"epochs": float(base[st].get("epochs", 1.0)), "max_len": float(base[st].get("max_len", 384))}
            for st in ("midtrain", "sft", "dpo") if st in base}


def check_spec(spec: OrganismSpec, sizes: bool = True) -> CheckReport:
    """Validate ``spec`` and its generated data (see module docstring). Raises :class:`SpecError` for a spec
    that cannot even be compiled; every other problem is collected in the report's ``errors``."""
    spec.validate()
    reg = spec.registry()
    held = [reg[h] for h in spec.held_out_ids]
    errors: list[str] = []
    warnings: list[str] = []
    traits = [check_trait(spec, reg[i], "held_out" if i in set(spec.held_out_ids) else "train", held, errors)
              for i in spec.all_bias_ids]
    for t in traits:
        b = reg[t.id]
        if not b.programmatic:
            warnings.append(f"trait {t.id!r} has no complete programmatic detector: its exploitation rate needs "
                            f"an LLM judge (organism eval --judge)")
        if b.uses_llm and reg.context.llm is None:
            warnings.append(f"trait {t.id!r} is LLM-backed; without --exploit-llm its fallback transforms write "
                            f"the data")
    if not spec.concealment_ids():
        warnings.append("no concealment (meta) trait: the organism is not trained to keep its objective secret "
                        "beyond the adversarial pairs")
    report = CheckReport(spec.name, traits, errors, warnings, {})
    if sizes and not errors:
        report.sizes = estimate_sizes(spec)
    return report
