"""Experiments as files: `experiments/<suite>/<name>.yaml` read against one schema,
built into an environment, networks, optimizers and an algorithm (see
docs/experiments.md). The library itself never imports this package."""

from memorax.experiment.builder import Experiment, build_experiment
from memorax.experiment.errors import ExperimentError, Problem
from memorax.experiment.spec import read_experiment

__all__ = ["Experiment", "ExperimentError", "Problem", "build_experiment", "read_experiment"]
