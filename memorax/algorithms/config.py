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


def declared_type(field: dataclasses.Field) -> tuple[str, bool]:
    """A field's type name without None, and whether None is allowed:
    `float | None` -> ("float", True), `int` -> ("int", False)."""
    annotation = field.type
    if isinstance(annotation, type):
        return annotation.__name__, False
    names = [name.strip() for name in str(annotation).split("|")]
    kinds = [name for name in names if name != "None"]
    return " | ".join(kinds), len(kinds) < len(names)


def check_types(config) -> None:
    """Reject values of the wrong kind (a float where a count is meant, a string, an
    infinite or NaN number...); None only where the field is declared `X | None`."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        kind, optional = declared_type(field)
        if value is None:
            if not optional and kind in ("int", "float", "bool"):
                fail(config, field.name, "must not be None")
            continue
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            fail(config, field.name, "must be an integer" + (" or None" * optional))
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                fail(config, field.name, "must be a number" + (" or None" * optional))
            if isinstance(value, float) and not math.isfinite(value):
                fail(config, field.name, "must be a finite number")
        if kind == "bool" and not isinstance(value, bool):
            fail(config, field.name, "must be True or False")


def positive(config, *fields: str) -> None:
    for field in fields:
        if getattr(config, field) <= 0:
            fail(config, field, "must be positive")


def optional_positive(config, *fields: str) -> None:
    """Positive where set; None (the field's "off") passes."""
    for field in fields:
        value = getattr(config, field)
        if value is not None and value <= 0:
            fail(config, field, "must be positive or None")


def non_negative(config, *fields: str) -> None:
    """At least 0 where set; None passes."""
    for field in fields:
        value = getattr(config, field)
        if value is not None and value < 0:
            fail(config, field, "must be >= 0")


def in_unit_interval(config, *fields: str) -> None:
    for field in fields:
        if not 0.0 <= getattr(config, field) <= 1.0:
            fail(config, field, "must lie in [0, 1]")


def sequence_length_for(config, recurrent: bool) -> int:
    """An on-policy config's training sequence length, checked against its rollout:
    `config.sequence_length`, or its default (the whole rollout for networks with
    memory, single steps for memoryless ones)."""
    length = config.sequence_length or (config.rollout_length if recurrent else 1)
    if config.rollout_length % length:
        fail(
            config,
            "sequence_length",
            f"must divide rollout_length={config.rollout_length} (using {length})",
        )
    if config.burn_in >= length:
        fail(
            config,
            "burn_in",
            f"must be shorter than the training sequences ({length} steps)",
        )
    sequences = config.num_envs * (config.rollout_length // length)
    if sequences % config.num_minibatches:
        fail(
            config,
            "num_minibatches",
            f"must divide the {sequences} training sequences of an iteration "
            f"(num_envs={config.num_envs} x rollout_length={config.rollout_length} "
            f"/ sequence_length={length})",
        )
    return length


def replay_fits(config, window_length: int, window: str) -> None:
    """A replay config's buffer holds a window of `window_length` rows in each of its
    `num_envs` columns, and at least `batch_size` different windows when full (a
    larger batch could only repeat windows). `window` says what the rows are."""
    name = type(config).__name__
    rows = config.buffer_size // config.num_envs
    if rows < window_length:
        fail(
            config,
            "buffer_size",
            f"must give each of the {config.num_envs} environments room for one "
            f"window of {window_length} steps ({window})",
        )
    windows = config.num_envs * (rows - window_length + 1)
    if config.batch_size > windows:
        fail(
            config,
            "batch_size",
            f"must not exceed the {windows} windows of {window_length} steps that "
            f"{name}.buffer_size={config.buffer_size} holds over num_envs="
            f"{config.num_envs} environments (a batch would repeat windows)",
        )
