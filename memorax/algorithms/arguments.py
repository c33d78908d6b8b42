"""Checks of what an algorithm is built and called with (networks, optimizers, keys,
step counts), made before anything compiles and naming the argument at fault."""

from __future__ import annotations

import functools
import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax

from memorax.networks import Network


def require_network(owner: str, argument: str, value, heads: tuple):
    """Check a network argument and its head at construction, with the argument's name."""
    if not isinstance(value, Network):
        raise TypeError(
            f"{owner}: {argument} must be a memorax Network, got {type(value).__name__}."
        )
    if not isinstance(value.head, heads):
        names = " or ".join(h.__name__ for h in heads)
        raise TypeError(
            f"{owner}: {argument} needs a {names} head, got {type(value.head).__name__}."
        )


def require_optimizer(owner: str, argument: str, value):
    if not isinstance(value, optax.GradientTransformation):
        raise TypeError(
            f"{owner}: {argument} must be an optax optimizer (e.g. optax.adam(3e-4)), got {type(value).__name__}."
        )


def require_updates(owner: str, argument: str, optimizer, parameters, updated: str):
    """Trace one step of `optimizer` on the shapes of `parameters` (abstractly: nothing
    runs or compiles), so that a hyper-parameter which is not a number
    (`optax.adam("3e-4")`) fails at construction, naming the optimizer, rather than
    deep inside optax in the first `train`. `updated` says whose parameters they are."""
    shapes = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)), parameters
    )
    try:
        jax.eval_shape(lambda p: optimizer.update(p, optimizer.init(p), p), shapes)
    except Exception as error:  # optax's error depends on which hyper-parameter is wrong
        suspects = ", ".join(
            f"{name}={value!r}" for name, value in unusable_hyperparameters(optimizer)
        )
        named = f" ({suspects})" if suspects else ""
        raise ValueError(
            f"{owner}: {argument} cannot update {updated}{named}: its hyper-parameters "
            "must be numbers or schedules, e.g. optax.adam(3e-4), not optax.adam('3e-4') "
            f"[{type(error).__name__}: {error}]"
        ) from error


def unusable_hyperparameters(optimizer, limit: int = 16) -> list[tuple[str, object]]:
    """Best effort, for error messages: `(name, value)` of the strings and non-finite
    numbers an optax optimizer's functions closed over (its hyper-parameters, where
    optax keeps them, `inject_hyperparams`'s included)."""
    found, seen = [], set()

    def visit(value, name: str, depth: int):
        if id(value) in seen or depth > 12 or len(found) >= limit:
            return
        seen.add(id(value))
        if isinstance(value, str):
            if value and (name, value) not in found:
                found.append((name, value))
        elif isinstance(value, float):
            if not math.isfinite(value) and (name, value) not in found:
                found.append((name, value))
        elif isinstance(value, types.FunctionType):
            cells = zip(value.__code__.co_freevars, value.__closure__ or ())
            for free_name, cell in cells:
                try:
                    visit(cell.cell_contents, free_name, depth + 1)
                except ValueError:  # an empty cell
                    continue
        elif isinstance(value, (tuple, list)):
            for item in value:
                visit(item, name, depth + 1)
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, str(key), depth + 1)

    visit(optimizer.init, "", 0)
    visit(optimizer.update, "", 0)
    return found


@functools.cache
def raw_key_shape() -> tuple[int, ...]:
    """The shape of a legacy uint32 key (`jax.random.PRNGKey(seed)`), e.g. (2,)."""
    return jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0))).shape


def _describe(value) -> str:
    if isinstance(value, (bool, int, float, str)):
        return f"the {type(value).__name__} {value!r}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"an array of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def require_key(owner: str, method: str, key):
    """A single PRNG key: typed (`jax.random.key(seed)`) or a legacy uint32 one
    (`jax.random.PRNGKey(seed)`). Several seeds go through `jax.vmap` (see `Algorithm`)."""
    shape, dtype = getattr(key, "shape", None), getattr(key, "dtype", None)
    if isinstance(key, (jax.Array, np.ndarray)) and dtype is not None:
        if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
            if tuple(shape) == ():
                return
            raise ValueError(
                f"{owner}.{method}: key must be a single key, got {_describe(key)}; for "
                "several seeds split it and vmap: jax.vmap(agent.init)(jax.random.split(key, n))."
            )
        if dtype == np.uint32 and tuple(shape) == raw_key_shape():
            return
    raise TypeError(
        f"{owner}.{method}: key must be a JAX PRNG key, e.g. jax.random.key(seed), got "
        f"{_describe(key)}."
    )


def iterations_for(owner: str, num_steps: int, steps_per_iteration: int) -> int:
    """Whole iterations covering `num_steps` env steps (rounded up)."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 0:
        raise ValueError(
            f"{owner}: num_steps must be a whole number of env steps >= 0, got {num_steps!r}."
        )
    return math.ceil(num_steps / steps_per_iteration)
