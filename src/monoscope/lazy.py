"""Lazy package exports (PEP 562): `from monoscope.store import harvest` imports `store/harvest.py` (and
torch) only when the name is first used, so `monoscope X --help`, which imports a stage's `cli` module and
therefore its package, starts without the model stack.

A package calls `attach(__name__, {"Name": "submodule", "alias": "submodule:original", ...})` and binds the
returned `__getattr__`, `__dir__` and `__all__`. Where an exported function shares its name with a
submodule (`store.harvest`, `features.explain`), the function keeps the name: the import system's binding of
the submodule as a package attribute is declined (the module stays reachable in `sys.modules` and by
`from .harvest import …`).
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any, Callable


class LazyPackage(types.ModuleType):
    """A package module whose exported names win over same-named submodules."""

    def __setattr__(self, name: str, value: Any) -> None:
        exports = self.__dict__.get("_lazy_exports", {})
        if isinstance(value, types.ModuleType) and name in exports and value.__name__ == f"{self.__name__}.{name}":
            return
        super().__setattr__(name, value)


def attach(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Make `package` resolve `exports` (name → "submodule", "submodule:original_name",
    or an absolute "monoscope.other.module[:name]" for a re-export) on first use."""
    table = {name: (spec.partition(":")[0], spec.partition(":")[2] or name) for name, spec in exports.items()}
    mod = sys.modules[package]
    mod.__class__ = LazyPackage
    mod.__dict__["_lazy_exports"] = table

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        sub, orig = table[name]
        value = getattr(importlib.import_module(sub if "." in sub else f"{package}.{sub}"), orig)
        mod.__dict__[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(mod.__dict__) | set(table))

    return __getattr__, __dir__, sorted(table)
