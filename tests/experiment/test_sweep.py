"""Sweeps: one file, one experiment per combination of a grid, each named for its
values and addressed like a file of the suite."""

from pathlib import Path

import pytest

from memorax.cli import main
from memorax.experiment import ExperimentError, read_experiment
from memorax.experiment.run import RunPaths
from memorax.experiment.suite import read_suite

SWEEP = """\
sweep:
  environment.id: [MemoryChain-bsuite, CartPole-v1]
  optimizer.learning_rate: [0.001, 0.0003]
environment: {id: MemoryChain-bsuite}
algorithm:
  name: PPO
  config: {num_envs: 4, rollout_length: 16, num_epochs: 1, num_minibatches: 2}
network:
  torso: {type: GRU, features: 8}
total_steps: 128
seeds: 2
"""
MEMBERS = [
    "gru-MemoryChain-bsuite-learning_rate=0.001",
    "gru-MemoryChain-bsuite-learning_rate=0.0003",
    "gru-CartPole-v1-learning_rate=0.001",
    "gru-CartPole-v1-learning_rate=0.0003",
]


@pytest.fixture
def suite(tmp_path) -> Path:
    folder = tmp_path / "experiments" / "study"
    folder.mkdir(parents=True)
    (folder / "gru.yaml").write_text(SWEEP)
    (folder / "plain.yaml").write_text(SWEEP.split("environment:", 1)[1].join(["environment:", ""]))
    return folder


def test_a_sweep_stands_for_one_named_experiment_per_combination(suite):
    listed = read_suite(suite.parent, "study")
    assert [e.name for e in listed] == [*MEMBERS, "plain"]
    assert all(e.source == suite / "gru.yaml" for e in listed[:4]) and listed[4].source == suite / "plain.yaml"
    member = read_experiment(suite / f"{MEMBERS[2]}.yaml")  # not a file: read from the sweep
    assert member["environment"]["id"] == "CartPole-v1" and member["optimizer"]["learning_rate"] == 0.001
    assert "sweep" not in member
    paths = RunPaths.of(suite / f"{MEMBERS[2]}.yaml", suite.parent.parent / "results")
    assert (paths.suite, paths.name) == ("study", MEMBERS[2])


def test_the_sweep_file_itself_and_unknown_members_are_refused_by_name(suite):
    with pytest.raises(ExperimentError, match=r"gru.yaml: sweep: is a sweep of 4 experiments; name one, e.g. .*learning_rate=0.001.yaml"):
        read_experiment(suite / "gru.yaml")
    with pytest.raises(ExperimentError, match="cannot read the file"):
        read_experiment(suite / "gru-Pendulum-v1-learning_rate=0.001.yaml")


def test_bad_grids_and_bad_members_are_named(suite, capsys):
    (suite / "broken.yaml").write_text(SWEEP.replace("[0.001, 0.0003]", "[]"))
    (suite / "wrong.yaml").write_text(SWEEP.replace("optimizer.learning_rate", "optimizer.learning_rat"))
    assert main(["validate", str(suite / "broken.yaml"), str(suite / "wrong.yaml")]) == 1
    err = capsys.readouterr().err
    assert "broken.yaml: sweep.optimizer.learning_rate: must be a non-empty list of values, got []" in err
    assert "wrong-MemoryChain-bsuite-learning_rat=0.001.yaml: optimizer.learning_rat: unknown field; closest: learning_rate" in err


def test_validate_builds_every_member(suite, capsys):
    assert main(["validate", str(suite / "gru.yaml")]) == 0
    out = capsys.readouterr().out
    assert all(f"ok {suite / name}.yaml" in out for name in MEMBERS)
