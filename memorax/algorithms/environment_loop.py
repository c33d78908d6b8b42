"""Step a batch of environments and keep what the network needs between steps.

Every algorithm acts the same way: the network sees the current observation with the
previous action and reward and a flag that marks the first step of an episode, its
carry continues across steps and is reset by the network itself at episode starts.
`EnvironmentLoop` owns that bookkeeping, plus the running episode statistics, so the
algorithms only choose actions and learn.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from memorax.algorithms.transition import Transition
from memorax.networks.spaces import action_spec


@struct.dataclass
class LoopState:
    """The environments between two steps; every field has the env batch first. The
    network's inputs for the current step are `NetworkInputs.of(loop)`."""

    env_state: Any
    observation: jax.Array
    episode_start: jax.Array  # `observation` is the first of its episode
    previous_action: jax.Array  # zeros at an episode start
    previous_reward: jax.Array
    carry: Any  # the networks' carries after the steps so far (before `observation`)
    episode_return: jax.Array  # of the episode under way
    episode_length: jax.Array


class EnvironmentLoop:
    """`num_envs` copies of a gymnax-API environment, stepped together."""

    def __init__(self, env, env_params, num_envs: int):
        self.env = env
        self.env_params = env_params
        self.num_envs = num_envs
        self.observation_space = env.observation_space(env_params)
        self.action_space = env.action_space(env_params)
        self.action_spec = action_spec(self.action_space)
        self.action_shape = self.action_spec.shape
        self.action_dtype = jnp.int32 if self.action_spec.discrete else jnp.float32

    def reset(self, key, carry, num_envs: int | None = None) -> LoopState:
        num_envs = self.num_envs if num_envs is None else num_envs
        keys = jax.random.split(key, num_envs)
        observation, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(
            keys, self.env_params
        )
        return LoopState(
            env_state=env_state,
            observation=observation,
            episode_start=jnp.ones(num_envs, dtype=bool),
            previous_action=jnp.zeros(
                (num_envs, *self.action_shape), self.action_dtype
            ),
            previous_reward=jnp.zeros(num_envs, jnp.float32),
            carry=carry,
            episode_return=jnp.zeros(num_envs, jnp.float32),
            episode_length=jnp.zeros(num_envs, jnp.int32),
        )

    def clip_to_space(self, action):
        """Continuous actions are clipped to the box before the environment sees them."""
        if self.action_spec.discrete:
            return action
        low = np.reshape(self.action_spec.low, self.action_shape)
        high = np.reshape(self.action_spec.high, self.action_shape)
        return jnp.clip(action, low, high)

    def random_actions(self, key, num_envs: int | None = None):
        num_envs = self.num_envs if num_envs is None else num_envs
        spec = self.action_spec
        if spec.discrete:
            return jax.random.randint(key, (num_envs,), 0, spec.num_actions)
        low = np.reshape(spec.low, spec.shape)
        high = np.reshape(spec.high, spec.shape)
        return jax.random.uniform(key, (num_envs, *spec.shape), minval=low, maxval=high)

    def example_transition(self, loop: LoopState) -> Transition:
        """Zeros shaped like the transition `step` returns from `loop` (for buffers)."""
        action = jnp.zeros((loop.observation.shape[0], *self.action_shape), self.action_dtype)
        shapes = jax.eval_shape(self.step, jax.random.key(0), loop, action, loop.carry)[1]
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def step(self, key, loop: LoopState, action, carry) -> tuple[LoopState, Transition]:
        """Act in every environment; `carry` is the networks' carry after `loop.observation`.

        Returns the next loop state and the step's transition (batch (num_envs,), no
        time axis). `info` holds `episode_return` / `episode_length` of an episode
        that finished at this step (0 elsewhere), `returned_episode`, and
        `environment_reward`: the reward as the environment paid it (before a
        NormalizeReward wrapper, whose scaled reward is `transition.reward`).
        """
        keys = jax.random.split(key, loop.observation.shape[0])
        observation, env_state, reward, terminated, truncated, info = jax.vmap(
            self.env.step, in_axes=(0, 0, 0, None)
        )(keys, loop.env_state, self.clip_to_space(action), self.env_params)
        reward = reward.astype(jnp.float32)
        done = jnp.logical_or(terminated, truncated)
        # Episode returns are the environment's own, also under NormalizeReward.
        environment_reward = info.get("unnormalized_reward", reward).astype(jnp.float32)
        episode_return = loop.episode_return + environment_reward
        episode_length = loop.episode_length + 1
        final_observation = info.get("final_observation", observation)
        transition = Transition(
            observation=loop.observation,
            action=action,
            reward=reward,
            done=done,
            info={
                "episode_return": jnp.where(done, episode_return, 0.0),
                "episode_length": jnp.where(done, episode_length, 0),
                "returned_episode": done,
                "environment_reward": environment_reward,
            },
            terminated=terminated,
            truncated=truncated,
            final_observation=final_observation,
            episode_start=loop.episode_start,
            previous_action=loop.previous_action,
            previous_reward=loop.previous_reward,
        )
        not_done = jnp.logical_not(done)
        keep = lambda x: (
            x * not_done.reshape(not_done.shape + (1,) * (x.ndim - 1)).astype(x.dtype)
        )
        next_loop = LoopState(
            env_state=env_state,
            observation=observation,
            episode_start=done,
            previous_action=keep(action.astype(self.action_dtype)),
            previous_reward=keep(reward),
            carry=carry,
            episode_return=jnp.where(done, 0.0, episode_return),
            episode_length=jnp.where(done, 0, episode_length),
        )
        return next_loop, transition
