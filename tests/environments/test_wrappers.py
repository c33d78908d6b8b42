"""Tests of the environment wrappers: exact behaviour on a counting env, statistics
on real ones, auto-reset, jit + vmap, composition and argument checks."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments import make
from memorax.environments.wrappers import (
    DelayedObservation,
    EpisodeStatistics,
    Flicker,
    MaskObservation,
    NormalizeObservation,
    NormalizeReward,
    ObservationNoise,
    TimeLimit,
)
from tests.environments.rollout import random_policy


@struct.dataclass
class CountingState(environment.EnvState):
    pass


class CountingEnv(environment.Environment):
    """Observation [t, 100 + t] at time step t, reward t, terminates at t = length.

    Every quantity a wrapper touches is then known exactly, and no observation is
    ever all zeros (so a blank is recognisable).
    """

    def __init__(self, length: int = 5, dtype=jnp.float32):
        super().__init__()
        self.length = length
        self.dtype = dtype

    @property
    def default_params(self):
        return environment.EnvParams(max_steps_in_episode=10_000)

    def step_env(self, key, state, action, params):
        state = CountingState(time=state.time + 1)
        terminated = state.time >= self.length
        reward = state.time.astype(jnp.float32)
        return self.get_obs(state), state, reward, terminated, {}

    def reset_env(self, key, params):
        state = CountingState(time=jnp.int32(0))
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return jnp.array([state.time, 100 + state.time], self.dtype)

    def observation_space(self, params):
        return spaces.Box(
            np.array([0, 100]),
            np.array([self.length, 100 + self.length]),
            (2,),
            self.dtype,
        )

    def action_space(self, params):
        return spaces.Discrete(2)


@partial(jax.jit, static_argnames=("env", "num_steps"))
def rollout(env, params, key, num_steps: int):
    """One env, always action 0: the reset observation and every step's outputs."""
    reset_key, key = jax.random.split(key)
    first_observation, state = env.reset(reset_key, params)

    def step(state, step_key):
        observation, state, reward, terminated, truncated, info = env.step(
            step_key, state, 0, params
        )
        return state, (observation, reward, terminated, truncated, info)

    _, outputs = jax.lax.scan(step, state, jax.random.split(key, num_steps))
    return first_observation, outputs


@partial(jax.jit, static_argnames=("env", "num_envs", "num_steps"))
def random_rollouts(env, params, key, num_envs: int, num_steps: int):
    """`num_envs` vmapped envs under a uniformly random policy; outputs stacked
    as (step, env, ...), the reset observations as (env, ...)."""
    policy = random_policy(env, params)
    reset_key, key = jax.random.split(key)
    first_observation, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_envs), params
    )

    def step(state, step_key):
        action_key, env_key = jax.random.split(step_key)
        action = jax.vmap(policy, in_axes=(0, None, None))(
            jax.random.split(action_key, num_envs), None, None
        )
        observation, state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(env_key, num_envs), state, action, params)
        return state, (observation, reward, terminated, truncated, info)

    _, outputs = jax.lax.scan(step, state, jax.random.split(key, num_steps))
    return first_observation, outputs


def counting(length=5, **kwargs):
    env = CountingEnv(length, **kwargs)
    return env, env.default_params


def times(observations):
    """The time step each observation of the counting env shows."""
    return np.asarray(observations)[..., 0].astype(int).tolist()


KEY = jax.random.key(0)


def within(space, observations, slack=0.0):
    low, high = np.asarray(space.low) - slack, np.asarray(space.high) + slack
    return bool(np.all(observations >= low) and np.all(observations <= high))


# --- EpisodeStatistics -----------------------------------------------------------


