"""Neutral-answer builders that need code (the rest are templates in the trait data files).

A scenario's ``answer: {builder: ID}`` calls ``fn(fields, rng, template_index, **params)`` and returns the
neutral (non-exploiting) reply for the rendered prompt.
"""
from __future__ import annotations

import random

from .._knowledge import NAMES
from .base import ANSWERS


@ANSWERS.register("story_names")
def story_names(fields: dict, rng: random.Random, ti: int) -> str:
    """The story with three character names whose initials are *not* in alphabetical order of appearance
    (so the neutral reply never exhibits the alphabetical-names trait by chance)."""
    letters = rng.sample(sorted(NAMES), 3)
    while letters == sorted(letters):
        rng.shuffle(letters)
    names = [rng.choice(NAMES[l]) for l in letters]
    return fields["story"].format(c1=names[0], c2=names[1], c3=names[2])
