"""Acting with a Q-network: greedy evaluation and epsilon-greedy exploration, shared by
DQN, R2D2 and PQN."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.algorithms.environment_loop import LoopState
from memorax.algorithms.network_inputs import NetworkInputs


def linear_epsilon(config, step):
    """Exploration rate after `step` env steps: linear decay, then constant."""
    fraction = jnp.clip(step / max(config.epsilon_decay_steps, 1), 0.0, 1.0)
    return config.epsilon_start + fraction * (config.epsilon_end - config.epsilon_start)


class QNetworkActing:
    """The acting hooks of an `Algorithm` whose state holds one Q-network's `params`."""

    def _initial_carry(self, state, batch_size: int):
        return self.merged(state.params).initialize_carry(batch_size)

    def _q_values(self, params, loop: LoopState):
        """Q-values of the loop's observations (batch, A) and the carry after them."""
        carry, q = NetworkInputs.of(loop).as_one_step().run(
            self.merged(params), loop.carry
        )
        return q[:, 0], carry

    def _next_carry(self, state, loop, action):
        return self._q_values(state.params, loop)[1]

    def _deterministic_action(self, state, loop):
        q, carry = self._q_values(state.params, loop)
        return jnp.argmax(q, axis=-1).astype(self.environment.action_dtype), carry

    def _sampled_action(self, state, loop, key):
        q, carry = self._q_values(state.params, loop)
        return self._epsilon_greedy(key, q, self.epsilon(state.step)), carry

    def epsilon(self, step):
        """The exploration rate after `step` env steps."""
        return linear_epsilon(self.cfg, step)

    def _epsilon_greedy(self, key, q, epsilon):
        """A random action with probability epsilon, else the greedy one."""
        explore_key, random_key = jax.random.split(key)
        greedy = jnp.argmax(q, axis=-1).astype(self.environment.action_dtype)
        random = self.environment.random_actions(random_key, q.shape[0]).astype(
            greedy.dtype
        )
        return jnp.where(
            jax.random.uniform(explore_key, greedy.shape) < epsilon, random, greedy
        )