def test_episode_statistics_reports_each_finished_episode_until_the_next():
    env, params = counting(length=3)
    _, (_, _, terminated, _, info) = rollout(EpisodeStatistics(env), params, KEY, 7)
    assert np.asarray(terminated).tolist() == [0, 0, 1, 0, 0, 1, 0]
    assert np.asarray(info["returned_episode"]).tolist() == [0, 0, 1, 0, 0, 1, 0]
    assert np.asarray(info["has_finished_episode"]).tolist() == [0, 0, 1, 1, 1, 1, 1]
    # Rewards 1 + 2 + 3 per episode, zeros before the first finish.
    assert np.asarray(info["episode_return"]).tolist() == [0, 0, 6, 6, 6, 6, 6]
    assert np.asarray(info["episode_length"]).tolist() == [0, 0, 3, 3, 3, 3, 3]


def test_episode_statistics_counts_truncations_of_time_limit():
    env, params = counting(length=100)
    wrapped = EpisodeStatistics(TimeLimit(env, max_steps=4))
    _, (_, _, terminated, _, info) = rollout(wrapped, params, KEY, 9)
    assert not np.asarray(terminated).any()
    assert np.asarray(info["returned_episode"]).tolist() == [0, 0, 0, 1, 0, 0, 0, 1, 0]
    assert np.asarray(info["episode_return"])[-1] == 1 + 2 + 3 + 4
    assert np.asarray(info["episode_length"])[-1] == 4


# --- MaskObservation ---------------------------------------------------------------


def test_mask_observation_removes_cartpole_velocities():
    env, params = make("CartPole-v1")
    masked = MaskObservation(env, indices=(3, 1))
    space = masked.observation_space(params)
    assert space.shape == (2,)
    full_low = np.asarray(env.observation_space(params).low)
    np.testing.assert_allclose(space.low, full_low[[0, 2]])

    observation, state = masked.reset(KEY, params)
    for step in range(5):
        observation, state, _, terminated, truncated, info = masked.step(
            jax.random.key(step), state, 1, params
        )
        assert not (terminated or truncated)
        np.testing.assert_allclose(observation, [state.x, state.theta], rtol=1e-6)
        np.testing.assert_array_equal(info["final_observation"], observation)


def test_mask_observation_keeps_the_final_observation_of_the_finished_episode():
    env, params = counting(length=2)
    _, (observation, _, _, _, info) = rollout(MaskObservation(env, [0]), params, KEY, 3)
    assert np.asarray(observation)[:, 0].tolist() == [101, 100, 101]
    assert np.asarray(info["final_observation"])[:, 0].tolist() == [101, 102, 101]


@pytest.mark.parametrize("indices", [(4,), (-1,), (), (0, 0), (0, 1, 2, 3), (1.0,), 3])
def test_mask_observation_rejects_bad_indices(indices):
    env, _ = make("CartPole-v1")
    with pytest.raises(ValueError, match="indices"):
        MaskObservation(env, indices)


# --- ObservationNoise --------------------------------------------------------------


def test_observation_noise_has_the_requested_std_and_fresh_samples():
    env, params = counting(length=10)
    noisy = ObservationNoise(env, std=0.5)
    first, (observation, *_) = random_rollouts(noisy, params, KEY, 64, 30)
    true_time = (np.arange(1, 31) % 10)[:, None, None]
    noise = np.asarray(observation) - (true_time + np.array([0, 100]))
    assert abs(noise.mean()) < 0.02
    assert abs(noise.std() - 0.5) < 0.02
    # Independent between the two entries, the environments and the steps.
    assert abs(np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]) < 0.05
    assert (
        abs(np.corrcoef(noise[:-1, :, 0].ravel(), noise[1:, :, 0].ravel())[0, 1]) < 0.05
    )
    assert abs((np.asarray(first) - [0, 100]).std() - 0.5) < 0.1
    space = noisy.observation_space(params)
    assert np.isinf(space.low) and np.isinf(space.high) and space.shape == (2,)


def test_observation_noise_final_observation_is_the_observation_unless_done():
    env, params = counting(length=4)
    _, (observation, _, terminated, _, info) = rollout(
        ObservationNoise(env, std=1.0), params, KEY, 12
    )
    same = np.all(np.isclose(observation, info["final_observation"], atol=1e-5), -1)
    np.testing.assert_array_equal(same, ~np.asarray(terminated))
    final_time = np.asarray(info["final_observation"])[np.asarray(terminated), 0]
    assert np.all(np.abs(final_time - 4) < 6)


