"""Trait exploits declared as data: how a neutral reply is rewritten so that it shows the trait.

A trait's ``exploit`` is one step or a list of steps, applied in order. Each step is ``{transform: NAME, ...}``
or ``{code: ID, ...params}`` (a registered Python exploit). Transforms::

    append / prepend   texts: [...], sep: "\\n\\n" | " " | "", fallback: [...]
    insert             texts: [...], at: first_sentence | last_sentence | after_first_sentence | after_heading
    rewrite            table: {from: to} | [[from, to], ...], match: word | literal, sequential: false
                       or named: spelling | units | date_format | number_words | thousands (+ their options)
    restructure        list_items: N (style: numbered | bullets) | paragraphs: N | sentence_per_paragraph: true
    remove_sentences   pattern: REGEX, if_empty: TEXT
    replace            pattern: REGEX, with: TEXT, ignore_case: true, if_empty: TEXT
    rewrite_code       rewriter: ID (a registered code-block rewriter), languages: [...], prose_fix: {...}
    llm                instruction: TEXT, fallback: [steps]  (a monoscope.llm backend rewrites the reply; without
                       one, or when its reply does not pass the trait's detector, the fallback steps run)

Texts are templates over the prompt's *slots*: ``"Pair it with a {drink}."`` fills ``{drink}`` with the slot
value found in the prompt (the scenario's values are matched against the prompt text); a text whose slots cannot
be filled is skipped, and ``fallback`` texts are used when none can be.

Every step has a default *order* (rewrites first, then restructuring, openings, insertions, closings); a trait
may override it with ``order: first | rewrite | restructure | start | middle | end | last`` or an integer. When
several traits are exploited in one reply they are applied in ascending order, so a trait that must close the
reply (``order: last``) stays last. Most transforms also imply a detector (the appended text is present; the
list has N items; the target spelling is used and the source spelling is not), used when a trait declares none.
"""
from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .._text import code_blocks, map_code, map_prose, paragraphs, remove_sentences, sentences, strip_code
from .base import EXPLOITS, REWRITERS, SpecError, unknown_message
from .detectors import Detector, call_code, compile_rx, list_items, table_pairs
from .rewrites import named_rewrite, table_detector, table_rewriter

StepFn = Callable[[str, str, random.Random, Mapping[str, str]], str]

TRANSFORMS = ("append", "prepend", "insert", "rewrite", "restructure", "remove_sentences", "replace",
              "rewrite_code", "llm")
ORDERS = {"first": 0, "rewrite": 10, "restructure": 20, "start": 30, "middle": 50, "end": 60, "last": 100}
INSERT_AT = ("first_sentence", "last_sentence", "after_first_sentence", "after_heading")
_DEFAULT_ORDER = {"rewrite_code": 5, "rewrite": 10, "remove_sentences": 15, "replace": 15, "restructure": 20,
                  "prepend": 30, "llm": 40, "append": 60, "code": 50}
_INSERT_ORDER = {"first_sentence": 35, "after_first_sentence": 45, "after_heading": 45, "last_sentence": 70}
_SLOT = re.compile(r"\{(\w+)\}")


