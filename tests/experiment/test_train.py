"""`memorax train` end to end on a tiny experiment: results layout, MLflow contents,
checkpoints, a SIGKILLed run that resumes bit-identically, and divergence stopping."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from memorax.experiment import build_experiment
from memorax.experiment.run import FINAL_TRAINING_ITERATIONS, Run, TrainingDiverged, final_training_returns, train
from tests.algorithms.agents import assert_trees_equal

TINY = """\
environment: {id: CartPole-v1}
algorithm: {name: PPO, config: {num_envs: 4, rollout_length: 16, num_epochs: 2, num_minibatches: 2}}
network:
  feature_extractor: {observation: {type: MLP, features: [16]}}
  torso: {type: GRU, features: 16}
total_steps: TOTAL
seeds: 2
evaluation: {interval: 256, episodes: 4}
tracking: {tags: {purpose: test}}
"""


def experiment_file(tmp_path, total_steps: int) -> Path:
    path = tmp_path / "suite" / "tiny.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TINY.replace("TOTAL", str(total_steps)))
    return path


def curves(results: Path) -> dict:
    """Every metric history of every seed run: {(seed, key): [(step, value), ...]}."""
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("suite/tiny")
    found = {}
    for run in client.search_runs([experiment.experiment_id]):
        if "seed" in run.data.tags:
            for key in run.data.metrics:
                found[(run.data.tags["seed"], key)] = [
                    (m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)
                ]
    return found


@pytest.mark.slow
def test_train_writes_results_runs_and_resumes_bit_identically_after_sigkill_and_sigterm(tmp_path):
    path = experiment_file(tmp_path, 8192)
    reference_results = tmp_path / "reference"
    run, final = train(path, reference_results, progress=False)
    reference_state = run.final_state

    folder = reference_results / "suite" / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == [
        ".train.lock",
        "checkpoints",
        "curves",
        "evaluations.json",
        "experiment.yaml",
        "run.json",
        "trained.json",
    ]
    trained = json.loads((folder / "trained.json").read_text())
    assert trained["env_steps"] == 8192 and trained["final_checkpoint"].endswith("checkpoints/8192")
    assert trained["run_ids"] == json.loads((folder / "run.json").read_text())["run_ids"]
    assert trained["compile_seconds_this_process"] > 0  # compiled ahead of time, and timed
    assert sorted(p.name for p in (folder / "curves").iterdir()) == ["seed_0.png", "seed_1.png"]
    evaluations = json.loads((folder / "evaluations.json").read_text())
    assert [e["env_step"] for e in evaluations] == list(range(256, 8193, 256))
    assert final == evaluations[-1] and len(final["mean_return"]) == 2
    reference_curves = curves(reference_results)
    steps = [step for step, _ in reference_curves[("0", "policy_loss")]]
    assert steps == list(range(64, 8193, 64))  # one point per iteration of 4 envs x 16 steps
    assert [s for s, _ in reference_curves[("1", "evaluation/mean_return")]] == list(range(256, 8193, 256))
    # The training return of the last 10 iterations, from the curves (episode-weighted).
    for index, seed in enumerate(("0", "1")):
        counts, means = reference_curves[(seed, "episodes")][-10:], dict(reference_curves[(seed, "episode_return")])
        expected = sum(means[step] * c for step, c in counts if c) / sum(c for _, c in counts)
        assert trained["final_training"]["mean_return"][index] == pytest.approx(expected, rel=1e-6)
    assert final["deterministic"] is True
    client = MlflowClient(f"sqlite:///{reference_results / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("suite/tiny").experiment_id])
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    parent = next(r for r in runs if "seed" not in r.data.tags)
    assert parent.data.metrics["compile_seconds"] == pytest.approx(trained["compile_seconds_this_process"], abs=0.06)
    assert all(r.data.tags["purpose"] == "test" and r.data.tags["git.commit"] for r in runs)
    assert all(r.data.tags["checkpoint.final"] == str(folder / "checkpoints" / "8192") for r in runs)
    seed_run = next(r for r in runs if r.data.tags.get("seed") == "1")
    assert [a.path for a in client.list_artifacts(seed_run.info.run_id)] == ["seed_1.png"]

    # Killed at a random moment after its first checkpoint; started again and stopped
    # by SIGTERM (a scheduler's preemption) after a later one; then run to the end.
    killed_results = tmp_path / "killed"
    command = [sys.executable, "-m", "memorax.cli", "train", str(path), "--results", str(killed_results), "--no-progress"]
    checkpoints = killed_results / "suite" / "tiny" / "checkpoints"
    saved = lambda: sorted(int(p.name) for p in checkpoints.glob("*") if p.name.isdigit())

    def interrupt(signal_number, after_step: int) -> subprocess.Popen:
        log = tmp_path / f"stderr-{signal_number}.txt"
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("w"))
        process.log = log
        deadline = time.time() + 240
        while not (saved() and saved()[-1] > after_step) and time.time() < deadline:
            assert process.poll() is None, "the run ended before it could be interrupted"
            time.sleep(0.05)
        time.sleep(random.uniform(0.0, 0.3))
        os.kill(process.pid, signal_number)
        process.wait(timeout=120)
        assert saved() and saved()[-1] < 8192, saved()
        return process

    interrupt(signal.SIGKILL, after_step=0)
    terminated = interrupt(signal.SIGTERM, after_step=saved()[-1])
    assert terminated.returncode == 130, terminated.log.read_text()[-3000:]
    client = MlflowClient(f"sqlite:///{killed_results / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("suite/tiny").experiment_id])
    assert {r.info.status for r in runs} == {"KILLED"}
    run, resumed_final = train(path, killed_results, progress=False)
    assert_trees_equal(run.final_state, reference_state)
    assert resumed_final == final
    assert curves(killed_results) == reference_curves
    client = MlflowClient(f"sqlite:///{killed_results / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("suite/tiny").experiment_id])
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)

    # Evaluating the last checkpoint from the file alone gives the run's own evaluation.
    from memorax.cli import main

    assert main(["evaluate", str(path), "--results", str(killed_results)]) == 0
    evaluated = json.loads((killed_results / "suite" / "tiny" / "evaluation.json").read_text())
    assert evaluated["checkpoint"] == 8192
    assert {k: evaluated[k] for k in final} == final
    # The policy training acts with: other episodes, reproducibly.
    sampled = [killed_results / f"sampled_{i}.json" for i in range(2)]
    for output in sampled:
        assert main(["evaluate", str(path), "--results", str(killed_results), "--sampled", "--output", str(output)]) == 0
    first, second = (json.loads(output.read_text()) for output in sampled)
    assert first == second and first["deterministic"] is False
    assert first["episode_returns"] != final["episode_returns"]


def test_divergence_stops_naming_seed_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    path = experiment_file(tmp_path, 512)
    experiment = build_experiment(path)
    run = Run(experiment, tmp_path / "results", progress=False)
    poisoned = jax.numpy.nan
    init = run._init

    def init_with_nan_observations(keys):
        keys, states = init(keys)
        loop = states.loop.replace(observation=states.loop.observation.at[1].set(poisoned))
        return keys, states.replace(loop=loop)

    run._init = init_with_nan_observations
    with pytest.raises(TrainingDiverged, match=r"tiny.yaml: seed 1 diverged .* at env step 64; the last good checkpoint is step None"):
        run.execute()
    assert not any((tmp_path / "results" / "suite" / "tiny" / "checkpoints").glob("[0-9]*"))
    client = MlflowClient(f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("suite/tiny").experiment_id])
    assert {r.info.status for r in runs} == {"FAILED"}


def test_train_refuses_a_bad_file_before_writing_anything(tmp_path, capsys):
    from memorax.cli import main

    path = tmp_path / "suite" / "bad.yaml"
    path.parent.mkdir()
    path.write_text(TINY.replace("TOTAL", "0"))
    assert main(["train", str(path), "--results", str(tmp_path / "results")]) == 2
    assert f"{path}: total_steps: must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


SHARDED_RUN = """
import json, sys
import jax
from memorax.experiment import build_experiment
from memorax.experiment.run import Run
run = Run(build_experiment(sys.argv[1]), sys.argv[2], progress=False)
final = run.execute()
leaf = jax.tree.leaves(run.final_state[1].params)[0]
print(json.dumps({"devices": len(jax.local_devices()), "shards": len(leaf.sharding.device_set), "returns": final["mean_return"]}))
"""


@pytest.mark.slow
def test_seeds_are_sharded_over_local_devices(tmp_path):
    """Two forced host devices stand in for two GPUs: the two seeds train one per device."""
    path = experiment_file(tmp_path, 512)
    environment = {**os.environ, "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"}
    result = subprocess.run(
        [sys.executable, "-c", SHARDED_RUN, str(path), str(tmp_path / "results")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["devices"] == 2 and report["shards"] == 2
    assert len(report["returns"]) == 2 and all(np.isfinite(report["returns"]))


def test_chunks_end_at_every_evaluation_and_checkpoint():
    from memorax.experiment.run import Schedule

    resolved = {"total_steps": 1000, "evaluation": {"interval": 300}, "checkpoints": {"interval": 200}}
    schedule = Schedule.of(resolved, steps_per_iteration=100)
    assert schedule.chunk == 1 and schedule.total_iterations == 10
    ends = schedule.chunk_ends(0)
    evaluated = [end for before, end in zip([0, *ends], ends) if schedule.due(schedule.evaluate_every, before, end)]
    saved = [end for before, end in zip([0, *ends], ends) if schedule.due(schedule.checkpoint_every, before, end)]
    assert evaluated == [3, 6, 9, 10] and saved == [2, 4, 6, 8, 10]
    resolved = {"total_steps": 1000, "evaluation": {"interval": None}, "checkpoints": {"interval": None}}
    schedule = Schedule.of(resolved, steps_per_iteration=64)
    assert schedule.total_iterations == 16 and schedule.chunk == 2 and schedule.chunk_ends(14) == [16]


def test_evaluation_keys_are_per_seed_and_per_step_past_two_to_the_32():
    from memorax.experiment.run import evaluation_keys

    data = lambda step: np.asarray(jax.random.key_data(evaluation_keys([0, 1], step)))
    far = data(5_000_000_000)
    assert not np.array_equal(far[0], far[1])
    for other in (5_000_000_000 - 2**32, 5_000_000_000 + 1, 0):
        assert not np.array_equal(far, data(other))
    np.testing.assert_array_equal(far, data(5_000_000_000))


def test_a_second_process_on_the_same_results_is_refused_before_writing(tmp_path, capsys):
    from memorax.cli import main
    from memorax.experiment.run import _exclusive

    path = experiment_file(tmp_path, 512)
    folder = tmp_path / "results" / "suite" / "tiny"
    folder.mkdir(parents=True)
    with _exclusive(folder / ".train.lock", path):  # as a still-running job of a killed workflow
        assert main(["train", str(path), "--results", str(tmp_path / "results"), "--no-progress"]) == 4
    assert f"another memorax train (process {os.uname().nodename}:{os.getpid()})" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == [".train.lock"]


def test_final_training_return_weights_the_last_iterations_by_their_episodes():
    steps = range(64, 64 * 13, 64)  # 12 iterations; the first two fall outside the last 10
    episodes = [(step, 1.0 if step != 640 else 0.0) for step in steps]  # none finished at 640
    episodes[-1] = (steps[-1], 3.0)
    returns = [(step, 1000.0 if step <= 128 else float(step)) for step in steps if step != 640]
    seed_without_episodes = ([], [(step, 0.0) for step in steps])
    found = final_training_returns([(returns, episodes), seed_without_episodes])
    last = steps[-FINAL_TRAINING_ITERATIONS:]
    weights = {step: count for step, count in episodes if step in last}
    expected = sum(step * weights[step] for step in last if step != 640) / sum(weights.values())
    assert found == {"iterations": FINAL_TRAINING_ITERATIONS, "mean_return": [pytest.approx(expected), None]}
