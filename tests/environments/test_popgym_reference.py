"""Every level of the POPGym family has POPGym 1.0.7's spaces and episode limit.

The measured values live in `popgym_reference.py`; the random-play comparison runs
in each task's test file, reusing that file's compiled rollouts.
"""

from __future__ import annotations

import numpy as np
import pytest
from gymnax.environments import spaces

from memorax.environments import make, memory_ids
from tests.environments.popgym_reference import RANDOM_PLAY, SPACES

# Memory tasks that are not POPGym's.
NOT_POPGYM = ("TMaze",)
POPGYM_IDS = [env_id for env_id in memory_ids() if env_id.split("-")[0] not in NOT_POPGYM]


def test_every_popgym_level_has_its_reference_values():
    assert len(POPGYM_IDS) == 39  # 13 tasks, 3 levels each
    assert set(SPACES) == set(POPGYM_IDS)
    assert set(RANDOM_PLAY) == set(POPGYM_IDS)


@pytest.mark.parametrize("env_id", POPGYM_IDS)
def test_spaces_and_episode_limit_are_popgyms(env_id):
    reference = SPACES[env_id]
    env, params = make(env_id)
    observation_space = env.observation_space(params)
    assert observation_space.shape == (reference.observation_size,), reference.observation
    action_space = env.action_space(params)
    if reference.num_actions is None:  # the pendulums' torque
        assert isinstance(action_space, spaces.Box) and action_space.shape == (1,)
        low, high = (np.broadcast_to(bound, (1,)) for bound in (action_space.low, action_space.high))
        np.testing.assert_allclose([low, high], [[-2.0], [2.0]])
    else:
        assert isinstance(action_space, spaces.Discrete)
        assert action_space.n == reference.num_actions
    if reference.limit_truncates:
        assert params.max_steps_in_episode == reference.episode_limit
    else:
        # The game ends (terminated) at POPGym's length; the time limit never comes first.
        assert params.max_steps_in_episode > reference.episode_limit


@pytest.mark.parametrize("task", ["StatelessCartPole", "NoisyStatelessCartPole"])
def test_cart_pole_observation_bounds_are_popgyms(task):
    env, params = make(f"{task}-Easy")
    bounds = np.array([4.8, 0.41887903], np.float32)  # twice the failure thresholds
    space = env.observation_space(params)
    np.testing.assert_allclose(space.high, bounds, rtol=1e-6)
    np.testing.assert_allclose(space.low, -bounds, rtol=1e-6)