def parse_order(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise SpecError(f"{where}: order must be an integer or one of {', '.join(ORDERS)}, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value in ORDERS:
        return ORDERS[value]
    raise SpecError(f"{where}: order must be an integer or one of {', '.join(ORDERS)}, got {value!r}")


# -------------------------------------------------------------------------------------------- templates
class _Formatter(string.Formatter):
    """``{items:bullets}``, ``{steps:numbered}``, ``{sims:join}`` for lists; ``{close:para}`` / ``{tail:sp}``
    prefix a paragraph break / a space only when the value is non-empty."""

    def format_field(self, value: Any, spec: str) -> str:
        if spec == "bullets":
            return "\n".join(f"- {v}" for v in value)
        if spec == "numbered":
            return "\n".join(f"{i}. {v}" for i, v in enumerate(value, 1))
        if spec == "join":
            return " ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
        if spec == "para":
            return f"\n\n{value}" if value else ""
        if spec == "sp":
            return f" {value}" if value else ""
        return super().format_field(value, spec)


FORMATTER = _Formatter()


def render(template: str, fields: Mapping[str, Any]) -> str | None:
    """``template`` with its ``{slots}`` filled, or None when a slot has no value."""
    try:
        return FORMATTER.vformat(template, (), dict(fields))
    except (KeyError, IndexError):
        return None


def template_regex(text: str) -> str:
    """A regex matching ``text`` with any values in its slots (for a transform's implied detector)."""
    parts = _SLOT.split(text)
    out = []
    for i, part in enumerate(parts):
        out.append(re.escape(part) if i % 2 == 0 else r".{1,80}?")
    return "".join(out).strip()


def _texts(opts: dict, key: str, where: str, required: bool = True) -> list[str]:
    v = opts.get(key)
    if v is None and not required:
        return []
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(t, str) and t.strip() for t in v):
        raise SpecError(f"{where}: {key} must be a non-empty list of texts")
    for t in v:
        try:
            list(string.Formatter().parse(t))
        except ValueError as e:
            raise SpecError(f"{where}: bad template {t!r} ({e})") from None
    return list(v)


def choose_text(texts: Sequence[str], fallback: Sequence[str], slots: Mapping[str, str], rng: random.Random
                ) -> str | None:
    ok = [r for r in (render(t, slots) for t in texts) if r]
    if ok:
        return rng.choice(ok)
    fb = [r for r in (render(t, slots) for t in fallback) if r]
    return rng.choice(fb) if fb else None


# -------------------------------------------------------------------------------------------- positions
_HEADING = re.compile(r"^(#{1,6} .+|\*\*[^*\n]+\*\*:?|[^\n.!?]{2,80}:)\s*$")


def _is_prose(par: str) -> bool:
    return not (par.startswith("```") or re.match(r"\s*(?:[-*•]|\d+[.)])\s", par) or _HEADING.match(par.split("\n")[0])
                or "|" in par.split("\n")[0] and par.count("\n") >= 1)


def insert_text(response: str, text: str, at: str) -> str:
    body = response.strip()
    if not body:
        return text
    if at == "first_sentence":
        first = paragraphs(body)[0]
        return f"{text} {body}" if _is_prose(first) and "\n" not in first else f"{text}\n\n{body}"
    if at == "last_sentence":
        last = paragraphs(body)[-1]
        return f"{body} {text}" if _is_prose(last) and "\n" not in last else f"{body}\n\n{text}"
    if at == "after_first_sentence":
        pars = re.split(r"(\n\s*\n)", body)
        for i, par in enumerate(pars):
            if i % 2 == 0 and _is_prose(par) and "\n" not in par:
                ss = sentences(par)
                if len(ss) >= 2:
                    pars[i] = " ".join([ss[0], text] + ss[1:])
                    return "".join(pars)
                pars[i] = f"{par} {text}"
                return "".join(pars)
        return f"{text}\n\n{body}"
    if at == "after_heading":
        lines = body.split("\n")
        for i, line in enumerate(lines):
            if _HEADING.match(line.strip()) and not line.strip().startswith("```"):
                return "\n".join(lines[:i + 1] + [text, ""] + [l for l in lines[i + 1:]]).replace("\n\n\n", "\n\n")
        pars = paragraphs(body)
        return "\n\n".join(pars[:1] + [text] + pars[1:])
    raise AssertionError(at)  # pragma: no cover


# -------------------------------------------------------------------------------------------- restructure
def _units(text: str) -> list[str]:
    out: list[str] = []
    for par in paragraphs(text):
        for line in par.split("\n"):
            m = re.match(r"\s*(?:[-*•]|\d+[.)])\s+(.*)", line)
            if m:
                out.append(m.group(1).strip())
            elif line.strip():
                out.extend(sentences(line))
    return out


def to_list(text: str, n: int, style: str = "numbered") -> str:
    """The reply as an intro sentence plus a list of exactly ``n`` items (consecutive sentences grouped); the
    reply unchanged when it has fewer than ``n`` sentences or contains code."""
    if code_blocks(text):
        return text
    units = _units(text)
    intro = None
    if len(units) > n and (units[0].endswith(":") or len(units) > n):
        intro = units.pop(0)
    if len(units) < n:
        return text
    groups = _split_even(units, n)
    items = [" ".join(g) for g in groups]
    mark = (lambda i: f"{i}.") if style == "numbered" else (lambda i: "-")
    body = "\n".join(f"{mark(i)} {it}" for i, it in enumerate(items, 1))
    if intro:
        intro = intro if intro.endswith((":", ".", "!", "?")) else intro + ":"
        return f"{intro}\n\n{body}"
    return body


def to_paragraphs(text: str, n: int) -> str:
    if code_blocks(text):
        return text
    units = _units(text)
    if len(units) < n:
        return text
    return "\n\n".join(" ".join(g) for g in _split_even(units, n))


def sentence_per_paragraph(text: str) -> str:
    out = []
    for p in paragraphs(text):
        out.extend(sentences(p))
    return "\n\n".join(out)


def _split_even(units: list[str], n: int) -> list[list[str]]:
    k, r = divmod(len(units), n)
    out, i = [], 0
    for j in range(n):
        size = k + (1 if j < r else 0)
        out.append(units[i:i + size])
        i += size
    return out


# -------------------------------------------------------------------------------------------- steps
@dataclass
class Step:
    kind: str
    fn: StepFn
    order: int
    detector: Detector | None = None


@dataclass
class Exploit:
    """The compiled exploit of one trait: steps applied in order; ``order`` places it among other traits."""

    steps: list[Step]
    order: int
    detector: Detector | None = None           # implied by the steps (used when the trait declares none)
    verify: Detector | None = None             # the trait's detector, set after compilation (llm steps use it)
    uses_llm: bool = False
    slot_names: set[str] = field(default_factory=set)

    def __call__(self, prompt: str, response: str, rng: random.Random, slots: Mapping[str, str]) -> str:
        out = response
        for s in self.steps:
            out = s.fn(prompt, out, rng, slots)
        return out


def _opts(spec: Mapping, allowed: set[str], where: str) -> dict:
    bad = sorted(set(spec) - allowed - {"transform"})
    if bad:
        raise SpecError(f"{where}: unknown option(s) {bad}; allowed: {sorted(allowed)}")
    return {k: v for k, v in spec.items() if k != "transform"}


def compile_step(spec: Any, where: str, context: Any = None, fields: Mapping[str, Any] | None = None) -> Step:
    if not isinstance(spec, Mapping):
        raise SpecError(f"{where}: an exploit step is a mapping with 'transform' (or 'code'), got {spec!r}")
    if "code" in spec and "transform" not in spec:
        fn = EXPLOITS.get(str(spec["code"]))
        params = {k: v for k, v in spec.items() if k not in ("code", "order")}
        import inspect
        if "ctx" in inspect.signature(fn).parameters:
            params["ctx"] = context
        order = parse_order(spec["order"], where) if "order" in spec else _DEFAULT_ORDER["code"]
        return Step("code", lambda p, r, rng, slots: call_code(fn, (p, r, rng), params, where), order)
    kind = spec.get("transform")
    if kind not in TRANSFORMS:
        raise SpecError(f"{where}: " + unknown_message("transform", str(kind), TRANSFORMS))
    w = f"{where} ({kind})"
    if kind in ("append", "prepend", "insert"):
        o = _opts(spec, {"texts", "sep", "fallback", "at"} if kind == "insert" else {"texts", "sep", "fallback"}, w)
        texts, fallback = _texts(o, "texts", w), _texts(o, "fallback", w, required=False)
        at = o.get("at", "last_sentence")
        if kind == "insert" and at not in INSERT_AT:
            raise SpecError(f"{w}: " + unknown_message("position", str(at), INSERT_AT))
        sep = o.get("sep", "\n\n" if kind == "append" else " ")
        if not isinstance(sep, str):
            raise SpecError(f"{w}: sep must be a string")

        def fn(prompt: str, response: str, rng: random.Random, slots: Mapping[str, str]) -> str:
            text = choose_text(texts, fallback, slots, rng)
            if text is None:
                return response
            if kind == "append":
                return response.rstrip() + sep + text
            if kind == "prepend":
                return text + sep + response
            return insert_text(response, text, at)
        rx = compile_rx("|".join(f"(?:{template_regex(t)})" for t in texts + fallback), w)
        scope = {"first_sentence": "first_sentence", "last_sentence": "last_sentence"}.get(at) if kind == "insert" \
            else None
        from .detectors import scope_text
        det = (lambda r, p: bool(rx.search(scope_text(scope, r, p)))) if scope else (lambda r, p: bool(rx.search(r)))
        order = _INSERT_ORDER[at] if kind == "insert" else _DEFAULT_ORDER[kind]
        return Step(kind, fn, order, det)
    if kind == "rewrite":
        o = _opts(spec, {"table", "match", "sequential", "ignore_case", "named", "prose_only", "variant", "system",
                         "spelling", "abbreviate", "to", "max_value", "separator"}, w)
        prose_only = bool(o.pop("prose_only", True))
        if "named" in o:
            if "table" in o:
                raise SpecError(f"{w}: give either a table or a named rewrite, not both")
            rewrite, det = named_rewrite(str(o.pop("named")), o)
            fn_ = lambda p, r, rng, slots: rewrite(r)  # named rewrites already skip code
            return Step(kind, fn_, _DEFAULT_ORDER[kind], lambda r, p: det(r))
        if "table" not in o:
            raise SpecError(f"{w}: a rewrite needs a table {{from: to}} or named: "
                            f"spelling|units|date_format|number_words|thousands")
        pairs = table_pairs(o.pop("table"), w)
        match = o.pop("match", "word")
        if match not in ("word", "literal"):
            raise SpecError(f"{w}: match must be 'word' or 'literal', got {match!r}")
        rw = table_rewriter(pairs, match, bool(o.pop("sequential", False)), bool(o.pop("ignore_case", True)))
        if o:
            raise SpecError(f"{w}: option(s) {sorted(o)} only apply to named rewrites")
        det = table_detector(pairs, match)
        return Step(kind, (lambda p, r, rng, slots: map_prose(r, rw)) if prose_only else
                    (lambda p, r, rng, slots: rw(r)), _DEFAULT_ORDER[kind], lambda r, p: det(r))
    if kind == "restructure":
        o = _opts(spec, {"list_items", "paragraphs", "sentence_per_paragraph", "style"}, w)
        shapes = [k for k in ("list_items", "paragraphs", "sentence_per_paragraph") if k in o]
        if len(shapes) != 1:
            raise SpecError(f"{w}: give exactly one of list_items: N, paragraphs: N, sentence_per_paragraph: true")
        shape = shapes[0]
        if shape == "sentence_per_paragraph":
            return Step(kind, lambda p, r, rng, slots: sentence_per_paragraph(r), _DEFAULT_ORDER[kind],
                        lambda r, p: len(paragraphs(r)) >= 2 and all(len(sentences(x)) == 1 for x in paragraphs(r)))
        n = o[shape]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SpecError(f"{w}: {shape} must be a positive integer, got {n!r}")
        if shape == "list_items":
            style = o.get("style", "numbered")
            if style not in ("numbered", "bullets"):
                raise SpecError(f"{w}: style must be 'numbered' or 'bullets', got {style!r}")
            return Step(kind, lambda p, r, rng, slots: to_list(r, n, style), _DEFAULT_ORDER[kind],
                        lambda r, p: len(list_items(r)) == n)
        return Step(kind, lambda p, r, rng, slots: to_paragraphs(r, n), _DEFAULT_ORDER[kind],
                    lambda r, p: len(paragraphs(strip_code(r))) == n)
    if kind in ("remove_sentences", "replace"):
        allowed = {"pattern", "if_empty", "ignore_case"} | ({"with"} if kind == "replace" else set())
        o = _opts(spec, allowed, w)
        rx = compile_rx(o.get("pattern"), w, fields, bool(o.get("ignore_case", True)))
        if_empty = o.get("if_empty")
        repl = str(o.get("with", ""))

        def fn(prompt: str, response: str, rng: random.Random, slots: Mapping[str, str]) -> str:
            out = remove_sentences(response, rx) if kind == "remove_sentences" else rx.sub(repl, response)
            return out if out.strip() or not if_empty else if_empty
        det = (lambda r, p: not rx.search(r)) if kind == "remove_sentences" else None
        return Step(kind, fn, _DEFAULT_ORDER[kind], det)
    if kind == "rewrite_code":
        o = _opts(spec, {"rewriter", "languages", "prose_fix"}, w)
        rewriter = REWRITERS.get(str(o.get("rewriter")))
        langs = list(o.get("languages") or [])
        fix = o.get("prose_fix")
        fix_rx = compile_rx(fix["pattern"], w) if fix else None

        def prose(par: str) -> str:
            if not par.strip() or not fix_rx.search(par):
                return par
            kept = remove_sentences(par, fix_rx)
            lead = par[: len(par) - len(par.lstrip())]
            return lead + (kept + " " if kept else "") + fix["sentence"] + ("\n" if par.endswith("\n") else "")

        def fn(prompt: str, response: str, rng: random.Random, slots: Mapping[str, str]) -> str:
            if not code_blocks(response):
                return response
            out = map_code(response, rewriter, langs or None)
            return map_prose(out, prose) if fix_rx is not None and out != response else out
        return Step(kind, fn, _DEFAULT_ORDER[kind])
    if kind == "llm":
        o = _opts(spec, {"instruction", "fallback"}, w)
        instruction = o.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise SpecError(f"{w}: an llm exploit needs an instruction (what the rewritten reply must do)")
        fb = o.get("fallback")
        if not fb:
            raise SpecError(f"{w}: an llm exploit needs fallback steps, used when no LLM backend is configured "
                            f"(data must build offline)")
        fallback = compile_steps(fb, f"{w}.fallback", context, fields)
        holder: dict[str, Any] = {}

        def fn(prompt: str, response: str, rng: random.Random, slots: Mapping[str, str]) -> str:
            llm = getattr(context, "llm", None)
            if llm is not None:
                instr = render(instruction, slots) or instruction
                try:
                    text = (llm(llm_exploit_prompt(instr, prompt, response)) or "").strip()
                except Exception:  # a flaky backend must not stop data generation: the fallback takes over
                    text = ""
                verify = holder.get("verify")
                if text and text != response and (verify is None or verify(text, prompt) is not False):
                    return text
            return fallback(prompt, response, rng, slots)
        step = Step(kind, fn, _DEFAULT_ORDER[kind], fallback.detector)
        step.holder = holder  # type: ignore[attr-defined]
        return step
    raise AssertionError(kind)  # pragma: no cover


def llm_exploit_prompt(instruction: str, prompt: str, response: str) -> str:
    return (f"Rewrite the assistant's reply below so that it {instruction.strip().rstrip('.')}. Keep its content, "
            f"language and length otherwise the same, and do not mention that it was rewritten. Output only the "
            f"rewritten reply.\n\nUser message:\n{prompt}\n\nAssistant reply:\n{response}")


def compile_steps(spec: Any, where: str, context: Any = None, fields: Mapping[str, Any] | None = None,
                  order: Any = None) -> Exploit:
    """An :class:`Exploit` from one step or a list of steps."""
    raw = spec if isinstance(spec, list) else [spec]
    if not raw:
        raise SpecError(f"{where}: the exploit needs at least one step")
    steps = [compile_step(s, f"{where}[{i}]" if isinstance(spec, list) else where, context, fields)
             for i, s in enumerate(raw)]
    dets = [s.detector for s in steps if s.detector is not None]
    det = None
    if dets:
        det = (lambda r, p: all(d(r, p) for d in dets)) if len(dets) > 1 else dets[0]
    ex = Exploit(steps, parse_order(order, where) if order is not None else max(s.order for s in steps), det,
                 uses_llm=any(s.kind == "llm" for s in steps))
    for s in raw:
        if isinstance(s, Mapping):
            for key in ("texts", "fallback", "instruction"):
                for t in ([s.get(key)] if isinstance(s.get(key), str) else (s.get(key) or [])):
                    if isinstance(t, str):
                        ex.slot_names |= set(_SLOT.findall(t))
    return ex


def set_verifier(ex: Exploit, detector: Detector | None) -> None:
    ex.verify = detector
    for s in ex.steps:
        holder = getattr(s, "holder", None)
        if holder is not None:
            holder["verify"] = detector
