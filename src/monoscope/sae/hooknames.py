"""Hook names in other libraries' SAE metadata ↔ monoscope's site names (`resid_post.12`, …).

The table is data (hook_names.json beside this file): TransformerLens / SAELens (`blocks.12.hook_resid_post`),
sparsify and Hugging Face module paths (`layers.12` is the output of block 12), dictionary_learning
(`resid_post_layer_12`). A name no rule knows is kept as it is, so using it with a model fails with the
model's own list of valid sites rather than silently meaning something else.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def _table() -> tuple[list[tuple[re.Pattern, str]], dict[str, str]]:
    d = json.loads(resources.files(__package__).joinpath("hook_names.json").read_text())
    return [(re.compile(r["pattern"]), r["kind"]) for r in d["rules"]], d["to_transformerlens"]


def to_monoscope(name: str | None) -> str | None:
    """`blocks.12.hook_resid_post` → `resid_post.12`; unknown names (and None) unchanged."""
    if not name:
        return name
    for pat, kind in _table()[0]:
        m = pat.fullmatch(name.strip())
        if m:
            if kind == "monoscope":
                return f"{m.group(1)}.{int(m.group(2))}"
            return f"{kind}.{int(m.group(1))}"
    return name


def to_transformerlens(name: str | None) -> str | None:
    """`resid_post.12` → `blocks.12.hook_resid_post` (the SAELens convention); other names unchanged."""
    mono = to_monoscope(name)
    if not mono or "." not in mono:
        return name
    kind, _, layer = mono.partition(".")
    fmt = _table()[1].get(kind)
    return fmt.format(layer=int(layer)) if fmt and layer.isdigit() else name
