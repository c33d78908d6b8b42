"""`Transition`: what one environment step taught the agent."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from memorax.algorithms.network_inputs import FIELDS


@struct.dataclass
class Transition:
    """One step of experience, batch-first: every field is (num_envs, time, ...).

    The seed's fields come first: `observation` (what the agent saw), `action`,
    `reward`, `done` (the episode ended at this step, terminated or truncated) and
    `info` (episode statistics and, for the transitions `train` returns, the training
    metrics under `info["metrics"]`). The rest is what the algorithms need:
    `terminated` and `truncated` kept apart (a time limit bootstraps, a terminal state
    does not), `final_observation` (the observation the step led to, before any
    auto-reset), and the network inputs that accompany `observation`:
    `episode_start`, `previous_action`, `previous_reward` (together with it:
    `NetworkInputs.of(transition)`).
    """

    observation: jax.Array
    action: jax.Array
    reward: jax.Array
    done: jax.Array
    info: dict[str, Any]
    terminated: jax.Array
    truncated: jax.Array
    final_observation: jax.Array
    episode_start: jax.Array
    previous_action: jax.Array
    previous_reward: jax.Array


def batch_first(transitions: Transition) -> Transition:
    """Time-major (time, num_envs, ...) transitions, as a scan writes them, in the
    contract's batch-first (num_envs, time, ...) order."""
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), transitions)


# What replay keeps of a step: the network's inputs, the action and its outcome, and
# the final observation a truncated step bootstraps from.
REPLAY_FIELDS = FIELDS + (
    "action",
    "reward",
    "terminated",
    "truncated",
    "final_observation",
)


def replay_row(transition: Transition) -> dict[str, jax.Array]:
    """The replayed fields of a transition, as a buffer row."""
    return {field: getattr(transition, field) for field in REPLAY_FIELDS}
