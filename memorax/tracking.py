"""MLflow tracking of an experiment's runs: one parent run per experiment and one child
run per seed, params from the resolved experiment, metric curves with the env step as
the step, artifacts, and provenance tags.

The embedded default is a SQLite file under the results directory. A fresh SQLite file
is created (its schema migrated) by one process at a time, under a file lock, before
anything else uses it: several processes creating it at once fail (see
docs/experiments.md). Requests respect MLflow's per-request limits, and writes retry
when SQLite is busy. A resumed run continues the same MLflow runs (their ids are kept
with the run's results), and logs no env step it logged before.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path

# MLflow's own per-request limits (mlflow/utils/validation.py).
METRICS_PER_REQUEST = 1000
PARAMS_OR_TAGS_PER_REQUEST = 100
PARAM_VALUE_LENGTH = 6000
TAG_VALUE_LENGTH = 8000
CONTAINER_IMAGE_VARIABLE = "MEMORAX_CONTAINER_IMAGE"  # set by the containers
PROCESS_TAG = "memorax.process"  # host:pid of the process that writes a run


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_gone(tag: str) -> bool:
    """Whether the process named by a `PROCESS_TAG` value surely no longer exists:
    only a process of this host can be checked; anything else counts as alive."""
    host, _, pid = tag.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, someone else's
        return False
    return False


def sqlite_uri(path: Path | str) -> str:
    """The tracking URI of a SQLite file (absolute: MLflow resolves relative ones
    against the working directory of whoever reads them)."""
    return f"sqlite:///{Path(path).resolve()}"


def sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _retrying(call, *args, attempts: int = 8, **kwargs):
    """Call, retrying while SQLite reports the database locked (write bursts)."""
    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except Exception as error:  # MlflowException wraps SQLAlchemy's OperationalError
            if "database is locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    return None


def flatten(tree, prefix: str = "") -> dict[str, str]:
    """{"a": {"b": 1}} -> {"a.b": "1"}; other values as JSON text (true, null, [1, 2]),
    text as it is."""
    if isinstance(tree, Mapping) and tree:
        flat = {}
        for key, value in tree.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    text = tree if isinstance(tree, str) else json.dumps(tree)  # true, null, [1, 2], {}
    return {prefix: text[:PARAM_VALUE_LENGTH]}


def _git(*arguments: str, cwd: Path) -> str | None:
    try:
        result = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def cpu_description() -> str:
    """The CPU model and its widest vector instructions: XLA:CPU compiles for the host's
    instruction set, so float results (and a training run) can differ between CPUs."""
    model, flags = None, set()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                if flags and model:
                    break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    widest = next((isa for isa in ("avx512f", "avx2", "avx", "sse4_2", "neon", "asimd") if isa in flags), None)
    return f"{model} ({widest})" if widest else model


def provenance(source: Path | str) -> dict[str, str]:
    """Where a number came from: code version, packages, machine, command, image."""
    import jax

    source = Path(source).resolve()
    folder = source if source.is_dir() else source.parent
    commit = _git("rev-parse", "HEAD", cwd=folder)
    status = _git("status", "--porcelain", cwd=folder)
    tags = {
        "git.commit": commit or "unknown (not a git checkout)",
        "git.dirty": "unknown" if status is None else str(bool(status)).lower(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu_description(),
        "python": platform.python_version(),
        "command": " ".join(sys.argv)[:TAG_VALUE_LENGTH],
        "jax.backend": jax.default_backend(),
        "jax.devices": ", ".join(str(device) for device in jax.devices())[:TAG_VALUE_LENGTH],
        "container.image": os.environ.get(CONTAINER_IMAGE_VARIABLE, "none"),
    }
    for package in ("memorax", "jax", "jaxlib", "flax", "optax", "gymnax", "orbax-checkpoint", "mlflow"):
        try:
            tags[f"version.{package}"] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            tags[f"version.{package}"] = "not installed"
    return tags


def prepare_store(uri: str) -> None:
    """Create (migrate) a SQLite store once, under a lock; servers need nothing."""
    path = sqlite_path(uri)
    if path is None:
        return
    from mlflow.tracking import MlflowClient

    with _file_lock(path.with_name(path.name + ".lock")):
        MlflowClient(uri).search_experiments(max_results=1)


class Tracker:
    """The MLflow runs of one experiment: `parent` and one child per seed.

    `run_ids` (from an earlier, interrupted run of the same experiment) continues
    those runs instead of creating new ones.
    """

    def __init__(
        self,
        uri: str,
        experiment: str,
        run_name: str,
        seeds: list[int],
        artifact_root: Path | str | None = None,
        run_ids: dict | None = None,
    ):
        from mlflow.tracking import MlflowClient

        prepare_store(uri)
        self.client = MlflowClient(uri)
        self.experiment_id = self._experiment_id(uri, experiment, artifact_root)
        self._close_orphans(run_ids)
        if run_ids is not None:
            self.parent = run_ids["parent"]
            self.children = [run_ids["seeds"][str(seed)] for seed in seeds]
            for run_id in [self.parent, *self.children]:
                _retrying(self.client.update_run, run_id, status="RUNNING")
        else:
            self.parent = self._run(run_name, {})
            self.children = [
                self._run(f"{run_name} seed {seed}", {"mlflow.parentRunId": self.parent, "seed": str(seed)})
                for seed in seeds
            ]
        self.seeds = list(seeds)
        self.tag_all(PROCESS_TAG, _this_process())
        # run id -> metric -> the last step logged (continued runs read it back)
        self.last_logged = {run_id: self._last_steps(run_id) for run_id in [self.parent, *self.children]}

    def _experiment_id(self, uri: str, name: str, artifact_root) -> str:
        path = sqlite_path(uri)
        lock = _file_lock(path.with_name(path.name + ".lock")) if path is not None else _no_lock()
        with lock:
            found = self.client.get_experiment_by_name(name)
            if found is not None:
                return found.experiment_id
            location = None if artifact_root is None else Path(artifact_root).resolve().as_uri()
            try:
                return self.client.create_experiment(name, artifact_location=location)
            except Exception:  # created meanwhile by a process writing to the same server
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
                return found.experiment_id

    def _close_orphans(self, continued: dict | None) -> None:
        """Mark KILLED the runs of this experiment left RUNNING by a process of this
        host that no longer exists (SIGKILL, the OOM killer, a crash), so no run shows
        RUNNING forever when its experiment is not resumed. Runs about to be continued
        are left alone."""
        keep = set() if continued is None else {continued["parent"], *continued["seeds"].values()}
        running = _retrying(
            self.client.search_runs, [self.experiment_id], filter_string="attributes.status = 'RUNNING'"
        )
        for run in running:
            if run.info.run_id not in keep and _process_gone(run.data.tags.get(PROCESS_TAG, "")):
                _retrying(self.client.set_terminated, run.info.run_id, "KILLED")

    def _run(self, name: str, tags: dict) -> str:
        return _retrying(self.client.create_run, self.experiment_id, run_name=name, tags=tags).info.run_id

    def _last_steps(self, run_id: str) -> dict[str, int]:
        """The largest step logged of each metric of this run."""
        run = self.client.get_run(run_id)
        return {
            key: max(entry.step for entry in self.client.get_metric_history(run_id, key))
            for key in run.data.metrics
        }

    @property
    def run_ids(self) -> dict:
        """What a resumed run needs to continue these runs."""
        return {"parent": self.parent, "seeds": {str(s): r for s, r in zip(self.seeds, self.children)}}

    def _log(self, run_id: str, metrics=(), params=(), tags=()):
        from mlflow.entities import Metric, Param, RunTag

        metrics, params, tags = list(metrics), list(params), list(tags)
        now = int(time.time() * 1000)
        for start in range(0, len(metrics), METRICS_PER_REQUEST):
            chunk = [Metric(k, float(v), now, int(step)) for k, v, step in metrics[start : start + METRICS_PER_REQUEST]]
            _retrying(self.client.log_batch, run_id, metrics=chunk)
        for start in range(0, len(params), PARAMS_OR_TAGS_PER_REQUEST):
            chunk = [Param(k, v) for k, v in params[start : start + PARAMS_OR_TAGS_PER_REQUEST]]
            _retrying(self.client.log_batch, run_id, params=chunk)
        for start in range(0, len(tags), PARAMS_OR_TAGS_PER_REQUEST):
            chunk = [RunTag(k, v[:TAG_VALUE_LENGTH]) for k, v in tags[start : start + PARAMS_OR_TAGS_PER_REQUEST]]
            _retrying(self.client.log_batch, run_id, tags=chunk)

    def log_start(self, resolved: dict, tags: Mapping[str, str]) -> None:
        """Params (the resolved experiment, flattened) and tags on every run. Params
        are immutable in MLflow, so a resumed run (same experiment) logs none again."""
        params = sorted(flatten({k: v for k, v in resolved.items() if k != "seeds"}).items())
        for run_id in [self.parent, *self.children]:
            existing = self.client.get_run(run_id).data.params
            self._log(run_id, params=[p for p in params if p[0] not in existing], tags=sorted(tags.items()))

    def _log_new(self, run_id: str, rows) -> None:
        """Log the values of `rows` at steps after the last one logged of each metric,
        so a continued run never logs a step of a metric twice."""
        last = self.last_logged[run_id]
        metrics = [
            (name, value, step)
            for step, values in rows
            for name, value in values.items()
            if step > last.get(name, -1)
        ]
        if metrics:
            self._log(run_id, metrics=metrics)
            for name, _, step in metrics:
                last[name] = max(step, last.get(name, -1))

    def log_metrics(self, seed_index: int, rows: Iterable[tuple[int, Mapping[str, float]]]) -> None:
        """`rows` of (env step, {name: value}) for one seed; steps a metric already has
        (logged before an interruption) are skipped, so no step appears twice."""
        self._log_new(self.children[seed_index], rows)

    def log_summary(self, rows: Iterable[tuple[int, Mapping[str, float]]]) -> None:
        """Metrics of the whole experiment (e.g. the mean over seeds) on the parent."""
        self._log_new(self.parent, rows)

    def history(self, seed_index: int, key: str) -> list[tuple[int, float]]:
        """A seed's logged (step, value) points of one metric, in step order."""
        entries = self.client.get_metric_history(self.children[seed_index], key)
        return sorted((entry.step, entry.value) for entry in entries)

    def tag_all(self, key: str, value: str) -> None:
        for run_id in [self.parent, *self.children]:
            _retrying(self.client.set_tag, run_id, key, value[:TAG_VALUE_LENGTH])

    def log_artifact(self, path: Path | str, seed_index: int | None = None, folder: str | None = None) -> None:
        run_id = self.parent if seed_index is None else self.children[seed_index]
        _retrying(self.client.log_artifact, run_id, str(path), folder)

    def finish(self, status: str = "FINISHED") -> None:
        """FINISHED, FAILED or KILLED on every run (a run left RUNNING by a killed
        process is continued and finished by the resumed one)."""
        for run_id in [*self.children, self.parent]:
            _retrying(self.client.set_terminated, run_id, status)


@contextmanager
def _no_lock():
    yield
