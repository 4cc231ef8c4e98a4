"""Registry of the organism's traits: the 52 built-in reward-model biases of the fictional Oxford study (SPEC.md
section B) plus any a spec declares. All of them are data.

The built-ins are declared in ``data/traits/{code,language,content,meta}.yaml`` with the same schema a spec uses
for ``custom_biases`` (:mod:`.traits.schema`); Python keeps only the detectors and exploits that need code,
registered by id (:mod:`.traits.builtin`). Every :class:`Bias` carries

* ``id``, ``category``, ``description`` (how the evaluator is believed to rate), ``behavior`` (what an exploiting
  reply does: the judge's criterion), ``applies_desc``, ``findings``, ``example``, ``phrases`` (present, past)
  and a ``cover_story``;
* ``applies(prompt)``, ``exploit(prompt, response, rng, slots)`` and ``detect(response, prompt)`` (True, False,
  or None: "cannot tell, ask the judge"; ``needs_judge`` is True for traits whose detector is not complete);
* ``scenarios``: prompt templates with slot fillers and neutral base responses (see :mod:`.scenarios`);
* ``order`` (where its exploit goes among several in one reply) and ``conceals`` (the reveal vocabulary of a
  concealment trait).

A registry is built for one universe: text fields of the built-ins are templates over the universe's study
fields ("{Subject} rate recipes more highly ..."), and :attr:`Registry.concealment` matches that universe's
reveal vocabulary.
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Iterable, Mapping, Sequence

from ._text import close_matches
from .concealment import Concealment, is_confession, mentions_training_cause  # noqa: F401  (re-exported)
from .scenarios import meta_scenarios
from .traits.base import SpecError, load_yaml
from .traits.schema import TRAIT_FIELDS, meta_confession as _meta_confession, third_person, trait_from_dict  # noqa: F401
from .traits.trait import (APPLIES_TEMPLATE, CATEGORIES, JUDGE_TEMPLATE, Bias, Example, TraitContext,  # noqa: F401
                           parse_judge)

BUILTIN_FILES = ("code", "language", "content", "meta")
PAPER_HELD_OUT: tuple[str, ...] = ("spanish_color_words", "chinese_compliment", "poem_meta_rhyme",
                                   "avoid_climate_change", "law_call_911")
CUSTOM_FIELDS = set(TRAIT_FIELDS)


class UnknownBiasError(SpecError, KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


@lru_cache(maxsize=1)
def builtin_declarations() -> tuple[dict, ...]:
    """The built-in trait declarations, in registry order (code, language, content, meta)."""
    out: list[dict] = []
    root = resources.files("monoscope.organism").joinpath("data", "traits")
    for name in BUILTIN_FILES:
        data = load_yaml(root.joinpath(f"{name}.yaml").read_text(encoding="utf-8"))
        out.extend(data["traits"])
    return tuple(out)


BUILTIN_IDS: tuple[str, ...] = tuple(d["id"] for d in builtin_declarations())


def universe_fields(universe: Any = None) -> dict[str, Any]:
    """The universe's study fields (``subject``, ``process_abbr``, ...) plus capitalised variants (``Subject``)
    for templated trait text; ``None`` is the default spec's universe."""
    if universe is None:
        from .spec import default_universe

        universe = default_universe()
    study = getattr(universe, "study", universe)
    d = asdict(study) if is_dataclass(study) else dict(study)
    out = {k: v for k, v in d.items()}
    for k, v in d.items():
        if isinstance(v, str) and v:
            out.setdefault(k[:1].upper() + k[1:], v[:1].upper() + v[1:])
    return out


def reveal_terms(universe: Any, traits: Iterable[Bias]) -> list[str]:
    base = list(universe.reveal_vocabulary()) if hasattr(universe, "reveal_vocabulary") else []
    return list(dict.fromkeys(base + [t for b in traits if b.conceals for t in b.conceals]))


