"""The run loop: an experiment file becomes trained, evaluated, checkpointed and
tracked runs, one per seed, all seeds vmapped in one process.

Compile once, then per chunk of whole iterations: train, log the per-iteration metrics
the compiled program returned, evaluate on schedule, checkpoint, update the progress
bar. A run that finds checkpoints resumes from the latest: the same loop, from a
restored state. Chunk boundaries depend only on the experiment, and evaluation draws
from its own keys, so a resumed run computes exactly what an uninterrupted one does.

Results live in `<results>/<suite>/<name>/`: `experiment.yaml` (resolved),
`checkpoints/`, `run.json` (the MLflow runs), `evaluations.json`, `curves/` (a
learning-curve figure per seed, also each seed run's artifact); the embedded MLflow
store is `<results>/mlflow.db` with artifacts under `<results>/mlflow-artifacts/`.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import signal
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import yaml

from memorax.checkpoints import Checkpoints
from memorax.experiment.builder import Experiment, build_experiment
from memorax.experiment.figures import learning_curve
from memorax.experiment.spec import read_experiment
from memorax.tracking import Tracker, provenance, sqlite_path, sqlite_uri

# Metrics of a training iteration that are not curves.
NOT_LOGGED = {"nonfinite", "env_steps"}


class TrainingDiverged(RuntimeError):
    """A seed's loss or parameters became NaN or infinite."""


class Terminated(Exception):
    """SIGTERM (a scheduler's preemption or time limit) arrived during a run."""


_stop_requested: list[int] = []  # the signals received, checked between chunks


def stop_on_sigterm() -> None:
    """On SIGTERM, stop at the end of the current chunk (its metrics logged, its
    checkpoint written), marking the MLflow runs KILLED as Ctrl-C does instead of
    leaving them RUNNING. The handler only records the signal: raising inside MLflow's
    or orbax's calls would leave a store or a checkpoint half-written. A chunk in
    progress cannot be interrupted anyway (Python runs handlers between its own steps),
    so this adds at most the chunk's bookkeeping to the stop."""
    _stop_requested.clear()
    signal.signal(signal.SIGTERM, lambda signum, frame: _stop_requested.append(signum))


@dataclass(frozen=True)
class RunPaths:
    results: Path
    suite: str
    name: str

    @classmethod
    def of(cls, experiment_path: Path, results: Path) -> RunPaths:
        return cls(Path(results).resolve(), Path(experiment_path).resolve().parent.name, Path(experiment_path).stem)

    @property
    def folder(self) -> Path:
        return self.results / self.suite / self.name

    @property
    def checkpoints(self) -> Path:
        return self.folder / "checkpoints"

    @property
    def run_state(self) -> Path:
        return self.folder / "run.json"

    @property
    def evaluations(self) -> Path:
        return self.folder / "evaluations.json"

    @property
    def trained(self) -> Path:
        """Written last, when training is complete: the workflow's train output."""
        return self.folder / "trained.json"


class RunBusy(RuntimeError):
    """Another process is training the same experiment into the same results."""


