"""One way to make any environment: `make(id, **kwargs) -> (env, env_params)`.

Every id names a gymnax-style environment: `step(key, state, action, params)` returns
`(observation, state, reward, terminated, truncated, info)` and resets itself when an
episode ends. The ids are gymnax's own and those of the native memory suite
(`memorax.environments.memory`).
"""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
from collections.abc import Callable

import gymnax
import numpy as np

from memorax.environments.gymnax_adapter import GymnaxAdapter
from memorax.environments.memory import ENVIRONMENTS as MEMORY_ENVIRONMENTS

# gymnax ids that cannot run without a download; listed so `make` can say so.
_NEEDS_DOWNLOAD = {
    "MNISTBandit-bsuite": "it downloads MNIST through tensorflow-datasets",
}

# Fields that count steps even where gymnax stores them as floats (BernoulliBandit
# selects between float values of its `max_steps_in_episode`).
_COUNT_FIELDS = {"max_steps_in_episode"}


def _gymnax_factory(env_id: str) -> Callable:
    def factory(**kwargs):
        env, _ = gymnax.make(env_id, **kwargs)
        return GymnaxAdapter(env, env_id)

    factory.__signature__ = inspect.signature(gymnax.registration._builtins[env_id])
    return factory


def _registry() -> dict[str, Callable]:
    registry = {env_id: _gymnax_factory(env_id) for env_id in gymnax.registered_envs}
    clashes = registry.keys() & MEMORY_ENVIRONMENTS.keys()
    assert not clashes, f"memory tasks reuse gymnax ids: {sorted(clashes)}"
    registry.update(MEMORY_ENVIRONMENTS)
    return registry


_REGISTRY = _registry()


def registered_ids() -> tuple[str, ...]:
    """Every id `make` accepts: gymnax's first, then the native memory suite."""
    return tuple(_REGISTRY)


def memory_ids() -> tuple[str, ...]:
    """The ids of the native JAX memory suite."""
    return tuple(MEMORY_ENVIRONMENTS)


def make(env_id: str, **kwargs):
    """Make the environment `env_id`; returns `(env, env_params)`.

    Keyword arguments go to the environment's constructor when it takes them (e.g.
    `corridor_length` of a T-maze) and otherwise replace fields of its default
    parameters (e.g. `max_steps_in_episode`). Unknown ids and unknown keywords fail
    here, before any compilation, with the closest valid names; so do values a field
    cannot take (a count that is not a positive integer, a float that is not finite).
    """
    if env_id not in _REGISTRY:
        close = difflib.get_close_matches(str(env_id), _REGISTRY, n=5, cutoff=0.4)
        hint = f" Closest known ids: {', '.join(close)}." if close else ""
        raise ValueError(
            f"Unknown environment id {env_id!r}.{hint} "
            "memorax.environments.registered_ids() lists them all."
        )
    if env_id in _NEEDS_DOWNLOAD:
        raise ValueError(
            f"Environment {env_id!r} is not available offline: "
            f"{_NEEDS_DOWNLOAD[env_id]}."
        )
    factory = _REGISTRY[env_id]
    constructor_names = set(inspect.signature(factory).parameters)
    constructor_kwargs = {k: v for k, v in kwargs.items() if k in constructor_names}
    try:
        env = factory(**constructor_kwargs)
    except ValueError as error:
        raise ValueError(f"make({env_id!r}): {error}") from error
    params = env.default_params
    param_kwargs = {k: v for k, v in kwargs.items() if k not in constructor_names}
    param_names = set(params.__dataclass_fields__)
    unknown = sorted(param_kwargs.keys() - param_names)
    if unknown:
        valid = sorted(constructor_names | param_names)
        raise ValueError(
            f"make({env_id!r}): unknown keyword(s) {unknown}; "
            f"valid keywords are {valid}."
        )
    replaced = {
        name: _like_default(env_id, name, value, getattr(params, name))
        for name, value in param_kwargs.items()
    }
    return env, params.replace(**replaced)


def _like_default(env_id: str, name: str, value, default):
    """`value` checked against, and given the type of, the default it replaces.

    Booleans stay booleans, integer fields (and `_COUNT_FIELDS`) take positive
    integers, float fields finite numbers; an int replacing a float default becomes a
    float, since gymnax selects between values of a field and fails on mixed types.
    Fields that hold arrays are replaced as given. A bad value raises a ValueError
    naming the environment, the keyword and what it must be.
    """
    if isinstance(default, bool | np.bool_):
        if not isinstance(value, bool | np.bool_):
            raise ValueError(
                f"make({env_id!r}): {name} must be True or False, got {value!r}"
            )
        return bool(value)
    if isinstance(default, numbers.Integral) or name in _COUNT_FIELDS:
        # Every integer field of the registered params is a count, length, interval
        # or speed: 0 or less truncates every step or divides by zero.
        if not _is_positive_integer(value):
            raise ValueError(
                f"make({env_id!r}): {name} must be a positive integer, got {value!r}"
            )
        return type(default)(int(value))
    if isinstance(default, numbers.Real):
        if not _is_real(value) or not math.isfinite(value):
            raise ValueError(
                f"make({env_id!r}): {name} must be a finite number, got {value!r}"
            )
        return type(default)(value)
    return value


def _is_real(value) -> bool:
    # bool is a Real, but `gravity=True` is a mistake, not a 1.0.
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _is_positive_integer(value) -> bool:
    """An int, or a float with an integral value (`200.0`), of at least 1; no bools."""
    if not _is_real(value):
        return False
    if isinstance(value, numbers.Integral):
        return value >= 1
    return math.isfinite(value) and float(value).is_integer() and value >= 1