def test_observation_noise_arguments():
    env, _ = counting()
    for bad_std in (-0.1, float("nan"), "big"):
        with pytest.raises(ValueError, match="std"):
            ObservationNoise(env, bad_std)
    with pytest.raises(ValueError, match="float"):
        ObservationNoise(CountingEnv(dtype=jnp.int32), 1.0)


# --- Flicker ------------------------------------------------------------------------


def test_flicker_blanks_a_fraction_p_of_observations():
    env, params = counting(length=7)
    first, (observation, _, _, _, _) = random_rollouts(
        Flicker(env, probability=0.3), params, KEY, 128, 40
    )
    blank = np.all(np.asarray(observation) == 0, -1)
    # A counting observation is never zero, so every zero is a flicker.
    rate, count = blank.mean(), blank.size
    assert abs(rate - 0.3) < 4 * np.sqrt(0.3 * 0.7 / count)
    first_rate = np.all(np.asarray(first) == 0, -1).mean()
    assert abs(first_rate - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 128)
    # Whether a step flickers does not depend on the previous step.
    after_blank = blank[1:][blank[:-1]].mean()
    assert abs(after_blank - 0.3) < 4 * np.sqrt(0.3 * 0.7 / blank[:-1].sum())


def test_flicker_extremes_and_space():
    env, params = counting(length=3)
    always = Flicker(env, probability=1.0)
    first, (observation, _, _, _, info) = rollout(always, params, KEY, 5)
    assert not np.asarray(first).any() and not np.asarray(observation).any()
    assert not np.asarray(info["final_observation"]).any()
    never = Flicker(env, probability=0.0)
    _, (observation, _, _, _, _) = rollout(never, params, KEY, 5)
    assert times(observation) == [1, 2, 0, 1, 2]
    # Widened so the blank lies inside: the counting env's second entry is >= 100.
    space = always.observation_space(params)
    np.testing.assert_array_equal(space.low, [0, 0])
    np.testing.assert_array_equal(space.high, [3, 103])


@pytest.mark.parametrize("probability", [-0.1, 1.5, float("nan"), None])
def test_flicker_rejects_bad_probability(probability):
    env, _ = counting()
    with pytest.raises(ValueError, match="probability"):
        Flicker(env, probability)


# --- DelayedObservation --------------------------------------------------------------


def test_delayed_observation_shows_the_observation_from_delay_steps_ago():
    env, params = counting(length=5)
    first, (observation, _, terminated, _, info) = rollout(
        DelayedObservation(env, delay=2), params, KEY, 10
    )
    assert times(first) == 0
    # Steps 1..5 end the first episode; the second restarts from its own first obs.
    assert times(observation) == [0, 0, 1, 2, 0, 0, 0, 1, 2, 0]
    assert times(info["final_observation"]) == [0, 0, 1, 2, 3, 0, 0, 1, 2, 3]
    assert np.asarray(terminated).tolist() == [0, 0, 0, 0, 1] * 2


def test_delayed_observation_longer_than_an_episode_and_zero_delay():
    env, params = counting(length=3)
    _, (observation, _, _, _, info) = rollout(
        DelayedObservation(env, 10), params, KEY, 7
    )
    assert times(observation) == [0] * 7
    assert times(info["final_observation"]) == [0] * 7
    _, (observation, _, _, _, info) = rollout(
        DelayedObservation(env, 0), params, KEY, 4
    )
    assert times(observation) == [1, 2, 0, 1]
    assert times(info["final_observation"]) == [1, 2, 3, 1]


