"""`Transition`: what one environment step taught the agent."""

from __future__ import annotations

from typing import Any

import jax
from flax import struct


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
    `episode_start`, `previous_action`, `previous_reward`.
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
