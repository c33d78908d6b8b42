"""Network outputs along a replayed sequence and at the observations episodes were
truncated at, which the sequence itself does not contain.

A time limit bootstraps from the value of the final observation (gymnax's
`info["final_observation"]`); in a replayed sequence the next row already belongs to
the next episode. The final observation's value needs the carry right after step t,
so the sequence is run one step at a time (equal to one call over the whole sequence
by the chunk-equivalence law), and the final observation is fed as one more step
only when some row was truncated at t.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.algorithms.environment_loop import one_step


def outputs_with_final_observations(
    network,
    observation,
    episode_start,
    previous_action,
    previous_reward,
    carry,
    final_observation,
    action,
    reward,
    truncated,
    head_inputs=None,
    final_head_inputs=None,
    output_time_axis: int = 1,
):
    """Run `network` over (batch, time) sequences; return `(carry, outputs,
    final_outputs)`, where `final_outputs[:, t]` is the output for
    `final_observation[:, t]` seen right after step t (with `action[:, t]` and
    `reward[:, t]` as its previous action and reward) where `truncated[:, t]`, and
    zeros elsewhere. `head_inputs` / `final_head_inputs` are dicts of (batch, time,
    ...) arrays for the head (e.g. `action=` for a Q head). `output_time_axis` is
    where the head puts time (2 for TwinContinuousQNetwork's (2, batch, time))."""
    head_inputs = head_inputs or {}
    final_head_inputs = final_head_inputs or {}
    swap = lambda tree: jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), tree)
    batch = observation.shape[0]
    steps = swap(
        (
            observation,
            episode_start,
            previous_action,
            previous_reward,
            final_observation,
            action,
            reward,
            truncated,
            head_inputs,
            final_head_inputs,
        )
    )

    def step(carry, inputs):
        (
            obs,
            start,
            prev_action,
            prev_reward,
            final_obs,
            act,
            rew,
            trunc,
            extra,
            final_extra,
        ) = inputs
        expand = lambda tree: jax.tree.map(one_step, tree)
        carry, output = network(
            one_step(obs),
            one_step(start),
            one_step(prev_action),
            one_step(prev_reward),
            carry,
            **expand(extra),
        )

        def final_output():
            _, value = network(
                one_step(final_obs),
                jnp.zeros((batch, 1), bool),
                one_step(act),
                one_step(rew),
                carry,
                **expand(final_extra),
            )
            return value

        zeros = lambda: jax.tree.map(jnp.zeros_like, output)
        final = jax.lax.cond(jnp.any(trunc), final_output, zeros)
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