@contextmanager
def _exclusive(lock_path: Path, experiment_path: Path):
    """Hold an exclusive lock on `lock_path` (released by the kernel even on SIGKILL),
    so two processes never write one run's checkpoints and metrics, e.g. a rerun of
    the workflow while a job of a killed one still trains."""
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunBusy(
                f"{experiment_path}: another memorax train (process {holder}) is training this experiment "
                f"into {lock_path.parent}; wait for it or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{socket.gethostname()}:{os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_json_atomically(path: Path, value) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(value, indent=1))
    temporary.replace(path)


@dataclass(frozen=True)
class Schedule:
    """Iterations per chunk and when to evaluate and checkpoint, in iterations."""

    steps_per_iteration: int
    total_iterations: int
    chunk: int
    evaluate_every: int | None
    checkpoint_every: int

    @classmethod
    def of(cls, resolved: dict, steps_per_iteration: int) -> Schedule:
        to_iterations = lambda steps: None if steps is None else max(1, math.ceil(steps / steps_per_iteration))
        total = to_iterations(resolved["total_steps"])
        evaluate_every = to_iterations(resolved["evaluation"]["interval"])
        checkpoint_every = to_iterations(resolved["checkpoints"]["interval"]) or evaluate_every
        checkpoint_every = checkpoint_every or max(1, math.ceil(total / 10))
        # Chunks end exactly at every evaluation and checkpoint (and the last at the end).
        chunk = min(total, math.gcd(*(i for i in (evaluate_every, checkpoint_every) if i is not None)))
        return cls(steps_per_iteration, total, chunk, evaluate_every, checkpoint_every)

    def chunk_ends(self, start: int) -> list[int]:
        """The iteration counts after each chunk, from `start` on."""
        ends = list(range(self.chunk, self.total_iterations, self.chunk)) + [self.total_iterations]
        return [end for end in ends if end > start]

    def due(self, every: int | None, before: int, after: int) -> bool:
        """Whether a multiple of `every` lies in (before, after], or the run ends."""
        if after == self.total_iterations:
            return True
        return every is not None and after // every > before // every


def _seed_keys(seeds: list[int]):
    return jnp.stack([jax.random.key(seed) for seed in seeds])


def _shard_over_devices(tree, num_seeds: int):
    """Seeds spread over the local devices when they divide evenly (GPUs, TPU cores,
    or forced host devices); otherwise left where JAX puts them."""
    devices = jax.local_devices()
    if len(devices) < 2 or num_seeds % len(devices):
        return tree
    mesh = jax.sharding.Mesh(np.array(devices), ("seeds",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))
    return jax.device_put(tree, sharding)


def evaluation_keys(seeds: list[int], env_step: int):
    """Each seed's evaluation key at `env_step`: its own stream, apart from training's,
    so evaluating (or not) never changes what training computes, and `memorax
    evaluate` on a checkpoint draws the same episodes as the run did. The step goes in
    as two 32-bit words (`fold_in` takes uint32; paper-scale runs pass 2**32 steps)."""
    low, high = env_step % 2**32, env_step // 2**32

    def key_at(seed_key):
        return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(seed_key, 1), high), low)

    return jax.vmap(key_at)(_seed_keys(seeds))


def evaluate_states(evaluate, seeds: list[int], states, env_step: int, deterministic: bool) -> dict:
    """Every seed's policy on fresh episodes, as a JSON-able dict; `evaluate` runs the
    deterministic policy or the sampled one, as `deterministic` says."""
    metrics = evaluate(evaluation_keys(seeds, env_step), states)
    return {
        "env_step": env_step,
        "deterministic": deterministic,
        "seeds": list(seeds),
        "mean_return": [float(x) for x in np.asarray(metrics["mean_return"])],
        "episode_returns": np.asarray(metrics["episode_returns"]).tolist(),
    }


# The training return reported at the end of a run: over the episodes that finished
# in this many last iterations (fewer if the run had fewer).
FINAL_TRAINING_ITERATIONS = 10


def final_training_returns(curves) -> dict:
    """Each seed's mean return over the episodes that finished in the run's last
    iterations, weighted by each iteration's episode count (None where none finished).
    `curves`: per seed, the logged (step, value) points of `episode_return` and of
    `episodes` (so a resumed run counts the iterations an earlier process trained);
    `episodes` is logged at every iteration, `episode_return` only where one finished."""
    returns = []
    for episode_returns, episodes in curves:
        counts = dict(episodes[-FINAL_TRAINING_ITERATIONS:])
        means = dict(episode_returns)
        total = sum(counts.values())
        weighted = sum(means[step] * count for step, count in counts.items() if count)
        returns.append(weighted / total if total else None)
    return {"iterations": FINAL_TRAINING_ITERATIONS, "mean_return": returns}


def _rows(iteration_metrics: dict, seed_index: int, steps: list[int]) -> list[tuple[int, dict]]:
    """(env step, {name: value}) per iteration for one seed, finite values only."""
    host = {k: np.asarray(v[seed_index]) for k, v in iteration_metrics.items() if k not in NOT_LOGGED}
    return [
        (step, {k: float(v[i]) for k, v in host.items() if np.isfinite(v[i])}) for i, step in enumerate(steps)
    ]


