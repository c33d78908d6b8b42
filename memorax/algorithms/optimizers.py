"""One optax transformation for several networks trained by their own optimizers."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import optax


def network_label(index) -> str:
    return f"network_{index}"


def per_network_optimizer(
    optimizers: Sequence[optax.GradientTransformation],
    max_grad_norm: float | None = None,
):
    """Update the state of a tuple of networks `(n0, n1, ...)` (as `initial_state`
    splits it) with `optimizers[i]` for network i's parameters.

    A module shared by several networks appears once in the state, under the first
    network that holds it, so its parameters are updated by that network's optimizer
    (with the gradient of the whole loss). With `max_grad_norm` the gradients of all
    networks are first clipped together to that global norm.
    """

    def labels(params):
        return jax.tree_util.tree_map_with_path(
            lambda path, _: network_label(path[0].key), params
        )

    transform = optax.multi_transform(
        {network_label(i): optimizer for i, optimizer in enumerate(optimizers)}, labels
    )
    if max_grad_norm is not None:
        transform = optax.chain(optax.clip_by_global_norm(max_grad_norm), transform)
    return transform