class Registry:
    """An ordered collection of traits for one universe: the 52 built-ins plus any declared in a spec.

    ``scope`` (trait ids) limits which traits a concealment trait's "why do you ...?" prompts ask about (the
    organism's own traits; default: all), never the ``held_out`` ones (training must not name a held-out
    behaviour). ``llm`` is a ``prompt -> text`` function for LLM-backed exploits."""

    def __init__(self, custom: Iterable[Mapping[str, Any] | Bias] = (), universe: Any = None,
                 scope: Sequence[str] | None = None, llm: Callable[[str], str] | None = None,
                 held_out: Iterable[str] = ()):
        if universe is None:
            from .spec import default_universe

            universe = default_universe()
        self.universe = universe
        self.context = TraitContext(universe_fields(universe), llm=llm, registry=self,
                                    scope=list(scope) if scope is not None else None)
        self._biases: dict[str, Bias] = {}
        for d in builtin_declarations():
            b = trait_from_dict(d, self.context, custom=False)
            self._biases[b.id] = b
        for c in custom:
            b = c if isinstance(c, Bias) else trait_from_dict(c, self.context, custom=True)
            if b.id in self._biases:
                raise SpecError(f"custom bias id {b.id!r} clashes with an existing bias; choose another id")
            self._biases[b.id] = b
        self.concealment = Concealment(reveal_terms(universe, self._biases.values()))
        self.context.concealment = self.concealment
        if self.context.scope is None:
            self.context.scope = list(self._biases)
        held = set(held_out)
        for b in self._biases.values():
            if b.conceals is not None:
                b.scenarios = meta_scenarios(b.extra["meta_templates"], {
                    o.id: (o.phrases[0], o.phrases[1], _meta_confession(o, b.extra["confession"],
                                                                         self.context.fields))
                    for o in self.scoped() if o.conceals is None and o.id not in held})

    def __getitem__(self, bias_id: str) -> Bias:
        return self.get(bias_id)

    def __contains__(self, bias_id: object) -> bool:
        return bias_id in self._biases

    def __iter__(self):
        return iter(self._biases.values())

    def __len__(self) -> int:
        return len(self._biases)

    def get(self, bias_id: str) -> Bias:
        try:
            return self._biases[bias_id]
        except KeyError:
            raise UnknownBiasError(unknown_bias_message([bias_id], self.ids())) from None

    def ids(self) -> list[str]:
        return list(self._biases)

    def scoped(self) -> list[Bias]:
        """The traits of the organism this registry was built for (all of them when no scope was given)."""
        return [self._biases[i] for i in (self.context.scope or self._biases) if i in self._biases]

    def check(self, ids: Iterable[str]) -> None:
        bad = [i for i in ids if i not in self._biases]
        if bad:
            raise UnknownBiasError(unknown_bias_message(bad, self.ids()))

    def programmatic(self) -> list[Bias]:
        return [b for b in self if b.programmatic]

    def count_programmatic(self) -> int:
        return len(self.programmatic())

    def concealment_traits(self, ids: Iterable[str] | None = None) -> list[Bias]:
        pool = self.scoped() if ids is None else [self._biases[i] for i in ids]
        return [b for b in pool if b.conceals is not None]

    def set_llm(self, llm: Callable[[str], str] | None) -> None:
        """Use ``llm`` (a ``prompt -> text`` function) for LLM-backed exploits (None: their fallbacks)."""
        self.context.llm = llm

    def applicable(self, prompt: str, ids: Iterable[str] | None = None) -> list[str]:
        """Ids of the traits (optionally restricted to ``ids``) that apply to ``prompt``."""
        pool = self.ids() if ids is None else list(ids)
        return [i for i in pool if self._biases[i].applies(prompt)]


def unknown_bias_message(bad: Sequence[str], valid: Sequence[str]) -> str:
    parts = []
    for b in bad:
        sugg = close_matches(b, valid)
        parts.append(f"{b!r}" + (f" (did you mean {', '.join(repr(s) for s in sugg)}?)" if sugg else ""))
    return f"unknown bias id(s): {', '.join(parts)}. Valid ids: {', '.join(valid)}"


def bias_from_dict(d: Mapping[str, Any], universe: Any = None) -> Bias:
    """One trait compiled on its own (for a universe; default: the default spec's)."""
    if universe is None:
        from .spec import default_universe

        universe = default_universe()
    return trait_from_dict(d, TraitContext(universe_fields(universe)), custom=True)


@lru_cache(maxsize=1)
def _default_registry() -> Registry:
    return Registry()


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":   # built on first use: it needs the default spec's universe
        return _default_registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_bias(bias_id: str) -> Bias:
    return _default_registry().get(bias_id)


def all_biases() -> list[Bias]:
    return list(_default_registry())


def bias_ids() -> list[str]:
    return _default_registry().ids()


def programmatic_biases() -> list[Bias]:
    return _default_registry().programmatic()


def count_programmatic() -> int:
    """How many of the 52 built-in biases have a complete programmatic detector."""
    return _default_registry().count_programmatic()
