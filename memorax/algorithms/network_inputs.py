"""`NetworkInputs`: what a Network sees with each observation, in one named structure.

A memorax Network is called as `network(observation, episode_start, previous_action,
previous_reward, carry, **head_inputs)`. The algorithms keep those four inputs in the
environment loop, in transitions and in replay rows; this is the one place that knows
how to read them from there, how to build them for a final observation (seen right
after its step, before the auto-reset) and how to call a network with them.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from flax import struct

FIELDS = ("observation", "episode_start", "previous_action", "previous_reward")


def one_step(array):
    """(batch, ...) -> (batch, 1, ...): a single step as a sequence for a Network."""
    return jnp.expand_dims(array, 1)


def _field_reader(record):
    if isinstance(record, Mapping):
        return record.__getitem__
    return lambda name: getattr(record, name)


@struct.dataclass
class NetworkInputs:
    """The inputs that accompany each observation, every field with the same leading
    axes: (batch,) for one step, (batch, time) for sequences (see `Network`)."""

    observation: jax.Array
    episode_start: jax.Array  # the observation is the first of its episode
    previous_action: jax.Array  # zeros at an episode start
    previous_reward: jax.Array

    @classmethod
    def of(cls, record) -> NetworkInputs:
        """The inputs held by `record`: a LoopState, a Transition or a dict of replay
        rows (anything with the four fields, as attributes or keys)."""
        read = _field_reader(record)
        return cls(*(read(name) for name in FIELDS))

    @classmethod
    def at_final_observation(cls, step, action_dtype) -> NetworkInputs:
        """The inputs of each final observation of `step` (a Transition or replay rows
        with `final_observation`, `action` and `reward`), seen right after the step:
        its action (as `action_dtype`, the loop's previous-action dtype) and reward
        come as the previous ones, and it does not start an episode."""
        read = _field_reader(step)
        return cls(
            observation=read("final_observation"),
            episode_start=jnp.zeros(jnp.shape(read("reward")), bool),
            previous_action=read("action").astype(action_dtype),
            previous_reward=read("reward"),
        )

    def as_one_step(self) -> NetworkInputs:
        """(batch, ...) inputs of one step -> (batch, 1, ...) sequences of one step."""
        return jax.tree.map(one_step, self)

    def run(self, network, carry=None, **head_inputs):
        """`network(observation, episode_start, previous_action, previous_reward,
        carry, **head_inputs)`: `(carry, output)` for a Network, or any function
        with its signature."""
        return network(
            self.observation,
            self.episode_start,
            self.previous_action,
            self.previous_reward,
            carry,
            **head_inputs,
        )