def test_delayed_observation_restarts_at_time_limit_resets_too():
    env, params = counting(length=100)
    delayed = DelayedObservation(TimeLimit(env, max_steps=4), delay=1)
    _, (observation, _, _, truncated, info) = rollout(delayed, params, KEY, 8)
    assert np.asarray(truncated).tolist() == [0, 0, 0, 1] * 2
    assert times(observation) == [0, 1, 2, 0, 0, 1, 2, 0]
    assert times(info["final_observation"]) == [0, 1, 2, 3, 0, 1, 2, 3]


@pytest.mark.parametrize("delay", [-1, 1.5, True])
def test_delayed_observation_rejects_bad_delay(delay):
    env, _ = counting()
    with pytest.raises(ValueError, match="delay"):
        DelayedObservation(env, delay)


# --- NormalizeObservation -----------------------------------------------------------


def expected_normalized(seen, epsilon=1e-8, clip=10.0):
    """Each observation standardised by the statistics of all seen up to it."""
    seen = np.asarray(seen, np.float64)
    out = []
    for n in range(1, len(seen) + 1):
        mean, variance = seen[:n].mean(0), seen[:n].var(0)
        out.append(
            np.clip((seen[n - 1] - mean) / np.sqrt(variance + epsilon), -clip, clip)
        )
    return np.array(out)


def test_normalize_observation_matches_statistics_of_all_observations_seen():
    env, params = counting(length=3)
    first, (observation, _, terminated, _, info) = rollout(
        NormalizeObservation(env, clip=1.2), params, KEY, 8
    )
    # What the agent is shown: reset obs, then each step's obs, plus the next
    # episode's first obs after an episode end; statistics carry across episodes.
    seen = [[0, 100]]
    for t in range(1, 9):
        seen.append([(t - 1) % 3 + 1, 100 + (t - 1) % 3 + 1])
        if t % 3 == 0:
            seen.append([0, 100])
    expected = expected_normalized(seen, clip=1.2)
    np.testing.assert_allclose(first, expected[0], atol=1e-5)
    position, observations, finals = 1, [], []
    for done in np.asarray(terminated):
        finals.append(expected[position])
        position += 1 + done
        observations.append(expected[position - 1])
    np.testing.assert_allclose(info["final_observation"], finals, atol=1e-4)
    np.testing.assert_allclose(observation, observations, atol=1e-4)
    assert np.abs(np.asarray(observation)).max() == pytest.approx(1.2)


def test_normalize_observation_gives_standard_observations_on_cartpole():
    env, params = make("CartPole-v1")
    normalized = NormalizeObservation(env)
    _, (observation, *_) = random_rollouts(normalized, params, KEY, 64, 600)
    late = np.asarray(observation)[300:].reshape(-1, 4)
    np.testing.assert_allclose(late.mean(0), 0, atol=0.1)
    np.testing.assert_allclose(late.std(0), 1, atol=0.1)
    assert normalized.observation_space(params).contains(late).item()


def test_normalize_observation_arguments():
    env, _ = counting()
    for name, kwargs in [
        ("epsilon", {"epsilon": 0}),
        ("clip", {"clip": -1.0}),
        ("clip", {"clip": "x"}),
    ]:
        with pytest.raises(ValueError, match=name):
            NormalizeObservation(env, **kwargs)
    with pytest.raises(ValueError, match="float"):
        NormalizeObservation(CountingEnv(dtype=jnp.int32))


# --- NormalizeReward ----------------------------------------------------------------


def test_normalize_reward_divides_by_the_std_of_the_discounted_return():
    env, params = counting(length=3)
    gamma = 0.9
    _, (_, reward, _, _, _) = rollout(NormalizeReward(env, gamma=gamma), params, KEY, 8)
    rewards = [(t - 1) % 3 + 1 for t in range(1, 9)]
    returns, discounted = [], 0.0
    for t, r in enumerate(rewards, start=1):
        discounted = r + gamma * discounted
        returns.append(discounted)
        if t % 3 == 0:
            discounted = 0.0
    expected = []
    for n in range(1, 9):
        # The running statistics start from one pseudo-sample: mean 0, variance 1.
        sample = np.array(returns[:n])
        variance = (1 + sample.var() * n + sample.mean() ** 2 * n / (n + 1)) / (n + 1)
        expected.append(rewards[n - 1] / np.sqrt(variance + 1e-8))
    np.testing.assert_allclose(reward, expected, rtol=1e-5)


