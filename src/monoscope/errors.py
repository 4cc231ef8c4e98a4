"""The one base class for errors a user can cause (bad input, a missing or damaged artifact).

The CLI prints such an error as one line, ``error: <message>``, and exits with code 2 (a traceback only with
``--debug``), so every message must name what was wrong and what would be right. Anything that is not a
``UserError`` is a bug in monoscope and keeps its traceback.
"""
from __future__ import annotations


class UserError(ValueError):
    """Bad input or a bad artifact, explained in one line."""
