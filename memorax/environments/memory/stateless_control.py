"""CartPole and Pendulum with their velocities hidden (POPGym's stateless control tasks).

A policy that sees only positions must estimate the velocities from the positions it
has seen, which is the memory being tested. The physics is gymnax's: each task holds a
gymnax environment, steps it, and changes only what the agent observes and the reward
scale (POPGym's, so that an episode's return lies in [-1, 1]). The noisy variants add
Gaussian noise to each observation, so a single observation is also unreliable.

The time limit of these tasks is a truncation; a falling pole is a termination. The
difficulty settings (time limit, noise level) live in the parameters, so one compiled
program serves every difficulty of a task.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces
from gymnax.environments.classic_control import cartpole, pendulum

from memorax.environments.memory.arguments import non_negative_float, positive_integer


class _PartiallyObservedControl(environment.Environment):
    """A gymnax control task whose observation keeps only the positions.

    Subclasses choose the physics, what is visible and how the reward is scaled.
    gymnax's CartPole and Pendulum steps are deterministic (they ignore their key),
    so a step's key is left to the observation noise of the noisy variants.
    """

    def __init__(self, physics: environment.Environment, max_episode_length: int):
        super().__init__()
        self.physics = physics
        self.max_episode_length = positive_integer("max_episode_length", max_episode_length)

    @property
    def default_params(self):
        return self.physics.default_params.replace(max_steps_in_episode=self.max_episode_length)

    def action_space(self, params=None):
        return self.physics.action_space(params)

    def scaled_reward(self, physics_reward: jax.Array, params) -> jax.Array:
        """POPGym's per-step reward for gymnax's `physics_reward`."""
        raise NotImplementedError

    def step_env(self, key, state, action, params):
        _, state, physics_reward, terminated, info = self.physics.step_env(
            key, state, action, params
        )
        observation = self.get_obs(state, params, key)
        reward = self.scaled_reward(physics_reward, params).astype(jnp.float32)
        return observation, state, reward, terminated, info

    def reset_env(self, key, params):
        _, state = self.physics.reset_env(key, params)
        return self.get_obs(state, params), state


class _ObservationNoise:
    """Adds N(0, noise_sigma^2) noise to every observation, clipped to the observation space.

    Mixed in before a `_PartiallyObservedControl` task; `params_type` is that task's
    parameters plus a `noise_sigma` field.
    """

    params_type: type

    def __init__(self, noise_sigma: float = 0.1, max_episode_length: int = 200):
        super().__init__(max_episode_length)
        self.noise_sigma = non_negative_float("noise_sigma", noise_sigma)

    @property
    def default_params(self):
        return self.params_type(
            max_steps_in_episode=self.max_episode_length, noise_sigma=self.noise_sigma
        )

    def get_obs(self, state, params=None, key=None) -> jax.Array:
        clean = super().get_obs(state)
        noise = params.noise_sigma * jax.random.normal(key, clean.shape, jnp.float32)
        space = self.observation_space(params)
        return jnp.clip(clean + noise, space.low, space.high)

    def reset_env(self, key, params):
        physics_key, noise_key = jax.random.split(key)
        _, state = self.physics.reset_env(physics_key, params)
        return self.get_obs(state, params, noise_key), state


class StatelessCartPole(_PartiallyObservedControl):
    """Balance a pole seeing only cart position and pole angle; the velocities must be inferred.

    Observation: `[x, theta]` (float32), within twice the failure thresholds
    (|x| <= 4.8, |theta| <= 0.419 rad). The hidden velocities are in the state, which
    is gymnax's CartPole state.
    Action: Discrete(2), push left (0) or right (1).
    Episode: truncated after 200 / 400 / 600 steps (Easy / Medium / Hard); terminated
    earlier when the pole falls or the cart leaves the track.
    Reward: 1 / max_steps_in_episode for every step, the falling one included, so the
    return is the fraction of the time limit the pole stayed up.
    Maximum return: 1.0 (a full-state linear controller reaches it).
    Best memoryless return: unknown; pushing toward the side the pole leans to returns
    about 0.21 / 0.106 / 0.071 (estimated by simulation: the pole stays up about 42
    steps whatever the time limit); adding a cart-position term gains under 0.02.
    """

    def __init__(self, max_episode_length: int = 200):
        super().__init__(cartpole.CartPole(), max_episode_length)

    @property
    def name(self) -> str:
        return "StatelessCartPole"

    @property
    def num_actions(self) -> int:
        return 2

    def observation_space(self, params: cartpole.EnvParams) -> spaces.Box:
        high = jnp.array([2 * params.x_threshold, 2 * params.theta_threshold_radians], jnp.float32)
        return spaces.Box(-high, high, (2,), jnp.float32)

    def get_obs(self, state: cartpole.EnvState, params=None, key=None) -> jax.Array:
        return jnp.array([state.x, state.theta], jnp.float32)

    def scaled_reward(self, physics_reward, params):
        # Through gymnax's auto-reset the physics always pays 1: the pole was up before the step.
        return physics_reward / params.max_steps_in_episode


@struct.dataclass
class NoisyCartPoleParams(cartpole.EnvParams):
    """gymnax's CartPole parameters plus the standard deviation of the observation noise."""

    noise_sigma: float = 0.1