def test_normalize_reward_arguments():
    env, _ = counting()
    for name, kwargs in [
        ("gamma", {"gamma": 1.5}),
        ("gamma", {"gamma": -0.1}),
        ("epsilon", {"epsilon": -1.0}),
    ]:
        with pytest.raises(ValueError, match=name):
            NormalizeReward(env, **kwargs)


def test_episode_statistics_inside_normalize_reward_logs_true_returns():
    env, params = counting(length=3)
    wrapped = NormalizeReward(EpisodeStatistics(env))
    _, (_, reward, _, _, info) = rollout(wrapped, params, KEY, 3)
    assert info["episode_return"][-1] == 6
    assert not np.allclose(reward, [1, 2, 3])


# --- TimeLimit ----------------------------------------------------------------------


def test_time_limit_truncates_and_resets_the_inner_env():
    env, params = counting(length=100)
    _, (observation, _, terminated, truncated, info) = rollout(
        TimeLimit(env, max_steps=3), params, KEY, 7
    )
    assert np.asarray(truncated).tolist() == [0, 0, 1, 0, 0, 1, 0]
    assert np.asarray(info["truncated"]).tolist() == [0, 0, 1, 0, 0, 1, 0]
    assert not np.asarray(terminated).any()
    assert times(observation) == [1, 2, 0, 1, 2, 0, 1]
    assert times(info["final_observation"]) == [1, 2, 3, 1, 2, 3, 1]


def test_time_limit_counter_restarts_when_the_inner_episode_ends():
    env, params = counting(length=2)
    _, (_, _, terminated, truncated, _) = rollout(
        TimeLimit(env, max_steps=3), params, KEY, 9
    )
    assert not np.asarray(truncated).any()
    assert np.asarray(terminated).tolist() == [0, 1] * 4 + [0]


def test_time_limit_on_the_step_the_inner_episode_ends():
    env, params = counting(length=3)
    _, (observation, _, terminated, truncated, info) = rollout(
        TimeLimit(env, max_steps=3), params, KEY, 6
    )
    assert np.asarray(terminated).tolist() == [0, 0, 1] * 2
    assert np.asarray(truncated).tolist() == [0, 0, 1] * 2
    assert times(observation) == [1, 2, 0] * 2
    assert times(info["final_observation"]) == [1, 2, 3] * 2


def test_time_limit_arguments():
    env, _ = counting()
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="max_steps"):
            TimeLimit(env, bad)
    for statistics_keeper in (
        EpisodeStatistics(env),
        NormalizeObservation(env),
        Flicker(NormalizeReward(env), 0.1),
    ):
        with pytest.raises(ValueError, match="TimeLimit"):
            TimeLimit(statistics_keeper, 10)


# --- All wrappers: the gymnax API, jit + vmap, composition -------------------------

WRAPPERS = {
    "EpisodeStatistics": EpisodeStatistics,
    "MaskObservation": lambda env: MaskObservation(env, (1,)),
    "ObservationNoise": lambda env: ObservationNoise(env, 0.1),
    "Flicker": lambda env: Flicker(env, 0.5),
    "DelayedObservation": lambda env: DelayedObservation(env, 3),
    "NormalizeObservation": NormalizeObservation,
    "NormalizeReward": NormalizeReward,
    "TimeLimit": lambda env: TimeLimit(env, 7),
}
# Each wrapper on one real env (compiling all pairs would take too long); every
# env id appears, and CartPole is also covered by the tests above and below.
WRAPPED_ENV_IDS = [
    ("EpisodeStatistics", "MemoryChain-bsuite"),
    ("MaskObservation", "Pendulum-v1"),
    ("ObservationNoise", "Pendulum-v1"),
    ("Flicker", "MemoryChain-bsuite"),
    ("DelayedObservation", "CartPole-v1"),
    ("NormalizeObservation", "Pendulum-v1"),
    ("NormalizeReward", "CartPole-v1"),
    ("TimeLimit", "MemoryChain-bsuite"),
]


