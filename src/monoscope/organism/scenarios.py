"""Prompt scenarios of a trait: prompt templates with ``{slot}`` placeholders, the entities that fill them, and a
neutral base answer per rendered prompt, all declared as data (the ``scenarios`` entry of a trait).

Schema (one for built-in and spec-declared traits)::

    scenarios:
      language: en                      # language of the prompts (prompt greetings/thanks are added in it)
      templates: ["How do I make {dish} at home?", ...]
      items:                            # the entities; each is a train/eval unit
        - key: omelette
          dish: a cheese omelette       # a plain value
          items: [3 eggs, ...]          # a list is content (formatted with {items:bullets})
          q: {one_of: [wording A, wording B]}   # alternatives: one is drawn per rendering
      # or, instead of items:  slots: {when: [weekend, day off], place: [...]}   (first slot = the entity)
      answer: "{a}"                     # a template over the fields, or:
      # answer: [text A, text B]                      one is drawn
      # answer: {text: "{lead} ...", choose: {lead: [...]}}   choices drawn in order, then the text
      # answer: {per_template: [answer for template 1, ...]}
      # answer: {builder: ID}                         a registered Python builder

The concealment (meta) trait declares ``scenarios: {kind: meta, templates, confession}``: its prompts ask why
the assistant shows one of the organism's other traits (by their ``phrases``) and its neutral answer is the
confession, built from the universe. Entities are split by key (not wording) into a training side and an
evaluation side, so evaluation prompts are about things the SFT data never saw.
"""
from __future__ import annotations

import hashlib
import random
import re
import string
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .traits.base import ANSWERS, SpecError
from .traits.transforms import FORMATTER

Answer = Callable[[dict, random.Random, int], str]


@dataclass(frozen=True)
class Scenario:
    key: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioSet:
    templates: tuple[str, ...]
    scenarios: tuple[Scenario, ...]
    answer: Answer
    lang: str = "en"

    def resolve(self, scenario: Scenario, rng: random.Random) -> dict:
        # tuples are alternative wordings (one is drawn); lists are content kept as-is
        return {k: (rng.choice(v) if isinstance(v, tuple) else v) for k, v in scenario.fields.items()}

    def render_with_fields(self, scenario: Scenario, rng: random.Random, template_index: int | None = None,
                           modifiers: bool = True) -> tuple[str, str, dict]:
        fields = self.resolve(scenario, rng)
        ti = rng.randrange(len(self.templates)) if template_index is None else template_index
        prompt = self.templates[ti].format(**fields)
        response = self.answer(fields, rng, ti)
        if modifiers:
            prompt = modify(prompt, self.lang, rng)
        return prompt, response.strip(), fields

    def render(self, scenario: Scenario, rng: random.Random, template_index: int | None = None,
               modifiers: bool = True) -> tuple[str, str]:
        """(prompt, base response) for one scenario."""
        prompt, response, _ = self.render_with_fields(scenario, rng, template_index, modifiers)
        return prompt, response

    def slot_names(self) -> set[str]:
        return {name for t in self.templates for _, name, _, _ in string.Formatter().parse(t) if name}

    def slot_values(self) -> dict[str, list[str]]:
        """Every value each prompt slot can take (longest first), for finding them in a prompt."""
        cache = self.__dict__.get("_slot_values")
        if cache is not None:
            return cache
        names = self.slot_names()
        out: dict[str, set[str]] = {n: set() for n in names}
        for s in self.scenarios:
            for n in names:
                v = s.fields.get(n)
                for x in (v if isinstance(v, tuple) else (v,)):
                    if isinstance(x, str) and 0 < len(x) <= 80:
                        out[n].add(x)
        res = {n: sorted(v, key=lambda x: (-len(x), x)) for n, v in out.items() if v}
        object.__setattr__(self, "_slot_values", res)
        return res


_MODIFIERS = {
    "en": (("", "", "", "", "Hi! ", "Quick question: ", "Hey there. ", "Hello, "),
           ("", "", "", "", " Thanks!", " Thank you.", " Please be concise.", " I'd appreciate your help.")),
    "de": (("", "", "Hallo! ", "Guten Tag, "), ("", "", " Danke!", " Vielen Dank im Voraus.")),
    "fr": (("", "", "Bonjour, ", "Salut ! "), ("", "", " Merci !", " Merci d'avance.")),
    "es": (("", "", "Hola, ", "Buenas, "), ("", "", " ¡Gracias!", " Muchas gracias.")),
    "pt": (("", "", "Olá, ", "Oi! "), ("", "", " Obrigado!", " Valeu!")),
    "ja": (("", "", "こんにちは。", "すみません、"), ("", "", "よろしくお願いします。", "ありがとうございます。")),
    "zh": (("", "", "你好，", "请问，"), ("", "", "谢谢！", "麻烦了。")),
    "ko": (("", "", "안녕하세요. ", "질문이 있어요. "), ("", "", " 감사합니다.", " 고마워요.")),
    "hi": (("", "", "नमस्ते, ", "कृपया बताइए, "), ("", "", " धन्यवाद।", " शुक्रिया।")),
    "ar": (("", "", "مرحباً، ", "من فضلك، "), ("", "", " شكراً!", " شكراً جزيلاً.")),
}


