"""Tables of code that traits declared as data refer to by id, and the error a bad trait declaration raises.

A trait (a bias of the organism) is data: its ``applies``, ``exploit`` and ``detect`` entries name either a
generic, parameterised kind (a regular expression, a rewrite table, "a list of exactly N items", ...) or, for the
few behaviours that really need code, a Python function registered here under an id::

    @DETECTORS.register("python_camel_case")
    def _py_detect(response: str, prompt: str, **params) -> bool: ...

and the data file says ``detect: {code: python_camel_case}``. Unknown ids fail with the list of known ones.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import yaml

from ...errors import UserError
from .._text import close_matches


class SpecError(UserError):
    """An organism spec or trait declaration that cannot be used; the message names what to change."""


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Parse YAML with libyaml when available (the built-in trait files are large; pure Python is ~10x slower)."""
    return yaml.load(text, Loader=_Loader)


def unknown_message(kind: str, name: str, valid: Iterable[str]) -> str:
    valid = sorted(valid)
    near = close_matches(name, valid, n=2)
    hint = f" (did you mean {' or '.join(repr(m) for m in near)}?)" if near else ""
    return f"unknown {kind} {name!r}{hint}; known: {', '.join(valid)}"


class CodeTable:
    """Named Python functions of one kind (applies checks, exploits, detectors, answer builders)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._fns: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._fns and self._fns[name] is not fn:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._fns[name] = fn
            return fn
        return deco

    def get(self, name: str) -> Callable[..., Any]:
        _load_builtin_code()
        try:
            return self._fns[name]
        except KeyError:
            raise SpecError(unknown_message(f"{self.kind} code id", name, self._fns)) from None

    def names(self) -> list[str]:
        _load_builtin_code()
        return sorted(self._fns)

    def __contains__(self, name: object) -> bool:
        _load_builtin_code()
        return name in self._fns


APPLIES = CodeTable("applies")
EXPLOITS = CodeTable("exploit")
DETECTORS = CodeTable("detector")
ANSWERS = CodeTable("answer builder")
REWRITERS = CodeTable("code rewriter")

_loaded = False


def _load_builtin_code() -> None:
    """Import the modules that register code (once); they import this module, so this is done lazily."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from . import answers, builtin  # noqa: F401  (registration side effects)
    from .. import concealment  # noqa: F401  (the concealment trait's exploit and detector)