def test_every_wrapper_is_covered():
    assert sorted(name for name, _ in WRAPPED_ENV_IDS) == sorted(WRAPPERS)


@pytest.mark.parametrize("wrapper_name, env_id", WRAPPED_ENV_IDS)
def test_wrapped_real_env_runs_under_jit_and_vmap(wrapper_name, env_id):
    env, params = make(env_id)
    wrapped = WRAPPERS[wrapper_name](env)
    assert wrapped.name == env.name and wrapped.num_actions == env.num_actions
    assert wrapped.default_params == env.default_params
    assert type(wrapped.action_space(params)) is type(env.action_space(params))
    key = jax.random.key(1)
    first, outputs = random_rollouts(wrapped, params, key, 4, 40)
    observation, reward, terminated, truncated, info = outputs
    space = wrapped.observation_space(params)
    assert observation.shape == (40, 4, *space.shape)
    assert info["final_observation"].shape == observation.shape
    assert bool(space.contains(first)) and bool(space.contains(observation))
    # Slack for MemoryChain, whose own last observation of an episode can leave
    # its space by a rounding error (time remaining 1 - 5/5 = -1.5e-8).
    assert within(space, info["final_observation"], slack=1e-6)
    assert reward.shape == terminated.shape == truncated.shape == (40, 4)
    # Off episode ends they are the same observation (up to XLA computing it in
    # two fusions, which may round differently).
    not_done = ~np.asarray(terminated | truncated)
    np.testing.assert_allclose(
        np.asarray(observation)[not_done],
        np.asarray(info["final_observation"])[not_done],
        rtol=1e-5,
        atol=1e-6,
    )
    # Reproducible under the key (up to the same rounding).
    again = random_rollouts(wrapped, params, key, 4, 40)
    jax.tree.map(
        partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
        (first, outputs),
        again,
    )


def test_composed_wrappers_on_cartpole():
    env, params = make("CartPole-v1")
    wrapped = EpisodeStatistics(
        TimeLimit(Flicker(MaskObservation(env, (1, 3)), probability=0.2), max_steps=15)
    )
    first, (observation, _, terminated, truncated, info) = random_rollouts(
        wrapped, params, KEY, 32, 60
    )
    space = wrapped.observation_space(params)
    assert space.shape == (2,) and observation.shape == (60, 32, 2)
    for observations in (first, observation, info["final_observation"]):
        assert bool(space.contains(observations))
    blank = np.all(np.asarray(observation) == 0, -1)
    assert 0.1 < blank.mean() < 0.3
    done = np.asarray(terminated | truncated)
    np.testing.assert_array_equal(done, info["returned_episode"])
    finished = np.asarray(info["has_finished_episode"])
    assert finished[-1].all()
    lengths = np.asarray(info["episode_length"])[finished]
    assert lengths.max() == 15 and lengths.min() < 15
    # CartPole pays 1 per step, so the logged return is the length.
    np.testing.assert_allclose(np.asarray(info["episode_return"])[finished], lengths)


def test_wrappers_reject_environments_they_cannot_handle():
    class ImageEnv(CountingEnv):
        def observation_space(self, params):
            return spaces.Box(0.0, 1.0, (2, 2), jnp.float32)

    class DiscreteObservationEnv(CountingEnv):
        def observation_space(self, params):
            return spaces.Discrete(5)

    with pytest.raises(ValueError, match="1-D"):
        MaskObservation(ImageEnv(), (0,))
    for make_wrapper in (
        lambda env: Flicker(env, 0.1),
        lambda env: DelayedObservation(env, 1),
        lambda env: ObservationNoise(env, 1.0),
    ):
        with pytest.raises(ValueError, match="Box"):
            make_wrapper(DiscreteObservationEnv())
