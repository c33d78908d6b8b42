"""A suite's results as one table: per experiment the IQM and the mean of the final
evaluation return over seeds with 95% stratified-bootstrap intervals (rliable), the
per-seed rows, and each experiment's probability of improvement over its baseline.

Reads only the results folder (`<suite>/<name>/experiment.yaml` and
`evaluation.json`), never the tracking store, so a results folder copied from a
cluster aggregates the same. Bootstrap draws come from a fixed seed: the same
returns give the same table, byte for byte.

`summary.csv` is one long table, a row per statistic:

    row,experiment,environment,against,seed,value,ci_low,ci_high
    seed,gru,MemoryChain-bsuite,,0,1.0,,
    iqm,gru,MemoryChain-bsuite,,,1.0,1.0,1.0
    probability_of_improvement,gru,MemoryChain-bsuite,mlp,,0.97,0.9,1.0
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

COLUMNS = ("row", "experiment", "environment", "against", "seed", "value", "ci_low", "ci_high")
BOOTSTRAP_REPS = 10_000
# The probability of improvement runs a Mann-Whitney U test per resample (about a
# millisecond each): fewer resamples, as rliable's own examples use for it.
IMPROVEMENT_REPS = 2_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Comparison:
    """Which experiments are compared: within an environment, every experiment
    against the one whose `field` (a dotted path into the resolved experiment) is
    `baseline`, e.g. every torso against the MLP."""

    field: str = "network.torso.type"
    baseline: str = "MLP"


DEFAULT_COMPARISON = Comparison()


@dataclass(frozen=True)
class ExperimentResult:
    name: str
    resolved: dict
    seeds: list[int]
    returns: np.ndarray  # the final evaluation's mean return per seed
    evaluations: list[dict]  # the run's scheduled evaluations (learning curve)

    @property
    def environment(self) -> str:
        return self.resolved["environment"]["id"]

    def field(self, dotted: str):
        value = self.resolved
        for part in dotted.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
        return value


def read_results(suite_folder: Path, names: list[str]) -> list[ExperimentResult]:
    """The finished experiments `names` of a suite's results folder; a missing file
    is named (the experiment was not trained or not evaluated)."""
    results = []
    for name in names:
        folder = suite_folder / name
        for needed in ("experiment.yaml", "evaluation.json"):
            if not (folder / needed).is_file():
                raise FileNotFoundError(f"{folder / needed}: missing (train and evaluate {name} first)")
        evaluation = json.loads((folder / "evaluation.json").read_text())
        evaluations = folder / "evaluations.json"
        results.append(
            ExperimentResult(
                name,
                yaml.safe_load((folder / "experiment.yaml").read_text()),
                list(evaluation["seeds"]),
                np.asarray(evaluation["mean_return"], dtype=np.float64),
                json.loads(evaluations.read_text()) if evaluations.is_file() else [],
            )
        )
    return results


def _random_state():
    return np.random.RandomState(BOOTSTRAP_SEED)


@contextmanager
def quiet_bootstrap():
    """rliable hands arch a seeded RandomState, which arch has deprecated (the draws
    stay exact and reproducible): keep that warning out of every log."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
        yield


def interval_estimates(
    scores: Mapping[str, np.ndarray], statistic, reps: int = BOOTSTRAP_REPS
) -> dict[str, tuple[float, float, float]]:
    """{name: (point, low, high)} of `statistic` over runs, each score array shaped
    (runs, tasks), with rliable's stratified bootstrap. Each name draws from its own
    freshly seeded generator, so its interval depends on its scores alone, not on
    which other experiments the suite has or their order."""
    from rliable import library

    estimates = {}
    for name, score in scores.items():
        with quiet_bootstrap():
            points, intervals = library.get_interval_estimates(
                {name: score},
                statistic,
                reps=reps,
                confidence_interval_size=CONFIDENCE,
                random_state=_random_state(),
            )
        # points: one value per statistic (here one); intervals: (2, statistics)
        estimates[name] = (float(np.ravel(points[name])[0]), *map(float, np.ravel(intervals[name])))
    return estimates


