"""Checks of constructor arguments, raising a ValueError that names the argument.

Tasks are built from Python values (often `make(id, **overrides)`), so a bad one
should fail at construction with a clear message, not later inside `jit`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def _is_integer(value) -> bool:
    # bool is an Integral, but `True` decks or arms is a mistake, not a 1.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def boolean(name: str, value) -> bool:
    # A switch given as 0, 1 or "yes" is a typo more often than a choice.
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def positive_integer(name: str, value) -> int:
    if not _is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def integer_at_least(name: str, value, minimum: int) -> int:
    if not _is_integer(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def integer_in_range(name: str, value, low: int, high: int, why: str = "") -> int:
    """An integer in [low, high], both included; `why` explains the bounds."""
    if not _is_integer(value) or not low <= value <= high:
        raise ValueError(
            f"{name} must be an integer in [{low}, {high}]{why}, got {value!r}"
        )
    return int(value)


def non_negative_float(name: str, value) -> float:
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def one_of(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value