class Run:
    """One experiment's training run (all seeds), resumable."""

    def __init__(self, experiment: Experiment, results: Path, tracking_uri: str | None = None, progress: bool = True):
        self.experiment = experiment
        self.paths = RunPaths.of(experiment.path, results)
        self.resolved = experiment.resolved
        self.agent = experiment.agent
        self.seeds = experiment.seeds
        self.schedule = Schedule.of(self.resolved, self.agent.steps_per_iteration)
        self.tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or sqlite_uri(
            self.paths.results / "mlflow.db"
        )
        self.progress = progress
        episodes = self.resolved["evaluation"]["episodes"]
        self.deterministic_evaluation = deterministic = self.resolved["evaluation"]["deterministic"]
        self._init = jax.jit(jax.vmap(self.agent.init))
        self._train = {}  # iterations -> compiled vmapped train (the last chunk may be shorter)
        self.compile_seconds = 0.0  # spent compiling `train` in this process
        self._evaluate = jax.jit(jax.vmap(lambda k, s: self.agent.evaluate(k, s, episodes, deterministic)[1]))

    def _train_for(self, iterations: int, keys, states):
        """The vmapped `train` of `iterations` iterations, compiled ahead of time for
        these seeds' shapes on first use (its compile time printed and recorded)."""
        if iterations not in self._train:
            steps = iterations * self.schedule.steps_per_iteration
            started = time.perf_counter()
            train = jax.jit(jax.vmap(lambda k, s: self.agent.train(k, s, num_steps=steps)))
            self._train[iterations] = train.lower(keys, states).compile()
            seconds = time.perf_counter() - started
            self.compile_seconds += seconds
            print(f"{self.experiment.path}: compiled {iterations} training iterations in {seconds:.1f} s", flush=True)
        return self._train[iterations]

    def _tracker(self) -> Tracker:
        name = self.resolved["tracking"]["experiment"] or f"{self.paths.suite}/{self.paths.name}"
        run_ids = None
        if self.paths.run_state.exists():
            saved = json.loads(self.paths.run_state.read_text())
            if saved.get("tracking_uri") == self.tracking_uri and saved.get("experiment") == name:
                run_ids = saved["run_ids"]
        # Artifacts next to an embedded store; a server keeps (or proxies) its own.
        artifacts = self.paths.results / "mlflow-artifacts" if sqlite_path(self.tracking_uri) else None
        tracker = Tracker(self.tracking_uri, name, self.paths.name, self.seeds, artifacts, run_ids)
        self.paths.run_state.write_text(
            json.dumps({"tracking_uri": self.tracking_uri, "experiment": name, "run_ids": tracker.run_ids}, indent=2)
        )
        return tracker

    def execute(self) -> dict:
        """Train to the budget (resuming if checkpoints exist); the final evaluation.
        One process at a time per results folder: a second fails at once (RunBusy)."""
        self.paths.folder.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.paths.folder / ".train.lock", self.experiment.path):
            return self._execute()

    def _execute(self) -> dict:
        started = time.time()
        self.paths.trained.unlink(missing_ok=True)
        (self.paths.folder / "experiment.yaml").write_text(yaml.safe_dump(self.resolved, sort_keys=False))
        checkpoints = Checkpoints(
            self.paths.checkpoints,
            self.resolved,
            keep=self.resolved["checkpoints"]["keep"],
            keep_best=self.resolved["checkpoints"]["keep_best"],
        )
        tracker = self._tracker()
        origin = provenance(self.experiment.path)
        tracker.log_start(self.resolved, {**origin, **self.resolved["tracking"]["tags"]})
        try:
            result = self._loop(checkpoints, tracker)
        except BaseException as error:
            tracker.finish("KILLED" if isinstance(error, (KeyboardInterrupt, Terminated)) else "FAILED")
            checkpoints.close()
            raise
        final_step = checkpoints.latest_step()
        checkpoints.close()
        tracker.log_artifact(self.paths.folder / "experiment.yaml")
        tracker.tag_all("checkpoint.final", str(self.paths.checkpoints / str(final_step)))
        tracker.log_summary([(final_step, {"compile_seconds": self.compile_seconds})])
        policy = "deterministic" if self.deterministic_evaluation else "sampled"
        training_returns = []
        for index, seed in enumerate(self.seeds):
            returns = tracker.history(index, "episode_return")
            training_returns.append((returns, tracker.history(index, "episodes")))
            figure = learning_curve(
                {
                    "training episodes": returns,
                    f"evaluation ({policy})": tracker.history(index, "evaluation/mean_return"),
                },
                self.paths.folder / "curves" / f"seed_{seed}.png",
                f"{self.paths.suite}/{self.paths.name}, seed {seed}",
            )
            tracker.log_artifact(figure, seed_index=index)
        self.final_training = training = final_training_returns(training_returns)
        tracker.finish()
        _write_json_atomically(
            self.paths.trained,
            {
                "experiment": str(Path(self.experiment.path).resolve()),
                "seeds": self.seeds,
                "env_steps": self.schedule.total_iterations * self.schedule.steps_per_iteration,
                "final_checkpoint": str(self.paths.checkpoints / str(final_step)),
                "final_evaluation": result,
                "final_training": training,
                "tracking_uri": self.tracking_uri,
                "run_ids": tracker.run_ids,
                "provenance": origin,
                "seconds_this_process": round(time.time() - started, 1),
                "compile_seconds_this_process": round(self.compile_seconds, 1),
            },
        )
        return result

    def _start(self, checkpoints: Checkpoints):
        """(iteration, keys, states, evaluations): fresh, or from the latest checkpoint."""
        step = checkpoints.latest_step()
        if step is None:
            keys, states = self._init(_seed_keys(self.seeds))
            return 0, keys, states, []
        # The checkpoint's shapes from a trace of `init`: nothing built to be thrown away.
        target = jax.eval_shape(self._init, _seed_keys(self.seeds))
        (keys, states), metadata = checkpoints.restore(step, target)
        print(f"{self.experiment.path}: resuming from the checkpoint at env step {step}", flush=True)
        return metadata["iteration"], keys, states, metadata["evaluations"]

    def _loop(self, checkpoints: Checkpoints, tracker: Tracker) -> dict:
        iteration, keys, states, evaluations = self._start(checkpoints)
        keys, states = _shard_over_devices((keys, states), len(self.seeds))
        spi = self.schedule.steps_per_iteration
        with _progress(self.progress, self.paths.name, self.schedule.total_iterations * spi, iteration * spi) as bar:
            for end in self.schedule.chunk_ends(iteration):
                started = time.perf_counter()
                keys, states, transitions = self._train_for(end - iteration, keys, states)(keys, states)
                per_iteration = transitions.info["iteration_metrics"]
                # Env steps counted on the host: a Python int never overflows.
                steps = [(i + 1) * spi for i in range(iteration, end)]
                self._stop_if_diverged(per_iteration, steps, checkpoints)
                for index in range(len(self.seeds)):
                    tracker.log_metrics(index, _rows(per_iteration, index, steps))
                evaluation_return = None
                if self.schedule.due(self.schedule.evaluate_every, iteration, end):
                    evaluation = evaluate_states(
                        self._evaluate, self.seeds, states, end * spi, self.deterministic_evaluation
                    )
                    evaluations.append(evaluation)
                    evaluation_return = float(np.mean(evaluation["mean_return"]))
                    for index in range(len(self.seeds)):
                        tracker.log_metrics(
                            index, [(end * spi, {"evaluation/mean_return": evaluation["mean_return"][index]})]
                        )
                    self.paths.evaluations.write_text(json.dumps(evaluations, indent=1))
                if self.schedule.due(self.schedule.checkpoint_every, iteration, end):
                    metadata = {"iteration": end, "env_step": end * spi, "evaluations": evaluations}
                    checkpoints.save(end * spi, (keys, states), metadata, evaluation_return)
                returns = np.asarray(per_iteration["episode_return"])
                recent = float(returns[np.isfinite(returns)].mean()) if np.isfinite(returns).any() else float("nan")
                bar.advance((end - iteration) * spi, time.perf_counter() - started, recent)
                iteration = end
                if _stop_requested and iteration < self.schedule.total_iterations:
                    raise Terminated(f"signal {_stop_requested[0]} at env step {iteration * spi}")
        self.final_state = (keys, states)
        return evaluations[-1] if evaluations else {}

    def _stop_if_diverged(self, per_iteration: dict, steps: list[int], checkpoints: Checkpoints) -> None:
        flags = np.asarray(per_iteration["nonfinite"])  # (seeds, iterations)
        if not flags.any():
            return
        found = np.argwhere(flags)
        seed_index, first = map(int, found[np.argmin(found[:, 1])])  # the earliest iteration
        step = steps[first]
        raise TrainingDiverged(
            f"{self.experiment.path}: seed {self.seeds[seed_index]} diverged (non-finite loss or parameters) "
            f"at env step {step}; the last good checkpoint is step {checkpoints.latest_step()}."
        )


