"""Every YAML block of docs/experiments.md is a complete experiment (or a sweep of
them) that builds."""

import re
from pathlib import Path

import pytest

from memorax.experiment import build_experiment
from memorax.experiment.suite import experiment_paths

PAGE = Path(__file__).resolve().parents[2] / "docs" / "experiments.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_there_is_an_example_per_algorithm():
    names = {re.search(r"name: (\w+)", block).group(1) for block in BLOCKS}
    assert names == {"PPO", "DQN", "R2D2", "PQN", "SAC"}


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_builds(index, tmp_path):
    path = tmp_path / "example.yaml"
    path.write_text(BLOCKS[index])
    problems: list[str] = []
    members = experiment_paths([path], problems)  # the file itself, or a sweep's members
    assert not problems and members
    for _, member in members:
        build_experiment(member)
