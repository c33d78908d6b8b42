"""The statistics of a suite's table and figures, after rliable (Agarwal et al., 2021):
the interquartile mean, the probability of improvement, score distributions, and
their 95% percentile-bootstrap intervals over runs.

Every statistic is vectorised over a batch of resamples, so the bootstrap is
one call of `scipy.stats.bootstrap` instead of a Python call per resample (rliable's
loop): 10,000 resamples of an experiment take milliseconds, and a paper suite of two
hundred experiments aggregates in seconds (see `benchmarks/aggregate.py`). Each
call draws from its own generator seeded with `SEED`: the same scores give the same
interval, whichever other experiments a suite holds. The definitions are tested
against rliable's own functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

SEED = 0
CONFIDENCE = 0.95


def iqm(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """The interquartile mean: the mean of the middle half of `scores` along `axis`
    (a quarter trimmed from each end; rliable's `aggregate_iqm` over one axis)."""
    return stats.trim_mean(scores, 0.25, axis=axis)


def mean(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(scores, axis=axis)


def probability_of_improvement(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 for a run X of one experiment and a run Y of another:
    the Mann-Whitney U statistic over n * m, as rliable computes it."""
    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    greater = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
    equal = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
    return greater + 0.5 * equal


def score_distribution(tasks: Sequence[np.ndarray], taus: np.ndarray, axis: int = -1) -> np.ndarray:
    """The fraction of runs scoring above each tau, averaged over tasks (a performance
    profile), from one array of runs per task; tasks may have different numbers of
    runs, each task weighs the same. Shaped (taus, ...): a vector statistic's values
    lead and the batch of resamples trails, as `scipy.stats.bootstrap` wants."""
    per_task = [(np.moveaxis(t, axis, -1)[..., None, :] > taus[:, None]).mean(axis=-1) for t in tasks]
    return np.moveaxis(np.mean(per_task, axis=0), -1, 0)


def interval(
    samples: Sequence[np.ndarray], statistic: Callable[..., np.ndarray], reps: int
) -> tuple[np.ndarray, np.ndarray]:
    """(point, (low, high)) of `statistic(*samples, axis=-1)` with its 95% percentile
    bootstrap interval; each sample (runs along its last axis) is resampled on its
    own, so a sample per task makes the bootstrap stratified over tasks, as rliable's
    is. A sample of one run has nothing to resample: its interval is the point."""
    samples = [np.asarray(s, dtype=np.float64) for s in samples]
    point = np.asarray(statistic(*samples, axis=-1))
    if min(s.shape[-1] for s in samples) < 2:
        return point, np.stack([point, point])
    result = stats.bootstrap(
        samples,
        statistic,
        n_resamples=reps,
        vectorized=True,
        axis=-1,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(SEED),
    )
    return point, np.stack([result.confidence_interval.low, result.confidence_interval.high])
