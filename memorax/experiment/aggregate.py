"""A suite's results as one table: per experiment the IQM and the mean of the final
evaluation return over seeds with 95% bootstrap intervals (`statistics`), the
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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from memorax.experiment import statistics

COLUMNS = ("row", "experiment", "environment", "against", "seed", "value", "ci_low", "ci_high")
BOOTSTRAP_REPS = 10_000


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


def _estimate(row: str, result: ExperimentResult, point, low, high) -> dict:
    return {"row": row, "experiment": result.name, "environment": result.environment, "value": float(point), "ci_low": float(low), "ci_high": float(high)}


def summary_rows(results: list[ExperimentResult], comparison: Comparison = DEFAULT_COMPARISON) -> list[dict]:
    """The rows of `summary.csv` (see the module's docstring)."""
    rows = []
    for result in results:
        for seed, value in zip(result.seeds, result.returns):
            rows.append({"row": "seed", "experiment": result.name, "environment": result.environment, "seed": seed, "value": float(value)})
    for row, statistic in (("iqm", statistics.iqm), ("mean", statistics.mean)):
        for result in results:
            point, (low, high) = statistics.interval([result.returns], statistic, BOOTSTRAP_REPS)
            rows.append(_estimate(row, result, point, low, high))
    by_name = {r.name: r for r in results}
    for name, base in baselines(results, comparison).items():
        samples = [by_name[name].returns, by_name[base].returns]
        point, (low, high) = statistics.interval(samples, statistics.probability_of_improvement, BOOTSTRAP_REPS)
        rows.append({**_estimate("probability_of_improvement", by_name[name], point, low, high), "against": base})
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
