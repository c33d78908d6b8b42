"""Network outputs at the observations episodes were truncated at, which the next step
(after the auto-reset) or the next replayed row (already the next episode) does not
show.

A time limit bootstraps from the value of the final observation (gymnax's
`info["final_observation"]`), seen with the carry right after step t
(`NetworkInputs.at_final_observation`). While acting that carry is at hand
(`at_truncations`); along a replayed sequence the network is run one step at a time
(equal to one call over the whole sequence by the chunk-equivalence law) and the final
observation is fed as one more step only when some row was truncated at t
(`outputs_with_final_observations`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.algorithms.network_inputs import NetworkInputs, one_step


def at_truncations(transition, output_at_final_observation):
    """`output_at_final_observation()` where an episode was truncated, 0 elsewhere; only
    computed when some environment was truncated at this step."""

    def compute():
        return jnp.where(transition.truncated, output_at_final_observation(), 0.0)

    return jax.lax.cond(
        jnp.any(transition.truncated),
        compute,
        lambda: jnp.zeros_like(transition.reward),
    )


def outputs_with_final_observations(
    network,
    inputs: NetworkInputs,
    carry,
    final_inputs: NetworkInputs,
    truncated,
    head_inputs=None,
    final_head_inputs=None,
    output_time_axis: int = 1,
):
    """Run `network` over (batch, time) sequences of `inputs` from `carry`; return
    `(carry, outputs, final_outputs)`, where `final_outputs[:, t]` is the output for
    `final_inputs[:, t]` (`NetworkInputs.at_final_observation` of the rows) seen right
    after step t where `truncated[:, t]`, and zeros elsewhere. `head_inputs` /
    `final_head_inputs` are dicts of (batch, time, ...) arrays for the head (e.g.
    `action=` for a Q head). `output_time_axis` is where the head puts time (2 for
    TwinContinuousQNetwork's (2, batch, time))."""
    head_inputs = head_inputs or {}
    final_head_inputs = final_head_inputs or {}
    time_major = lambda tree: jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), tree)
    steps = time_major(
        (inputs, final_inputs, truncated, head_inputs, final_head_inputs)
    )

    def step(carry, step_inputs):
        inputs, final_inputs, truncated, extra, final_extra = step_inputs
        as_one_step = lambda tree: jax.tree.map(one_step, tree)
        carry, output = inputs.as_one_step().run(network, carry, **as_one_step(extra))

        def final_output():
            return final_inputs.as_one_step().run(
                network, carry, **as_one_step(final_extra)
            )[1]

        zeros = lambda: jax.tree.map(jnp.zeros_like, output)
        final = jax.lax.cond(jnp.any(truncated), final_output, zeros)
        drop_time = lambda x: jnp.take(x, 0, axis=output_time_axis)
        return carry, (jax.tree.map(drop_time, output), jax.tree.map(drop_time, final))

    carry, (outputs, finals) = jax.lax.scan(step, carry, steps)
    add_time = lambda x: jnp.moveaxis(x, 0, output_time_axis)
    outputs, finals = jax.tree.map(add_time, outputs), jax.tree.map(add_time, finals)
    at_truncation = jnp.expand_dims(truncated, tuple(range(output_time_axis - 1)))

    def mask(x):
        flags = at_truncation.reshape(
            at_truncation.shape + (1,) * (x.ndim - at_truncation.ndim)
        )
        return jnp.where(flags, x, 0)

    return carry, outputs, jax.tree.map(mask, finals)
