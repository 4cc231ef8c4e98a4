"""The dashboard's limits, in one place and said aloud on every page: how long a prompt may be (inspector,
search and steering alike), the range a clamp may take, how long a request waits for the model, and how long
one steering generation may decode before it is cut (and marked as cut).

A prompt over the cap is refused with its length (it used to be cut to 1,024 tokens without a word, and
steering had no cap at all: a 10k-token prompt held the model for over a minute); a clamp that is not a
finite number in range is a 400 naming the range (`nan`/`inf` gave empty output and `1e308` a 500).
"""
from __future__ import annotations

import math

MAX_PROMPT_TOKENS = 1024          # the length the search and inspector encode at most
CLAMP_RANGE = (-100.0, 100.0)     # clamp values, in units of the feature's max activation
MODEL_WAIT_S = 30.0               # how long a request waits for the model while another one runs
GENERATE_MAX_S = 20.0             # how long one steering generation (each of its two sides) may decode


class LimitError(ValueError):
    """Input over a stated limit (the app answers a ValueError with 400 and the message)."""


class BusyError(RuntimeError):
    """The model stayed busy longer than MODEL_WAIT_S."""


def limits_line() -> str:
    lo, hi = CLAMP_RANGE
    return (f"limits: prompts up to {MAX_PROMPT_TOKENS:,} tokens (inspector, search, steering); clamps in "
            f"[{lo:g}, {hi:g}] × the feature's max activation; a request waits at most {MODEL_WAIT_S:g} s for the "
            f"model; each steered or unsteered generation decodes for at most {GENERATE_MAX_S:g} s")


def check_prompt(lm, prompt: str) -> None:
    """Refuse a prompt longer than MAX_PROMPT_TOKENS, saying how long it is."""
    if lm is None or not prompt:
        return
    n = len(lm.tokenizer(prompt, add_special_tokens=False).input_ids)
    if n > MAX_PROMPT_TOKENS:
        raise LimitError(f"the prompt is {n:,} tokens; this dashboard runs prompts of at most "
                         f"{MAX_PROMPT_TOKENS:,} tokens: shorten it")


def clamp_value(raw: str | None, default: float = 5.0) -> float:
    """A clamp value: a finite number within CLAMP_RANGE (units of the feature's max activation)."""
    lo, hi = CLAMP_RANGE
    if raw is None or str(raw).strip() == "":
        return default
    try:
        v = float(str(raw).strip())
    except ValueError:
        raise LimitError(f"clamp value must be a number in [{lo:g}, {hi:g}], got {raw!r}") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise LimitError(f"clamp value must be a finite number in [{lo:g}, {hi:g}] (units of the feature's max "
                         f"activation), got {raw!r}")
    return v


class model_turn:
    """`with model_turn(lock):` wait for the model at most MODEL_WAIT_S, then give up with BusyError (503)
    rather than queue behind a long request forever."""

    def __init__(self, lock, wait_s: float | None = None):
        self.lock, self.wait_s = lock, MODEL_WAIT_S if wait_s is None else wait_s

    def __enter__(self):
        if not self.lock.acquire(timeout=self.wait_s):
            raise BusyError(f"the model is busy with another request (waited {self.wait_s:g} s); try again")
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()
