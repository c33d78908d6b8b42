"""MLflow tracking against a real SQLite store: what a run records, a resumed run that
continues the same runs without duplicate steps, and eight processes writing at once
to a fresh store."""

import multiprocessing
import re
import socket
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from memorax.tracking import PROCESS_TAG, Tracker, flatten, provenance, sqlite_uri
from tests.mlflow_server import mlflow_server

RESOLVED = {
    "environment": {"id": "CartPole-v1", "kwargs": {}, "wrappers": []},
    "algorithm": {"name": "PPO", "config": {"num_envs": 8, "target_kl": None, "normalize_advantages": True}},
    "seeds": [3, 5],
    "total_steps": 4096,
}


def rows(first: int, last: int, every: int = 16):
    return [(step, {"episode_return": step / 10, "loss": 1.0 / step}) for step in range(first, last + 1, every)]


def history(client, run_id, key):
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def test_a_run_records_params_curves_tags_and_artifacts_in_parent_and_seed_runs(tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    tracker = Tracker(uri, "quick/gru", "gru", seeds=[3, 5], artifact_root=tmp_path / "artifacts")
    tags = {**provenance(__file__), "suite": "quick"}
    tracker.log_start(RESOLVED, tags)
    tracker.log_metrics(0, rows(16, 16 * 1200))  # 2400 values: more than one request
    tracker.log_metrics(1, rows(16, 160))
    tracker.log_summary(rows(16, 160))
    (tmp_path / "experiment.yaml").write_text("environment: {id: CartPole-v1}\n")
    tracker.log_artifact(tmp_path / "experiment.yaml")
    tracker.finish()

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("quick/gru")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"gru", "gru seed 3", "gru seed 5"}
    parent, seed3 = runs["gru"], runs["gru seed 3"]
    assert seed3.data.tags["mlflow.parentRunId"] == parent.info.run_id and seed3.data.tags["seed"] == "3"
    assert all(run.info.status == "FINISHED" for run in runs.values())
    assert seed3.data.params["algorithm.config.num_envs"] == "8"
    assert seed3.data.params["algorithm.config.target_kl"] == "null"
    assert seed3.data.params["algorithm.config.normalize_advantages"] == "true"
    assert "seeds" not in seed3.data.params  # each run has its own seed tag
    curve = history(client, seed3.info.run_id, "episode_return")
    assert [step for step, _ in curve] == list(range(16, 16 * 1200 + 1, 16))
    assert re.fullmatch(r"[0-9a-f]{40}", seed3.data.tags["git.commit"])
    assert seed3.data.tags["git.dirty"] in ("true", "false") and seed3.data.tags["suite"] == "quick"
    for name in ("jax", "flax", "optax", "gymnax", "memorax"):
        assert seed3.data.tags[f"version.{name}"]
    assert seed3.data.tags["jax.backend"] == "cpu" and seed3.data.tags["container.image"] == "none"
    assert seed3.data.tags["cpu"]  # the CPU model (and its vector instructions) the numbers came from
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["experiment.yaml"]
    assert (tmp_path / "artifacts").is_dir()


def test_a_resumed_run_continues_the_same_runs_without_repeating_steps(tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    first = Tracker(uri, "quick/gru", "gru", seeds=[3, 5])
    first.log_start(RESOLVED, {"suite": "quick"})
    first.log_metrics(0, rows(16, 320))  # the process dies here: runs stay RUNNING
    client = MlflowClient(uri)
    assert client.get_run(first.parent).info.status == "RUNNING"

    again = Tracker(uri, "quick/gru", "gru", seeds=[3, 5], run_ids=first.run_ids)
    assert again.run_ids == first.run_ids
    again.log_start(RESOLVED, {"suite": "quick"})  # params are immutable: not sent again
    again.log_metrics(0, rows(16, 640))  # from the last checkpoint (step 160): overlaps
    again.finish()
    steps = [step for step, _ in history(client, first.children[0], "loss")]
    assert steps == list(range(16, 641, 16))
    experiment = client.get_experiment_by_name("quick/gru")
    assert len(client.search_runs([experiment.experiment_id])) == 3
    assert client.get_run(first.parent).info.status == "FINISHED"


def test_a_tracking_server_records_runs_and_proxies_artifacts(tmp_path):
    # What a cluster's shared server does: the store and the artifacts are the
    # server's, nothing is written next to the client.
    with mlflow_server(tmp_path / "server") as uri:
        tracker = Tracker(uri, "quick/gru", "gru", seeds=[3])
        tracker.log_start(RESOLVED, {"suite": "quick"})
        tracker.log_metrics(0, rows(16, 160))
        (tmp_path / "experiment.yaml").write_text("environment: {id: CartPole-v1}\n")
        tracker.log_artifact(tmp_path / "experiment.yaml", seed_index=0)
        tracker.finish()
        client = MlflowClient(uri)
        seed3 = client.get_run(tracker.children[0])
        assert seed3.info.status == "FINISHED" and seed3.data.params["algorithm.config.num_envs"] == "8"
        assert [step for step, _ in history(client, tracker.children[0], "loss")] == list(range(16, 161, 16))
        assert [a.path for a in client.list_artifacts(tracker.children[0])] == ["experiment.yaml"]
    assert list((tmp_path / "server" / "artifacts").rglob("experiment.yaml"))


def test_runs_of_a_vanished_process_are_marked_killed_by_the_next_tracker(tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    client = MlflowClient(uri)
    vanished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = Tracker(uri, "quick/gru", "gru", seeds=[0])  # SIGKILLed: stays RUNNING
    orphan.tag_all(PROCESS_TAG, f"{socket.gethostname()}:{vanished.stdout.strip()}")
    elsewhere = Tracker(uri, "quick/gru", "gru", seeds=[0])  # another host: can't tell
    elsewhere.tag_all(PROCESS_TAG, "some-other-node:1")
    alive = Tracker(uri, "quick/gru", "gru", seeds=[0])  # this process: alive

    Tracker(uri, "quick/gru", "gru", seeds=[0])
    status = lambda tracker: {client.get_run(r).info.status for r in [tracker.parent, *tracker.children]}
    assert status(orphan) == {"KILLED"}
    assert status(elsewhere) == status(alive) == {"RUNNING"}


def test_flatten_names_nested_fields_with_dots():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None, "e": {}, "f": "TrueSkill", "g": False}) == {
        "a.b": "1",
        "a.c": "[1, 2]",
        "d": "null",
        "e": "{}",
        "f": "TrueSkill",
        "g": "false",
    }


def write_from_a_process(uri: str, index: int) -> None:
    tracker = Tracker(uri, "shared", f"writer {index}", seeds=[0, 1])
    tracker.log_start(RESOLVED, {"writer": str(index)})
    for seed_index in (0, 1):
        tracker.log_metrics(seed_index, rows(1, 1500, every=1))
    tracker.finish()


@pytest.mark.slow
def test_eight_processes_write_to_one_fresh_store_at_once(tmp_path):
    uri = sqlite_uri(tmp_path / "fresh" / "mlflow.db")
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=write_from_a_process, args=(uri, i)) for i in range(8)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [process.exitcode for process in processes] == [0] * 8
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("shared").experiment_id], max_results=100)
    assert len(runs) == 8 * 3 and all(run.info.status == "FINISHED" for run in runs)
    seed_runs = [run for run in runs if "seed" in run.data.tags]
    assert all(len(history(client, run.info.run_id, "loss")) == 1500 for run in seed_runs)