class NoisyStatelessCartPole(_ObservationNoise, StatelessCartPole):
    """StatelessCartPole with noisy observations; velocities and the true position must be filtered from the history.

    Observation: `[x, theta]` plus independent N(0, noise_sigma^2) noise on each, clipped
    to the observation space.
    Action: Discrete(2), push left (0) or right (1).
    Episode: truncated after 200 steps; terminated earlier when the pole falls.
    Difficulty: noise_sigma 0.1 / 0.2 / 0.3 (Easy / Medium / Hard).
    Reward: 1 / max_steps_in_episode per step, as in StatelessCartPole.
    Maximum return: 1.0 (a full-state controller on the true state reaches it).
    Best memoryless return: unknown; pushing toward the side the observed pole leans
    to returns about 0.248 / 0.195 / 0.164 (estimated by simulation).
    """

    params_type = NoisyCartPoleParams

    @property
    def name(self) -> str:
        return "NoisyStatelessCartPole"


class StatelessPendulum(_PartiallyObservedControl):
    """Swing up and hold a pendulum seeing only its angle; the angular velocity must be inferred.

    Observation: `[cos(theta), sin(theta)]` (float32, in [-1, 1]); the angular velocity
    is the hidden `theta_dot` of the state, which is gymnax's Pendulum state.
    Action: Box([-2], [2]), the torque.
    Episode: truncated after 200 / 150 / 100 steps (Easy / Medium / Hard); never
    terminated. Shorter episodes are harder: the swing-up takes a larger share.
    Reward: gymnax's Pendulum reward `-cost` rescaled as POPGym does, to
    `(1 - cost / c) / L` with `c` half the largest possible cost (about 8.14) and
    `L = max_steps_in_episode`: +1/L upright and still, -1/L in the worst state.
    Maximum return: below 1.0 (the pendulum starts at a random angle and must be swung
    up); an energy-pumping swing-up with a PD hold on the true state returns about
    0.91 / 0.88 / 0.82 (estimated by simulation).
    Best memoryless return: unknown; a torque that depends on the angle alone cannot
    damp the swing. The best such policy we found, the gravity-cancelling torque
    `clip(-8 sin(theta), -2, 2)`, returns about 0.365 at every difficulty (estimated
    by simulation), little above doing nothing (0.25).
    """

    def __init__(self, max_episode_length: int = 200):
        super().__init__(pendulum.Pendulum(), max_episode_length)

    @property
    def name(self) -> str:
        return "StatelessPendulum"

    @property
    def num_actions(self) -> int:
        return 1

    def observation_space(self, params: pendulum.EnvParams) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)

    def get_obs(self, state: pendulum.EnvState, params=None, key=None) -> jax.Array:
        return jnp.array([jnp.cos(state.theta), jnp.sin(state.theta)], jnp.float32)

    def scaled_reward(self, physics_reward, params):
        """Map gymnax's reward from [-largest cost, 0] to [-1/L, 1/L]."""
        largest_cost = jnp.pi**2 + 0.1 * params.max_speed**2 + 0.001 * params.max_torque**2
        half = largest_cost / 2
        return (physics_reward + half) / half / params.max_steps_in_episode


@struct.dataclass
class NoisyPendulumParams(pendulum.EnvParams):
    """gymnax's Pendulum parameters plus the standard deviation of the observation noise."""

    noise_sigma: float = 0.1


class NoisyStatelessPendulum(_ObservationNoise, StatelessPendulum):
    """StatelessPendulum with noisy observations; angle and velocity must be filtered from the history.

    Observation: `[cos(theta), sin(theta)]` plus independent N(0, noise_sigma^2) noise on
    each, clipped to [-1, 1].
    Action: Box([-2], [2]), the torque.
    Episode: truncated after 200 steps; never terminated.
    Difficulty: noise_sigma 0.1 / 0.2 / 0.3 (Easy / Medium / Hard).
    Reward: as in StatelessPendulum, in [-1/L, 1/L] per step.
    Maximum return: below 1.0; the full-state swing-up controller returns about 0.91
    (estimated by simulation).
    Best memoryless return: unknown; `clip(-8 sin(theta), -2, 2)` on the noisy
    observation returns about 0.350 / 0.333 / 0.327 (estimated by simulation).
    """

    params_type = NoisyPendulumParams

    @property
    def name(self) -> str:
        return "NoisyStatelessPendulum"


ENVIRONMENTS = {
    "StatelessCartPole-Easy": functools.partial(StatelessCartPole, max_episode_length=200),
    "StatelessCartPole-Medium": functools.partial(StatelessCartPole, max_episode_length=400),
    "StatelessCartPole-Hard": functools.partial(StatelessCartPole, max_episode_length=600),
    "NoisyStatelessCartPole-Easy": functools.partial(NoisyStatelessCartPole, noise_sigma=0.1),
    "NoisyStatelessCartPole-Medium": functools.partial(NoisyStatelessCartPole, noise_sigma=0.2),
    "NoisyStatelessCartPole-Hard": functools.partial(NoisyStatelessCartPole, noise_sigma=0.3),
    "StatelessPendulum-Easy": functools.partial(StatelessPendulum, max_episode_length=200),
    "StatelessPendulum-Medium": functools.partial(StatelessPendulum, max_episode_length=150),
    "StatelessPendulum-Hard": functools.partial(StatelessPendulum, max_episode_length=100),
    "NoisyStatelessPendulum-Easy": functools.partial(NoisyStatelessPendulum, noise_sigma=0.1),
    "NoisyStatelessPendulum-Medium": functools.partial(NoisyStatelessPendulum, noise_sigma=0.2),
    "NoisyStatelessPendulum-Hard": functools.partial(NoisyStatelessPendulum, noise_sigma=0.3),
}
