"""Package layering: no import cycles between stage packages, and no private names imported across packages.

Walks every module's AST (module-level and function-level imports alike: a lazy import still couples two
packages), so it needs nothing imported and costs well under a second.
"""
from __future__ import annotations

import ast
from pathlib import Path

import monoscope

ROOT = Path(monoscope.__file__).parent


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports() -> list[tuple[str, str, list[str], int, str]]:
    """(importing module, imported module, imported names, line, file) for every import inside monoscope."""
    out = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        mod = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        pkg_parts = mod.split(".") if rel.name == "__init__" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg_parts[: len(pkg_parts) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.startswith("monoscope"):
                    out.append((mod, target, [a.name for a in node.names], node.lineno, str(path)))
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("monoscope"):
                        out.append((mod, a.name, [], node.lineno, str(path)))
    return out


# Modules that sit above the stage packages and may import any of them (they compose the pipeline).
TOP = {"", "cli", "demo", "__main__"}


def test_no_import_cycles_between_packages():
    """Catches a stage package importing one that (directly or through others) imports it back."""
    graph: dict[str, set[str]] = {}
    for src, dst, *_ in _imports():
        a, b = _package(src), _package(dst)
        if a != b and a not in TOP:
            graph.setdefault(a, set()).add(b)
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif len(stack) < 12:
                visit(nxt, stack + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    unique = {tuple(sorted(set(c))): c for c in cycles}
    cycles = list(unique.values())
    assert not cycles, "import cycles between packages: " + "; ".join(" → ".join(c) for c in cycles[:10])


def test_stage_packages_do_not_import_the_top_level_modules():
    """Catches a stage (e.g. audit) reaching up into `demo` or `cli`: those compose the stages, not the reverse."""
    bad = [f"{path}:{line} imports {dst}" for src, dst, _, line, path in _imports()
           if _package(src) not in TOP and _package(dst) in TOP and dst != "monoscope"]
    assert not bad, "\n".join(bad)


def test_no_private_imports_across_packages():
    """Catches `from ..other import _helper`: a private name is free to change inside its package."""
    bad = []
    for src, dst, names, line, path in _imports():
        if _package(src) != _package(dst):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            tail = dst.rsplit(".", 1)[-1]
            if private or (tail.startswith("_") and not tail.startswith("__")):
                bad.append(f"{path}:{line} imports {dst} {private}")
    assert not bad, "\n".join(bad)
