"""Activation functions by name, so that a network can be written in a config file."""

from __future__ import annotations

import difflib
from collections.abc import Callable

import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "leaky_relu": jax.nn.leaky_relu,
    "mish": jax.nn.mish,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "identity": lambda x: x,
}


def resolve_activation(activation: str | Callable, owner: str) -> Callable:
    """Return the function for `activation`, or fail naming `owner` and the choices."""
    if callable(activation):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]
    close = difflib.get_close_matches(str(activation), ACTIVATIONS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"{owner}: unknown activation {activation!r}.{hint} Known activations: "
        f"{', '.join(sorted(ACTIVATIONS))}, or pass a callable."
    )