def _iqm(scores: np.ndarray) -> np.ndarray:
    from rliable import metrics

    return np.array([metrics.aggregate_iqm(scores)])


def _mean(scores: np.ndarray) -> np.ndarray:
    from rliable import metrics

    return np.array([metrics.aggregate_mean(scores)])


def baselines(results: list[ExperimentResult], comparison: Comparison) -> dict[str, str]:
    """{experiment: its baseline experiment} within each environment."""
    by_environment: dict[str, str] = {}
    for result in results:
        if str(result.field(comparison.field)) == comparison.baseline:
            by_environment.setdefault(result.environment, result.name)
    return {
        r.name: by_environment[r.environment]
        for r in results
        if r.environment in by_environment and by_environment[r.environment] != r.name
    }


def summary_rows(results: list[ExperimentResult], comparison: Comparison = DEFAULT_COMPARISON) -> list[dict]:
    """The rows of `summary.csv` (see the module's docstring)."""
    from rliable import metrics

    rows = []
    for result in results:
        for seed, value in zip(result.seeds, result.returns):
            rows.append({"row": "seed", "experiment": result.name, "environment": result.environment, "seed": seed, "value": float(value)})
    scores = {r.name: r.returns[:, None] for r in results}
    environment = {r.name: r.environment for r in results}
    for statistic, function in (("iqm", _iqm), ("mean", _mean)):
        for name, (point, low, high) in interval_estimates(scores, function).items():
            rows.append({"row": statistic, "experiment": name, "environment": environment[name], "value": point, "ci_low": low, "ci_high": high})
    pairs = baselines(results, comparison)
    if pairs:
        paired = {f"{name},{base}": (scores[name], scores[base]) for name, base in pairs.items()}
        estimates = interval_estimates(
            paired, lambda x, y: np.array([metrics.probability_of_improvement(x, y)]), reps=IMPROVEMENT_REPS
        )
        for name, base in pairs.items():
            point, low, high = estimates[f"{name},{base}"]
            rows.append(
                {"row": "probability_of_improvement", "experiment": name, "environment": environment[name], "against": base, "value": point, "ci_low": low, "ci_high": high}
            )
    return [{column: row.get(column, "") for column in COLUMNS} for row in rows]


def write_summary(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".csv.tmp")
    with temporary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: repr(v) if isinstance(v, float) else v for k, v in row.items()} for row in rows)
    temporary.replace(path)  # a reader never sees half a table
    return path


def read_summary(path: Path) -> list[dict]:
    """The rows of a `summary.csv`, numbers as floats (ints for seeds), blanks as None."""
    rows = []
    with Path(path).open(newline="") as handle:
        for row in csv.DictReader(handle):
            parsed = {}
            for key, text in row.items():
                if key in ("value", "ci_low", "ci_high"):
                    parsed[key] = float(text) if text else None
                elif key == "seed":
                    parsed[key] = int(text) if text else None
                else:
                    parsed[key] = text or None
            rows.append(parsed)
    return rows


def aggregate_suite(experiments: Path, suite: str, results: Path, comparison: Comparison = DEFAULT_COMPARISON):
    """`memorax aggregate`: `<results>/<suite>/summary.csv` and `provenance.json`
    (each experiment's provenance, from its `trained.json`) for every experiment of
    the suite. Returns (rows, results read)."""
    from memorax.experiment.suite import read_suite

    names = [experiment.name for experiment in read_suite(experiments, suite)]
    folder = Path(results) / suite
    found = read_results(folder, names)
    rows = summary_rows(found, comparison)
    write_summary(rows, folder / "summary.csv")
    provenance = {}
    for name in names:
        trained = folder / name / "trained.json"
        provenance[name] = json.loads(trained.read_text())["provenance"] if trained.is_file() else {}
    (folder / "provenance.json").write_text(json.dumps(provenance, indent=1, sort_keys=True))
    return rows, found