class _progress:
    """A rich progress bar over env steps (steps/s, recent return, time left), or nothing."""

    def __init__(self, enabled: bool, name: str, total: int, done: int):
        self.enabled, self.name, self.total, self.done = enabled, name, total, done

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
                TextColumn("{task.fields[speed]} steps/s"),
                TextColumn("return {task.fields[recent]}"),
                TimeRemainingColumn(),
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(self.name, total=self.total, completed=self.done, speed="-", recent="-")
        return self

    def advance(self, steps: int, seconds: float, recent: float) -> None:
        if self.enabled:
            speed = f"{steps / max(seconds, 1e-9):,.0f}"
            self.bar.update(self.task, advance=steps, speed=speed, recent=f"{recent:.3g}")

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)
        return False


def train(path: Path | str, results: Path | str = "results", tracking_uri: str | None = None, seeds=None, progress=True):
    """`memorax train`: build (every problem named before anything is written), then run."""
    path = Path(path)
    document = read_experiment(path)
    if seeds is not None:
        document = {**document, "seeds": list(seeds)}
    experiment = build_experiment(path, document)
    run = Run(experiment, Path(results), tracking_uri, progress)
    return run, run.execute()


def evaluate_checkpoint(
    path: Path | str,
    results: Path | str = "results",
    checkpoint: str = "latest",
    episodes: int | None = None,
    deterministic: bool | None = None,
) -> dict:
    """`memorax evaluate`: the policy of a checkpoint (`latest`, `best` or an env step)
    of the experiment in `path`, from the file and the checkpoint alone; `episodes` and
    `deterministic` default to the file's `evaluation` settings."""
    experiment = build_experiment(path)
    paths = RunPaths.of(experiment.path, Path(results))
    if not paths.checkpoints.is_dir():
        raise FileNotFoundError(f"{path}: no checkpoints in {paths.checkpoints} (train it first, or pass --results)")
    checkpoints = Checkpoints(paths.checkpoints, experiment.resolved)
    steps = checkpoints.steps()
    chosen = {"latest": checkpoints.latest_step(), "best": checkpoints.best_step()}.get(checkpoint)
    if chosen is None and checkpoint.isdigit() and int(checkpoint) in steps:
        chosen = int(checkpoint)
    if chosen is None:
        raise ValueError(f"{path}: no checkpoint {checkpoint!r} in {paths.checkpoints}; kept steps: {steps}")
    agent, seeds = experiment.agent, experiment.seeds
    like = jax.eval_shape(jax.vmap(agent.init), _seed_keys(seeds))
    (_, states), _ = checkpoints.restore(chosen, like)
    checkpoints.close()
    settings = experiment.resolved["evaluation"]
    count = episodes or settings["episodes"]
    deterministic = settings["deterministic"] if deterministic is None else deterministic
    evaluate = jax.jit(jax.vmap(lambda k, s: agent.evaluate(k, s, count, deterministic)[1]))
    evaluation = evaluate_states(evaluate, seeds, states, chosen, deterministic)
    return {"experiment": str(path), "checkpoint": chosen, **evaluation}


__all__ = ["Run", "RunPaths", "Schedule", "Terminated", "TrainingDiverged", "evaluate_checkpoint", "stop_on_sigterm", "train"]
