"""How long `memorax aggregate` takes for a paper-scale suite, against rliable's
bootstrap on the same scores.

A synthetic suite shaped like experiments/popgym (33 tasks x 6 torsos, 5 seeds):
`summary_rows` (IQM and mean with 10,000-resample intervals, the probability of
improvement of each torso over the MLP) timed in full, and the same statistics
through rliable's `get_interval_estimates` (a Python call per resample) timed on
the first `--rliable-experiments` experiments and scaled to the suite. Both run in
this process, one after the other: their ratio is the number to read.

    python benchmarks/aggregate.py [--rliable-experiments 6] [--write]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from results import write_section

from memorax.experiment.aggregate import BOOTSTRAP_REPS, DEFAULT_COMPARISON, ExperimentResult, baselines, summary_rows

TORSOS = ("MLP", "GRU", "LSTM", "FFM", "S5", "Mamba")
TASKS, SEEDS = 33, 5


def synthetic_suite() -> list[ExperimentResult]:
    rng = np.random.default_rng(0)
    return [
        ExperimentResult(
            f"task{task}_{torso.lower()}",
            {"environment": {"id": f"task{task}"}, "network": {"torso": {"type": torso}}},
            list(range(SEEDS)),
            rng.uniform(-1, 1, SEEDS),
            [],
        )
        for task in range(TASKS)
        for torso in TORSOS
    ]


def rliable_rows(results: list[ExperimentResult]) -> None:
    """The same statistics, the way rliable computes them."""
    from rliable import library, metrics

    by_name = {r.name: r for r in results}
    for result in results:
        for statistic in (metrics.aggregate_iqm, metrics.aggregate_mean):
            library.get_interval_estimates(
                {result.name: result.returns[:, None]}, lambda s, f=statistic: np.array([f(s)]), reps=BOOTSTRAP_REPS
            )
    for name, base in baselines(results, DEFAULT_COMPARISON).items():
        library.get_interval_estimates(
            {name: (by_name[name].returns[:, None], by_name[base].returns[:, None])},
            lambda x, y: np.array([metrics.probability_of_improvement(x, y)]),
            reps=BOOTSTRAP_REPS,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rliable-experiments", type=int, default=6, help="experiments timed through rliable (then scaled)")
    parser.add_argument("--write", action="store_true", help="replace the section of benchmarks/RESULTS.md")
    arguments = parser.parse_args()

    suite = synthetic_suite()
    start = time.perf_counter()
    rows = summary_rows(suite)
    ours = time.perf_counter() - start
    subset = suite[: arguments.rliable_experiments]  # one task's six torsos: five comparisons
    start = time.perf_counter()
    rliable_rows(subset)
    theirs = (time.perf_counter() - start) * len(suite) / len(subset)

    section = (
        "## Aggregating a paper-scale suite\n\n"
        f"`python benchmarks/aggregate.py --write`, {time.strftime('%Y-%m-%d')}, {platform.machine()}: "
        f"a synthetic suite of {len(suite)} experiments ({TASKS} tasks x {len(TORSOS)} torsos, {SEEDS} seeds), "
        f"{len(rows)} summary rows, {BOOTSTRAP_REPS:,} resamples per interval.\n\n"
        "| | seconds for the suite |\n|---|---:|\n"
        f"| memorax (`scipy.stats.bootstrap`, statistics vectorised over resamples) | {ours:.1f} |\n"
        f"| rliable's `get_interval_estimates` (a Python call per resample; {len(subset)} experiments timed, scaled) | {theirs:.0f} |\n"
        f"| ratio | {theirs / ours:.0f}x |\n\n"
        "rliable resamples in a Python loop and calls the statistic once per resample; "
        "memorax's statistics take a batch of resamples at once, so a resample costs a "
        "slice of one NumPy call. The definitions are the same (tested against rliable's "
        "functions in tests/experiment/test_statistics.py).\n"
    )
    print(section)
    if arguments.write:
        write_section("Aggregating a paper-scale suite", section)


if __name__ == "__main__":
    main()
