"""Stateless control tasks: full-state controllers do well, policies that see only the
positions do not, and the wrappers keep gymnax's physics with POPGym's observations and
reward scale.

Every difficulty of a task differs only in its parameters (time limit, noise level), so
each task runs one environment instance and compiles one rollout per policy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import pytest
from gymnax.environments import environment
from gymnax.environments.classic_control.pendulum import angle_normalize

from memorax.environments import make
from memorax.environments.memory.stateless_control import (
    NoisyStatelessCartPole,
    NoisyStatelessPendulum,
    StatelessCartPole,
    StatelessPendulum,
)
from tests.environments.popgym_reference import assert_random_play_matches_popgym
from tests.environments.rollout import (
    assert_mean_near,
    finished_episodes,
    finished_returns,
    random_policy,
)

NUM_ENVS = 256
RANDOM_PLAY_ENVS = 1024
KEY = jax.random.PRNGKey(0)


def balance_on_full_state(key, observation, state):
    """Linear full-state controller: push toward where the pole is falling."""
    push = state.theta + 0.2 * state.theta_dot + 0.01 * state.x + 0.05 * state.x_dot
    return (push > 0).astype(jnp.int32)


def push_toward_lean(key, observation, state):
    """Memoryless: push toward the side the (observed) pole leans to."""
    return (observation[1] > 0).astype(jnp.int32)


def swing_up_on_full_state(key, observation, state):
    """Pump energy until the pendulum reaches the top, then hold it with a PD law.

    In gymnax's pendulum (theta = 0 upright) `theta_dot^2 / 2 + 15 cos(theta)` changes
    only through the torque, by `3 * torque * theta_dot` per unit time, and is 15 at
    rest upright.
    """
    angle, velocity = angle_normalize(state.theta), state.theta_dot
    energy = 0.5 * velocity**2 + 15 * jnp.cos(angle)
    pump = 2.0 * jnp.sign((15 - energy) * velocity + 1e-6)
    hold = -(10 * angle + 2 * velocity)
    return jnp.clip(jnp.where(jnp.abs(angle) < 0.6, hold, pump), -2.0, 2.0)[None]


def cancel_gravity(key, observation, state):
    """Memoryless: a torque against gravity, as far as the torque limit allows."""
    return jnp.clip(-8.0 * observation[1], -2.0, 2.0)[None]


@dataclasses.dataclass(frozen=True)
class Task:
    env: environment.Environment
    oracle: Callable
    memoryless: Callable
    num_steps: int  # covers the longest time limit of the task
    # id suffix -> (oracle return at least, memoryless return from the docstring)
    expected: dict[str, tuple[float, float]]

    @property
    def random(self) -> Callable:
        return RANDOM_POLICIES[type(self.env)]


TASKS = {
    "StatelessCartPole": Task(
        StatelessCartPole(),
        balance_on_full_state,
        push_toward_lean,
        600,
        {"Easy": (1.0, 0.21), "Medium": (1.0, 0.106), "Hard": (1.0, 0.071)},
    ),
    "NoisyStatelessCartPole": Task(
        NoisyStatelessCartPole(),
        balance_on_full_state,
        push_toward_lean,
        200,
        {"Easy": (1.0, 0.248), "Medium": (1.0, 0.195), "Hard": (1.0, 0.164)},
    ),
    "StatelessPendulum": Task(
        StatelessPendulum(),
        swing_up_on_full_state,
        cancel_gravity,
        200,
        {"Easy": (0.89, 0.365), "Medium": (0.86, 0.365), "Hard": (0.79, 0.363)},
    ),
    "NoisyStatelessPendulum": Task(
        NoisyStatelessPendulum(),
        swing_up_on_full_state,
        cancel_gravity,
        200,
        {"Easy": (0.89, 0.350), "Medium": (0.89, 0.333), "Hard": (0.89, 0.327)},
    ),
}
# One random policy per task, so its rollout compiles once for all difficulties.
RANDOM_POLICIES = {
    type(task.env): random_policy(task.env, task.env.default_params) for task in TASKS.values()
}
IDS = [f"{family}-{level}" for family in TASKS for level in ("Easy", "Medium", "Hard")]


def first_returns(env_id, choose_policy):
    family, level = env_id.split("-")
    task = TASKS[family]
    env, params = make(env_id)
    assert type(env) is type(task.env)  # the difficulty is all in `params`
    returns = finished_returns(
        task.env, params, choose_policy(task), KEY, NUM_ENVS, task.num_steps
    )
    return returns, task.expected[level]


@pytest.mark.parametrize("env_id", IDS)
def test_full_state_controller_does_well(env_id):
    returns, (oracle_return, _) = first_returns(env_id, lambda task: task.oracle)
    assert float(returns.mean()) >= oracle_return - 1e-4
    assert float(returns.max()) <= 1.0 + 1e-4


@pytest.mark.parametrize("env_id", IDS)
def test_random_play_matches_popgym(env_id):
    family, level = env_id.split("-")
    task = TASKS[family]
    env, params = make(env_id)
    assert type(env) is type(task.env)  # the difficulty is all in `params`
    returns, lengths, terminated = finished_episodes(
        task.env, params, task.random, KEY, RANDOM_PLAY_ENVS, task.num_steps
    )
    assert_random_play_matches_popgym(env_id, returns, lengths, terminated)
    oracle_return, _ = task.expected[level]
    assert float(returns.mean()) < oracle_return - 0.5


@pytest.mark.parametrize("env_id", IDS)
def test_memoryless_policy_matches_estimate_and_stays_far_below(env_id):
    returns, (oracle_return, documented) = first_returns(env_id, lambda task: task.memoryless)
    # The documented value is itself an estimate, rounded: allow for both.
    assert_mean_near(returns, documented, slack=0.006)
    assert returns.mean() < oracle_return - 0.3


def play(env, params, policy, num_steps, key=KEY):
    """One env until its episode ends (at most `num_steps`).

    Per step: (state after the step, observation after it, reward, terminated,
    truncated); at the episode's last step the state is already the next episode's.
    """
    reset_key, key = jax.random.split(key)
    observation, state = env.reset(reset_key, params)
    steps = []
    for step_key in jax.random.split(key, num_steps):
        action = policy(None, observation, state)
        observation, state, reward, terminated, truncated, info = env.step(
            step_key, state, action, params
        )
        steps.append((state, info["final_observation"], reward, terminated, truncated))
        if terminated or truncated:
            break
    return steps


def test_cart_pole_pays_one_over_the_limit_per_step_and_truncates_at_it():
    env = TASKS["StatelessCartPole"].env
    params = env.default_params.replace(max_steps_in_episode=50)
    steps = play(env, params, balance_on_full_state, 60)
    assert len(steps) == 50
    assert all(float(reward) == pytest.approx(1 / 50) for _, _, reward, _, _ in steps)
    assert [bool(truncated) for *_, truncated in steps] == [False] * 49 + [True]
    assert not any(bool(terminated) for _, _, _, terminated, _ in steps)


def test_falling_pole_terminates_and_the_observation_drops_the_velocities():
    env = TASKS["StatelessCartPole"].env
    steps = play(env, env.default_params, lambda *_: 1, 200)
    assert len(steps) < 50  # always pushing right topples the pole quickly
    *_, (_, _, _, terminated, truncated) = steps
    assert bool(terminated) and not bool(truncated)
    for state, observation, *_ in steps[:-1]:
        assert jnp.array_equal(observation, jnp.array([state.x, state.theta]))


def test_pendulum_reward_spans_plus_minus_one_over_the_limit_and_never_terminates():
    env = TASKS["StatelessPendulum"].env
    params = env.default_params.replace(max_steps_in_episode=40)
    largest_cost = math.pi**2 + 0.1 * params.max_speed**2 + 0.001 * params.max_torque**2
    assert float(env.scaled_reward(jnp.float32(0.0), params)) == pytest.approx(1 / 40)
    assert float(env.scaled_reward(jnp.float32(-largest_cost), params)) == pytest.approx(-1 / 40)
    steps = play(env, params, cancel_gravity, 60)
    assert len(steps) == 40
    assert not any(bool(terminated) for _, _, _, terminated, _ in steps)
    assert bool(steps[-1][4])
    for state, observation, reward, _, _ in steps[:-1]:
        expected = jnp.array([jnp.cos(state.theta), jnp.sin(state.theta)])
        assert jnp.allclose(observation, expected)
        assert abs(float(reward)) <= 1 / 40 + 1e-7


@pytest.mark.parametrize("family", ["NoisyStatelessCartPole", "NoisyStatelessPendulum"])
def test_observation_noise_has_the_configured_scale(family):
    env = TASKS[family].env
    clean_task = TASKS[family.removeprefix("Noisy")]
    for noise_sigma in (0.1, 0.3):
        params = env.default_params.replace(noise_sigma=noise_sigma)
        keys = jax.random.split(KEY, 16384)
        observations, states = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
        clean = jax.vmap(clean_task.env.get_obs)(states)
        # The pendulum observation is clipped at +-1: measure its noise on sin(theta) near 0.
        noise = (observations - clean)[:, 0 if "CartPole" in family else 1]
        if "Pendulum" in family:
            noise = noise[jnp.abs(clean[:, 1]) < 0.1]
        assert abs(float(noise.std()) - noise_sigma) < 0.1 * noise_sigma
        assert abs(float(noise.mean())) < 0.1 * noise_sigma


@pytest.mark.parametrize(
    ("env_id", "max_steps", "noise_sigma"),
    [
        ("StatelessCartPole-Easy", 200, None),
        ("StatelessCartPole-Medium", 400, None),
        ("StatelessCartPole-Hard", 600, None),
        ("NoisyStatelessCartPole-Easy", 200, 0.1),
        ("NoisyStatelessCartPole-Medium", 200, 0.2),
        ("NoisyStatelessCartPole-Hard", 200, 0.3),
        ("StatelessPendulum-Easy", 200, None),
        ("StatelessPendulum-Medium", 150, None),
        ("StatelessPendulum-Hard", 100, None),
        ("NoisyStatelessPendulum-Easy", 200, 0.1),
        ("NoisyStatelessPendulum-Medium", 200, 0.2),
        ("NoisyStatelessPendulum-Hard", 200, 0.3),
    ],
)
def test_difficulty_settings(env_id, max_steps, noise_sigma):
    env, params = make(env_id)
    assert env.name == env_id.split("-")[0]
    assert params.max_steps_in_episode == max_steps
    assert getattr(params, "noise_sigma", None) == noise_sigma


def test_time_limit_and_noise_are_make_keywords():
    _, params = make("NoisyStatelessPendulum-Easy", noise_sigma=0.5, max_episode_length=80)
    assert (params.noise_sigma, params.max_steps_in_episode) == (0.5, 80)


@pytest.mark.parametrize(
    "make_env",
    [StatelessCartPole, StatelessPendulum, NoisyStatelessCartPole, NoisyStatelessPendulum],
)
@pytest.mark.parametrize("max_episode_length", [0, -10, 2.5, True])
def test_bad_time_limit_is_rejected(make_env, max_episode_length):
    with pytest.raises(ValueError, match="max_episode_length"):
        make_env(max_episode_length=max_episode_length)


@pytest.mark.parametrize("make_env", [NoisyStatelessCartPole, NoisyStatelessPendulum])
@pytest.mark.parametrize("noise_sigma", [-0.1, math.nan, math.inf, "0.1", None])
def test_bad_noise_is_rejected(make_env, noise_sigma):
    with pytest.raises(ValueError, match="noise_sigma"):
        make_env(noise_sigma=noise_sigma)
