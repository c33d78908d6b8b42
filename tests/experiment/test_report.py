"""The report's figures are reproducible: the same results draw the same bootstrap
bands, byte for byte."""

from __future__ import annotations

import numpy as np

from memorax.experiment.aggregate import DEFAULT_COMPARISON, ExperimentResult
from memorax.experiment.report import learning_curves, performance_profile


def result(name: str, torso: str, environment: str, returns, curve=()) -> ExperimentResult:
    resolved = {"environment": {"id": environment}, "network": {"torso": {"type": torso}}}
    evaluations = [{"env_step": step, "mean_return": list(values)} for step, values in curve]
    return ExperimentResult(name, resolved, list(range(len(returns))), np.asarray(returns, dtype=np.float64), evaluations)


def suite() -> list[ExperimentResult]:
    rng = np.random.default_rng(3)
    return [
        result(f"{env}_{torso}", torso, env, rng.normal(size=5), [(s, rng.normal(size=5)) for s in (100, 200, 300)])
        for env in ("A", "B")
        for torso in ("MLP", "GRU", "S5")
    ]


def test_the_figures_are_byte_identical_when_drawn_again(tmp_path):
    results = suite()
    first = performance_profile(results, tmp_path / "one" / "profile.png", DEFAULT_COMPARISON).read_bytes()
    again = performance_profile(results, tmp_path / "two" / "profile.png", DEFAULT_COMPARISON).read_bytes()
    assert first == again
    curves = [p.read_bytes() for p in learning_curves(results, tmp_path / "one", DEFAULT_COMPARISON)]
    assert curves == [p.read_bytes() for p in learning_curves(results, tmp_path / "two", DEFAULT_COMPARISON)]
    assert len(curves) == 2  # one per environment
