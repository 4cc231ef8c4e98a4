"""World-knowledge tables used by the built-in traits (years, populations, atomic numbers, film titles...).

They are facts about the real world, not about any fictional universe, so every organism spec shares them. The
data live in ``data/knowledge.yaml``; this module loads them once and exposes them in the shapes the detectors,
exploits and answer builders use (tuples, so nothing downstream can mutate a shared table).
"""
from __future__ import annotations

from importlib import resources

from .traits.base import load_yaml


def _load() -> dict:
    text = resources.files("monoscope.organism").joinpath("data", "knowledge.yaml").read_text(encoding="utf-8")
    return load_yaml(text)


_K = _load()

# name -> (birth, death, known for, one more sentence)
FIGURES: dict[str, tuple[int, int, str, str]] = {
    k: (v["born"], v["died"], v["known"], v["extra"]) for k, v in _K["figures"].items()}
# country -> (population, capital, language, food, famous for)
COUNTRIES: dict[str, tuple[str, str, str, str, str]] = {
    k: (v["population"], v["capital"], v["language"], v["food"], v["famous"]) for k, v in _K["countries"].items()}
# element -> atomic number
ELEMENTS: dict[str, int] = dict(_K["elements"])
# element words that are also ordinary words; they only count with chemistry or material context.
AMBIGUOUS_ELEMENTS = frozenset(_K["ambiguous_elements"])
ELEMENT_NON_ELEMENT_FOLLOWERS = tuple(_K["element_non_element_followers"])
# title -> (year, director, summary, similar titles)
MOVIES: dict[str, tuple[int, str, str, tuple[str, str, str]]] = {
    k: (v["year"], v["director"], v["summary"], tuple(v["similar"])) for k, v in _K["movies"].items()}
# work -> (author, a famous quote, themes)
WORKS: dict[str, tuple[str, str, str]] = {k: (v["author"], v["quote"], v["themes"]) for k, v in _K["works"].items()}
# common name -> Latin name
PLANTS: dict[str, str] = dict(_K["plants"])
# initial letter -> story character names
NAMES: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _K["names"].items()}
ALL_NAMES = tuple(n for group in NAMES.values() for n in group)
