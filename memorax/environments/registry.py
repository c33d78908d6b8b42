"""One way to make any environment: `make(id, **kwargs) -> (env, env_params)`.

Every id names a gymnax-style environment: `step(key, state, action, params)` returns
`(observation, state, reward, terminated, truncated, info)` and resets itself when an
episode ends. The ids are gymnax's own and those of the native memory suite
(`memorax.environments.memory`).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable

import gymnax

from memorax.environments.gymnax_adapter import GymnaxAdapter
from memorax.environments.memory import ENVIRONMENTS as MEMORY_ENVIRONMENTS

# gymnax ids that cannot run without a download; listed so `make` can say so.
_NEEDS_DOWNLOAD = {
    "MNISTBandit-bsuite": "it downloads MNIST through tensorflow-datasets",
}


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
    here, before any compilation, with the closest valid names.
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
    env = factory(**constructor_kwargs)
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
    defaults = {name: getattr(params, name) for name in param_kwargs}
    return env, params.replace(**_like_defaults(param_kwargs, defaults))


def _like_defaults(values: dict, defaults: dict) -> dict:
    """Give plain numbers the type of the default they replace.

    gymnax selects between values of a field (e.g. BernoulliBandit's float
    `max_steps_in_episode`), which fails if an int replaces a float.
    """
    converted = {}
    for name, value in values.items():
        default = defaults[name]
        plain = (int, float)
        if type(default) in plain and type(value) in plain:
            value = type(default)(value)
        converted[name] = value
    return converted
