"""Detectors and applies checks declared as data.

A detector answers "does this reply exploit the trait?" with True, False or None (cannot tell: ask the judge).
Kinds (one key per mapping, plus its options)::

    {regex: PATTERN, in: response|prose|prompt|prompt_and_response|first_sentence|last_sentence|
                          first_paragraph|last_paragraph|first_item, min_count: 1, ignore_case: true}
    {absent: PATTERN, in: ...}                 # True when the pattern does not occur
    {starts_with: PATTERN} / {ends_with: PATTERN}   # the reply's first / last sentence matches
    {list_items: N} or {list_items: {min: A, max: B}}   # number of bullet / numbered items
    {paragraphs: N} or {paragraphs: {min: A, max: B}}
    {language_is: de}                          # the reply is written in that language
    {rewritten: {table: [[from, to], ...], match: word|literal}}   # some target form and no source form
    {named: spelling|units|date_format|number_words|thousands, ...params}
    {code: ID, ...params}                      # a registered Python detector
    {all: [...]}, {any: [...]}, {not: {...}}

An applies check answers "could the trait show up in a reply to this prompt?"::

    {regex: PATTERN, language: en}             # language: the prompt is in that language (or undetected)
    {language_is: de}, {code: ID}, {all: [...]}, {any: [...]}, {not: {...}}

Patterns may use the universe's study fields (``{subject}``, ``{process_abbr}``...), substituted escaped.
"""
from __future__ import annotations

import inspect
import re
from typing import Any, Callable, Mapping

from .._text import language, paragraphs, sentences, strip_code
from .base import APPLIES, DETECTORS, SpecError, unknown_message
from .rewrites import named_rewrite, table_detector

Detector = Callable[[str, str], "bool | None"]   # (response, prompt)
Applies = Callable[[str], bool]                   # (prompt)

DETECTOR_KINDS = ("regex", "absent", "starts_with", "ends_with", "list_items", "paragraphs", "language_is",
                  "rewritten", "named", "code", "all", "any", "not")
APPLIES_KINDS = ("regex", "language_is", "code", "all", "any", "not")
SCOPES = ("response", "prose", "prompt", "prompt_and_response", "first_sentence", "last_sentence",
          "first_paragraph", "last_paragraph", "first_item")
_FIELD = re.compile(r"\{(\w+)\}")


def fill_pattern(pattern: str, fields: Mapping[str, Any] | None) -> str:
    """Substitute ``{field}`` names of the universe (escaped); other braces (``{2,3}``) are left alone."""
    if not fields:
        return pattern
    return _FIELD.sub(lambda m: re.escape(str(fields[m.group(1)])) if m.group(1) in fields else m.group(0), pattern)


def compile_rx(pattern: str, where: str, fields: Mapping[str, Any] | None = None, ignore_case: bool = True
               ) -> re.Pattern:
    if not isinstance(pattern, str) or not pattern:
        raise SpecError(f"{where}: a pattern must be a non-empty string, got {pattern!r}")
    try:
        return re.compile(fill_pattern(pattern, fields), re.I if ignore_case else 0)
    except re.error as e:
        raise SpecError(f"{where}: bad regular expression {pattern!r} ({e})") from None


# -------------------------------------------------------------------------------------------- text scopes
_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.*)$", re.M)


def list_items(text: str) -> list[str]:
    return _ITEM.findall(strip_code(text))


def prose_paragraphs(text: str) -> list[str]:
    return paragraphs(strip_code(text))


def first_sentence(text: str) -> str:
    ps = prose_paragraphs(text)
    if not ps:
        return ""
    first = ps[0].split("\n")[0] if _ITEM.match(ps[0]) else ps[0]
    ss = sentences(first.replace("\n", " "))
    return ss[0] if ss else ""


def last_sentence(text: str) -> str:
    ps = prose_paragraphs(text)
    if not ps:
        return ""
    ss = sentences(ps[-1].split("\n")[-1] if _ITEM.search(ps[-1]) else ps[-1].replace("\n", " "))
    return ss[-1] if ss else ""


