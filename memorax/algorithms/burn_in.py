"""Burn-in (Kapturowski et al., 2019): the first steps of a training sequence only
refresh the carry it starts from; no loss sees their outputs and no gradient flows
back through them. Every algorithm burns in through `after_burn_in`.
"""

from __future__ import annotations

import jax

from memorax.algorithms.network_inputs import NetworkInputs


def after_burn_in(
    networks, carries, inputs: NetworkInputs, burn_in: int, head_inputs=None
):
    """`(carries, inputs)` for the steps after each sequence's first `burn_in` steps.

    The networks run over the burn-in steps from `carries` (one per network) and the
    refreshed carries are cut from the gradient. `inputs` are batch-first (sequence,
    time, ...); `head_inputs`, one dict per network (e.g. a Q head's `action`), go to
    the heads during the burn-in."""
    if not burn_in:
        return carries, inputs
    burn_in_inputs = drop_after(inputs, burn_in)
    head_inputs = head_inputs or tuple({} for _ in networks)
    carries = tuple(
        jax.lax.stop_gradient(
            burn_in_inputs.run(network, carry, **drop_after(extra, burn_in))[0]
        )
        for network, carry, extra in zip(networks, carries, head_inputs, strict=True)
    )
    return carries, drop_burn_in(inputs, burn_in)


def drop_after(tree, steps: int):
    """The first `steps` steps of batch-first (sequence, time, ...) arrays."""
    return jax.tree.map(lambda x: x[:, :steps], tree)


def drop_burn_in(tree, burn_in: int):
    """The steps after the burn-in of batch-first (sequence, time, ...) arrays."""
    return jax.tree.map(lambda x: x[:, burn_in:], tree)
