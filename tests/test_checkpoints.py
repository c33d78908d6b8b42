"""Checkpoints: the latest K and the best N kept together (also after a restart), a
bit-identical round trip of a whole training state with its PRNG keys, a refused
resume under another experiment, and half-written checkpoints never listed."""

import os

import jax
import pytest

from memorax.checkpoints import CheckpointMismatch, Checkpoints
from tests.algorithms.agents import assert_trees_equal
from tests.algorithms.test_ppo import ppo

EXPERIMENT = {"environment": {"id": "CartPole-v1"}, "algorithm": {"name": "PPO"}, "seeds": [0, 1], "total_steps": 100}


@pytest.fixture(scope="module")
def training_state():
    agent = ppo()
    return agent.init(jax.random.key(0))


def test_latest_and_best_are_kept_together_also_after_a_restart(tmp_path, training_state):
    checkpoints = Checkpoints(tmp_path, EXPERIMENT, keep=2, keep_best=1)
    for step, evaluation_return in [(10, 5.0), (20, 50.0), (30, 1.0), (40, None), (50, 3.0)]:
        checkpoints.save(step, training_state, {"env_step": step}, evaluation_return)
    assert checkpoints.steps() == [20, 40, 50] and checkpoints.latest_step() == 50
    assert checkpoints.best_step() == 20
    checkpoints.close()
    reopened = Checkpoints(tmp_path, EXPERIMENT, keep=2, keep_best=1)
    reopened.save(60, training_state, {"env_step": 60}, 0.5)
    assert reopened.steps() == [20, 50, 60] and reopened.best_step() == 20


def test_round_trip_is_bit_identical_keys_included(tmp_path, training_state):
    os.chdir(tmp_path)  # a relative directory is made absolute (orbax needs that)
    checkpoints = Checkpoints("relative/checkpoints", EXPERIMENT)
    assert checkpoints.directory == tmp_path / "relative" / "checkpoints"
    checkpoints.save(64, training_state, {"env_step": 64})
    like = jax.eval_shape(lambda: training_state)
    restored, metadata = checkpoints.restore(64, like)
    assert_trees_equal(restored, training_state)
    assert jax.dtypes.issubdtype(restored[0].dtype, jax.dtypes.prng_key)
    assert metadata == {"env_step": 64, "experiment": EXPERIMENT}


def test_resume_under_another_experiment_is_refused_naming_what_changed(tmp_path, training_state):
    Checkpoints(tmp_path, EXPERIMENT).save(64, training_state, {"env_step": 64})
    # The budget may grow between runs; the networks may not.
    longer = {**EXPERIMENT, "total_steps": 1000}
    Checkpoints(tmp_path, longer).restore(64, jax.eval_shape(lambda: training_state))
    changed = {**EXPERIMENT, "algorithm": {"name": "PPO", "config": {"num_envs": 8}}, "seeds": [0]}
    with pytest.raises(CheckpointMismatch, match=r"algorithm.config \(added\); seeds was \[0, 1\], is \[0\]"):
        Checkpoints(tmp_path, changed).restore(64, jax.eval_shape(lambda: training_state))


def test_a_half_written_checkpoint_is_not_listed(tmp_path, training_state):
    checkpoints = Checkpoints(tmp_path, EXPERIMENT)
    checkpoints.save(64, training_state, {"env_step": 64})
    # What a process killed while orbax was writing step 128 leaves behind.
    (tmp_path / "128.orbax-checkpoint-tmp-1733").mkdir()
    (tmp_path / "128.orbax-checkpoint-tmp-1733" / "state").mkdir()
    assert Checkpoints(tmp_path, EXPERIMENT).latest_step() == 64