def scope_text(scope: str, response: str, prompt: str) -> str:
    if scope == "response":
        return response
    if scope == "prose":
        return strip_code(response)
    if scope == "prompt":
        return prompt
    if scope == "prompt_and_response":
        return prompt + " " + response
    if scope == "first_sentence":
        return first_sentence(response)
    if scope == "last_sentence":
        return last_sentence(response)
    if scope == "first_paragraph":
        ps = prose_paragraphs(response)
        return ps[0] if ps else ""
    if scope == "last_paragraph":
        ps = prose_paragraphs(response)
        return ps[-1] if ps else ""
    if scope == "first_item":
        items = list_items(response)
        return items[0] if items else ""
    raise AssertionError(scope)  # pragma: no cover


# -------------------------------------------------------------------------------------------- helpers
def _kind(spec: Any, kinds: tuple[str, ...], where: str) -> tuple[str, Any, dict]:
    if isinstance(spec, str):
        spec = {"regex": spec}
    if not isinstance(spec, Mapping) or not spec:
        raise SpecError(f"{where}: expected a mapping with one of {', '.join(kinds)}, got {spec!r}")
    found = [k for k in spec if k in kinds]
    if len(found) != 1:
        bad = [k for k in spec if k not in kinds]
        if not found and bad:
            raise SpecError(f"{where}: " + unknown_message("kind", bad[0], kinds))
        raise SpecError(f"{where}: give exactly one of {', '.join(kinds)} (got {sorted(spec)})")
    kind = found[0]
    return kind, spec[kind], {k: v for k, v in spec.items() if k != kind}


def _count_range(value: Any, where: str) -> tuple[int, int]:
    if isinstance(value, bool):
        raise SpecError(f"{where}: expected a count or {{min, max}}, got {value!r}")
    if isinstance(value, int):
        return value, value
    if isinstance(value, Mapping) and set(value) <= {"min", "max"}:
        return int(value.get("min", 0)), int(value.get("max", 10 ** 6))
    raise SpecError(f"{where}: expected a count or {{min: A, max: B}}, got {value!r}")


def _check_opts(opts: dict, allowed: set[str], where: str) -> None:
    bad = sorted(set(opts) - allowed)
    if bad:
        raise SpecError(f"{where}: unknown option(s) {bad}; allowed: {sorted(allowed) or 'none'}")


def call_code(fn: Callable, args: tuple, params: dict, where: str) -> Any:
    """Call a registered function, passing data parameters only if it takes them."""
    if params:
        sig = inspect.signature(fn)
        takes_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        if not takes_kw and not set(params) <= set(sig.parameters):
            raise SpecError(f"{where}: code {getattr(fn, '__name__', fn)!r} takes no parameter(s) "
                            f"{sorted(set(params) - set(sig.parameters))}")
        return fn(*args, **params)
    return fn(*args)


def _all(results: list[bool | None]) -> bool | None:
    if any(r is False for r in results):
        return False
    return None if any(r is None for r in results) else True


def _any(results: list[bool | None]) -> bool | None:
    if any(r is True for r in results):
        return True
    return None if any(r is None for r in results) else False


