"""The suite's statistics agree with rliable's definitions, and their bootstrap
intervals are seeded per call and cover what rliable's cover."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from memorax.experiment import statistics

runs = arrays(np.float64, st.integers(2, 12), elements=st.floats(-1e3, 1e3))


@settings(max_examples=40, deadline=None)
@given(runs, runs)
def test_the_point_statistics_are_rlibles(x, y):
    from rliable import metrics

    np.testing.assert_allclose(statistics.iqm(x), metrics.aggregate_iqm(x[:, None]), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(statistics.mean(x), metrics.aggregate_mean(x[:, None]), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(
        statistics.probability_of_improvement(x, y), metrics.probability_of_improvement(x[:, None], y[:, None])
    )
    taus = np.linspace(-1e3, 1e3, 9)
    tasks = np.stack([x, x[::-1] / 2], axis=1)  # (runs, 2 tasks)
    from rliable import library

    np.testing.assert_allclose(statistics.score_distribution([tasks[:, 0], tasks[:, 1]], taus), library.score_distributions(tasks, taus))


def test_statistics_are_vectorised_over_resamples():
    batch = np.random.default_rng(0).normal(size=(7, 3, 5))
    np.testing.assert_allclose(statistics.iqm(batch)[2, 1], statistics.iqm(batch[2, 1]))
    poi = statistics.probability_of_improvement(batch, batch[::-1])
    assert poi.shape == (7, 3) and poi[1, 2] == statistics.probability_of_improvement(batch[1, 2], batch[5, 2])
    taus = np.linspace(-1, 1, 4)
    profile = statistics.score_distribution([batch, batch * 2], taus)
    np.testing.assert_allclose(profile[:, 3, 0], statistics.score_distribution([batch[3, 0], batch[3, 0] * 2], taus))


def test_an_interval_is_seeded_per_call_and_leaves_the_callers_generators_alone():
    x = np.random.default_rng(1).normal(size=10)
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    first = statistics.interval([x], statistics.iqm, 2000)
    statistics.interval([x * 3], statistics.iqm, 2000)  # another experiment in between
    again = statistics.interval([x], statistics.iqm, 2000)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    np.testing.assert_array_equal(first[1], again[1])
    low, high = first[1]
    assert low < first[0] < high


def test_the_interval_agrees_with_rliables_bootstrap():
    from rliable import library, metrics

    x = np.random.default_rng(2).normal(size=(10, 1))
    _, ours = statistics.interval([x[:, 0]], statistics.iqm, 20_000)
    np.random.seed(0)  # rliable draws from the global generator
    _, theirs = library.get_interval_estimates({"x": x}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=20_000)
    np.testing.assert_allclose(ours, np.ravel(theirs["x"]), atol=0.05)  # Monte Carlo error of the percentiles


@pytest.mark.parametrize("values", [[1.0], [1.0, 1.0, 1.0]])
def test_one_run_or_equal_runs_give_a_zero_width_interval(values):
    point, (low, high) = statistics.interval([np.array(values)], statistics.iqm, 500)
    assert low == high == point == 1.0
