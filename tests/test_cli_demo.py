"""The `memorax` command line and the recall demo (the README's main job for now)."""

import json
import subprocess
import sys

import pytest

from memorax.cli import main
from memorax.demo import RecallConfig, sample_batch, train


def test_recall_targets_follow_episode_starts():
    import jax
    import numpy as np

    config = RecallConfig(batch_size=4, sequence_length=12, episode_start_probability=0.3)
    observation, episode_start, targets = sample_batch(jax.random.key(0), config)
    symbols = np.asarray(observation.argmax(-1))
    starts, targets = np.asarray(episode_start), np.asarray(targets)
    for row in range(4):
        first = None
        for t in range(12):
            if starts[row, t]:
                first = symbols[row, t]
            assert targets[row, t] == first


@pytest.mark.slow
def test_lstm_learns_to_recall_and_a_memoryless_torso_cannot():
    config = RecallConfig(num_updates=150, hidden_dim=32, batch_size=16, sequence_length=24)
    lstm = train("lstm", config)
    mlp = train("mlp", config)
    assert lstm["recall_accuracy"] > 0.9
    assert mlp["recall_accuracy"] < 0.4  # chance is 0.25


def test_demo_command_writes_results(tmp_path):
    assert main(["demo", "--updates", "3", "--output", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["torso"] for r in results["results"]] == ["lstm", "mlp"]
    assert results["config"]["num_updates"] == 3


def test_bad_arguments_fail_before_any_work(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "memorax.cli", "demo", "--updates", "0", "--output", str(tmp_path / "out")],
        capture_output=True, text=True,
    )
    assert completed.returncode == 2
    assert "--updates" in completed.stderr and "positive integer" in completed.stderr
    assert not (tmp_path / "out").exists()


def test_console_script_reports_its_version():
    completed = subprocess.run([sys.executable, "-m", "memorax.cli", "--version"], capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.startswith("memorax ")