# -------------------------------------------------------------------------------------------- detectors
def compile_detector(spec: Any, where: str, fields: Mapping[str, Any] | None = None,
                     context: Mapping[str, Any] | None = None) -> Detector:
    """A ``(response, prompt) -> bool | None`` function from a detector declaration."""
    kind, value, opts = _kind(spec, DETECTOR_KINDS, where)
    w = f"{where}.{kind}"
    if kind in ("regex", "absent", "starts_with", "ends_with"):
        _check_opts(opts, {"in", "min_count", "ignore_case"}, w)
        scope = opts.get("in", {"starts_with": "first_sentence", "ends_with": "last_sentence"}.get(kind, "response"))
        if scope not in SCOPES:
            raise SpecError(f"{w}: " + unknown_message("scope", scope, SCOPES))
        rx = compile_rx(value, w, fields, bool(opts.get("ignore_case", True)))
        need = int(opts.get("min_count", 1))
        if kind == "absent":
            return lambda r, p: not rx.search(scope_text(scope, r, p))
        return lambda r, p: len(rx.findall(scope_text(scope, r, p))) >= need if need > 1 else \
            bool(rx.search(scope_text(scope, r, p)))
    if kind in ("list_items", "paragraphs"):
        _check_opts(opts, set(), w)
        lo, hi = _count_range(value, w)
        count = (lambda r: len(list_items(r))) if kind == "list_items" else (lambda r: len(prose_paragraphs(r)))
        return lambda r, p: lo <= count(r) <= hi
    if kind == "language_is":
        _check_opts(opts, set(), w)
        return lambda r, p: language(r) == value
    if kind == "rewritten":
        if not isinstance(value, Mapping) or "table" not in value:
            raise SpecError(f"{w}: expected {{table: [[from, to], ...]}}")
        det = table_detector(table_pairs(value["table"], w), value.get("match", "word"))
        return lambda r, p: det(r)
    if kind == "named":
        _, det = named_rewrite(str(value), opts)
        return lambda r, p: det(r)
    if kind == "code":
        fn = DETECTORS.get(str(value))
        params = dict(opts)
        if "ctx" in inspect.signature(fn).parameters:
            params["ctx"] = context
        return lambda r, p: call_code(fn, (r, p), params, w)
    if kind in ("all", "any"):
        _check_opts(opts, set(), w)
        if not isinstance(value, list) or not value:
            raise SpecError(f"{w}: expected a non-empty list of detectors")
        parts = [compile_detector(v, f"{w}[{i}]", fields, context) for i, v in enumerate(value)]
        comb = _all if kind == "all" else _any
        return lambda r, p: comb([d(r, p) for d in parts])
    if kind == "not":
        _check_opts(opts, set(), w)
        inner = compile_detector(value, w, fields, context)
        return lambda r, p: (lambda x: None if x is None else not x)(inner(r, p))
    raise AssertionError(kind)  # pragma: no cover


def table_pairs(table: Any, where: str) -> list[tuple[str, str]]:
    """A rewrite table as (from, to) pairs, from a mapping or a list of two-element lists."""
    if isinstance(table, Mapping):
        pairs = [(str(a), str(b)) for a, b in table.items()]
    elif isinstance(table, list) and all(isinstance(x, (list, tuple)) and len(x) == 2 for x in table):
        pairs = [(str(a), str(b)) for a, b in table]
    else:
        raise SpecError(f"{where}: a rewrite table is a mapping {{from: to}} or a list of [from, to] pairs")
    if not pairs:
        raise SpecError(f"{where}: the rewrite table is empty")
    return pairs


# -------------------------------------------------------------------------------------------- applies
def compile_applies(spec: Any, where: str, fields: Mapping[str, Any] | None = None) -> Applies:
    """A ``(prompt) -> bool`` function from an applies declaration."""
    kind, value, opts = _kind(spec, APPLIES_KINDS, where)
    w = f"{where}.{kind}"
    if kind == "regex":
        _check_opts(opts, {"language", "ignore_case"}, w)
        rx = compile_rx(value, w, fields, bool(opts.get("ignore_case", True)))
        lang = opts.get("language")
        if lang:
            return lambda p: language(p) in (lang, "other") and bool(rx.search(p))
        return lambda p: bool(rx.search(p))
    if kind == "language_is":
        _check_opts(opts, set(), w)
        return lambda p: language(p) == value
    if kind == "code":
        fn = APPLIES.get(str(value))
        return lambda p: bool(call_code(fn, (p,), dict(opts), w))
    if kind in ("all", "any"):
        _check_opts(opts, set(), w)
        if not isinstance(value, list) or not value:
            raise SpecError(f"{w}: expected a non-empty list")
        parts = [compile_applies(v, f"{w}[{i}]", fields) for i, v in enumerate(value)]
        return (lambda p: all(f(p) for f in parts)) if kind == "all" else (lambda p: any(f(p) for f in parts))
    if kind == "not":
        inner = compile_applies(value, w, fields)
        return lambda p: not inner(p)
    raise AssertionError(kind)  # pragma: no cover