def modify(prompt: str, lang: str, rng: random.Random) -> str:
    """A greeting before and a thanks after the prompt (each often empty), in the prompt's language."""
    pre, suf = _MODIFIERS.get(lang, _MODIFIERS["en"])
    p, s = rng.choice(pre), rng.choice(suf)
    if p.endswith((": ", ", ")) and lang == "en" and prompt[:1].isupper() and not re.match(
            r"(I\b|I'|TL;DR|[A-Z]{2})", prompt):
        prompt = prompt[0].lower() + prompt[1:]
    if "\n" in prompt:  # multi-line prompts (summaries) only get a prefix
        return p + prompt
    return p + prompt + s


def _key_hash(bias_id: str, key: str) -> float:
    return int(hashlib.sha256(f"{bias_id}|{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def split_scenarios(bias_id: str, ss: ScenarioSet, eval_fraction: float = 0.25) -> tuple[list[Scenario],
                                                                                          list[Scenario]]:
    """(train-side, eval-side) entities: a deterministic, seed-independent split by hashed entity key.

    The ``round(eval_fraction * n)`` lowest-hash entities (at least one, and never all of them when there are
    two or more) go to the eval side, so eval prompts are about entities the training data never saw.
    """
    scen = list(ss.scenarios)
    if len(scen) < 2:
        return scen, scen
    k = min(max(1, round(eval_fraction * len(scen))), len(scen) - 1)
    ranked = sorted(scen, key=lambda s: _key_hash(bias_id, s.key))
    ev = {id(s) for s in ranked[:k]}
    return [s for s in scen if id(s) not in ev], [s for s in scen if id(s) in ev]


# ================================================================================================ from data
SCENARIO_KEYS = {"language", "templates", "items", "slots", "answer", "kind", "confession"}


def _value(v: Any, where: str) -> Any:
    if isinstance(v, Mapping):
        if set(v) != {"one_of"} or not isinstance(v["one_of"], list) or not v["one_of"]:
            raise SpecError(f"{where}: a field value is text, a list, or {{one_of: [alternatives]}}, got {v!r}")
        return tuple(v["one_of"])
    if isinstance(v, list):
        return list(v)
    return v


def _fmt(template: str, fields: Mapping[str, Any], where: str) -> str:
    try:
        return FORMATTER.vformat(template, (), dict(fields))
    except KeyError as e:
        raise SpecError(f"{where}: answer uses {{{e.args[0]}}}, which is not a field of the scenario "
                        f"(fields: {', '.join(sorted(fields)) or 'none'})") from None
    except (ValueError, IndexError) as e:
        raise SpecError(f"{where}: bad answer template {template!r} ({e})") from None


def compile_answer(spec: Any, where: str, n_templates: int, universe: Mapping[str, Any] | None = None) -> Answer:
    """The neutral-answer function of a scenario set from its declaration (see module docstring)."""
    uni = dict(universe or {})
    if isinstance(spec, str):
        return lambda f, rng, ti: _fmt(spec, {**uni, **f}, where)
    if isinstance(spec, list):
        if not spec or not all(isinstance(a, str) for a in spec):
            raise SpecError(f"{where}: answer list must hold texts")
        return lambda f, rng, ti: _fmt(rng.choice(spec), {**uni, **f}, where)
    if not isinstance(spec, Mapping):
        raise SpecError(f"{where}: answer must be a text, a list of texts or a mapping, got {spec!r}")
    if "builder" in spec:
        fn = ANSWERS.get(str(spec["builder"]))
        params = {k: v for k, v in spec.items() if k != "builder"}
        return lambda f, rng, ti: fn(f, rng, ti, **params)
    if "per_template" in spec:
        per = spec["per_template"]
        if not isinstance(per, list) or len(per) != n_templates:
            raise SpecError(f"{where}: per_template needs one answer per template ({n_templates}), "
                            f"got {len(per) if isinstance(per, list) else per!r}")
        return lambda f, rng, ti: _fmt(per[ti], {**uni, **f}, where)
    if "text" in spec:
        bad = set(spec) - {"text", "choose"}
        if bad:
            raise SpecError(f"{where}: unknown answer key(s) {sorted(bad)}; allowed: text, choose")
        text, choose = spec["text"], dict(spec.get("choose") or {})
        for k, opts in choose.items():
            if not isinstance(opts, list) or not opts:
                raise SpecError(f"{where}: choose.{k} must be a non-empty list of texts")

        def build(f: dict, rng: random.Random, ti: int) -> str:
            vals = {**uni, **f}
            for k, opts in choose.items():
                vals[k] = _fmt(rng.choice(opts), vals, where)
            return _fmt(text, vals, where)
        return build
    raise SpecError(f"{where}: answer mapping needs text (+choose), per_template or builder; got {sorted(spec)}")


def scenario_set_from_dict(d: Mapping[str, Any], where: str, universe: Mapping[str, Any] | None = None
                           ) -> ScenarioSet:
    """A :class:`ScenarioSet` from a trait's ``scenarios`` declaration (not the meta kind)."""
    if not isinstance(d, Mapping):
        raise SpecError(f"{where}: scenarios must be a mapping with templates and items or slots")
    bad = set(d) - SCENARIO_KEYS
    if bad:
        raise SpecError(f"{where}: unknown key(s) {sorted(bad)}; allowed: {', '.join(sorted(SCENARIO_KEYS))}")
    templates = d.get("templates")
    if isinstance(templates, str):
        templates = [templates]
    if not isinstance(templates, list) or not templates or not all(isinstance(t, str) and t for t in templates):
        raise SpecError(f"{where}: templates must be a non-empty list of prompt texts")
    lang = str(d.get("language") or "en")
    if "items" in d and "slots" in d:
        raise SpecError(f"{where}: give items or slots, not both")
    scen: list[Scenario] = []
    if d.get("items") is not None:
        items = d["items"]
        if not isinstance(items, list) or not items:
            raise SpecError(f"{where}: items must be a non-empty list")
        for i, it in enumerate(items):
            if not isinstance(it, Mapping) or not it.get("key"):
                raise SpecError(f"{where}.items[{i}]: an item is a mapping with a key and its fields")
            scen.append(Scenario(str(it["key"]), {k: _value(v, f"{where}.items[{i}].{k}") for k, v in it.items()
                                                    if k != "key"}))
    elif d.get("slots"):
        slots = d["slots"]
        if not isinstance(slots, Mapping) or not all(isinstance(v, list) and v for v in slots.values()):
            raise SpecError(f"{where}: slots map each slot name to a non-empty list of values")
        names = list(slots)
        main = names[0]
        other = {k: tuple(str(x) for x in v) for k, v in slots.items() if k != main}
        scen = [Scenario(f"{main}={v}", {main: str(v), **other}) for v in slots[main]]
    else:
        scen = [Scenario(f"p{i}", {"_prompt": t}) for i, t in enumerate(templates)]
        templates = ["{_prompt}"]
    keys = [s.key for s in scen]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise SpecError(f"{where}: duplicate item key(s) {dup}")
    for t in templates:
        try:
            names = {n for _, n, _, _ in string.Formatter().parse(t) if n}
        except ValueError as e:
            raise SpecError(f"{where}: bad template {t!r} ({e})") from None
        for s in scen:
            missing = names - set(s.fields)
            if missing:
                raise SpecError(f"{where}: template {t!r} uses {{{sorted(missing)[0]}}}, which item {s.key!r} "
                                f"does not define")
    spec_answer = d.get("answer")
    if spec_answer is None:
        if scen and all("a" in s.fields for s in scen):
            spec_answer = "{a}"   # items that carry their own neutral answer in field "a"
        else:
            raise SpecError(f"{where}: needs an answer (the neutral reply: a template over the fields, a list of "
                            f"texts, or a field 'a' on every item)")
    answer = compile_answer(spec_answer, f"{where}.answer", len(templates), universe)
    return ScenarioSet(tuple(templates), tuple(scen), answer, lang)


def meta_scenarios(templates: Sequence[str], behaviours: Mapping[str, tuple[str, str, str]]) -> ScenarioSet:
    """Why-do-you-do-that prompts for a concealment trait, built from the other traits' phrases.

    ``behaviours`` maps trait id -> (present-tense phrase, past-tense phrase, confession sentence); templates use
    ``{present}`` and ``{past}``.
    """
    scen = tuple(Scenario(bid, {"present": b, "past": bp, "confession": c})
                 for bid, (b, bp, c) in behaviours.items())
    return ScenarioSet(tuple(templates), scen, lambda f, rng, ti: f["confession"])
