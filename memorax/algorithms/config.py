"""Checks shared by the algorithms' frozen configs: fail at construction, name the field."""

from __future__ import annotations

import dataclasses
import math


class ConfigError(ValueError):
    """A configuration value that cannot work, named by its config class and field."""


def fail(config, field: str, reason: str):
    raise ConfigError(
        f"{type(config).__name__}.{field}: {reason} (got {getattr(config, field, None)!r})."
    )


def check_types(config) -> None:
    """Reject values of the wrong kind (a float where a count is meant, a string...)."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.type in ("int", int) and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            fail(config, field.name, "must be an integer")
        if field.type in ("float", float) and (
            isinstance(value, bool) or not isinstance(value, (int, float))
        ):
            fail(config, field.name, "must be a number")
        if field.type in ("bool", bool) and not isinstance(value, bool):
            fail(config, field.name, "must be True or False")


def positive(config, *fields: str) -> None:
    for field in fields:
        if getattr(config, field) <= 0:
            fail(config, field, "must be positive")


def non_negative(config, *fields: str) -> None:
    for field in fields:
        value = getattr(config, field)
        if value is not None and (
            value < 0 or (isinstance(value, float) and not math.isfinite(value))
        ):
            fail(config, field, "must be a finite number >= 0")


def in_unit_interval(config, *fields: str) -> None:
    for field in fields:
        if not 0.0 <= getattr(config, field) <= 1.0:
            fail(config, field, "must lie in [0, 1]")
