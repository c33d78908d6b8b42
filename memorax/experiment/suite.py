"""A suite: the experiment files of `experiments/<suite>/`, read and checked together
before any job runs (the workflow's plan, `memorax aggregate` and `memorax report`
all list a suite's experiments from here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from memorax.experiment.errors import ExperimentError
from memorax.experiment.spec import read_experiment


@dataclass(frozen=True)
class SuiteExperiment:
    name: str
    path: Path  # `<suite>/<name>.yaml`: for a sweep's member, a name, not a file
    resolved: dict  # schema defaults filled in (not yet built)
    source: Path  # the file it is written in (its sweep's, for a member)

    @property
    def environment(self) -> str:
        return self.resolved["environment"]["id"]


class SuiteError(ValueError):
    """A suite that cannot be planned: missing, empty, or with bad files (all listed)."""


def read_suite(experiments: Path | str, suite: str, build: bool = False) -> list[SuiteExperiment]:
    """Every experiment of `experiments/<suite>/*.yaml`, in name order, each read
    against the schema and, with `build`, built as `memorax validate` does (sizes,
    heads, minibatches...: no training, a second or two per file). Raises SuiteError
    naming every bad file's field and reason."""
    folder = Path(experiments) / suite
    if not folder.is_dir():
        known = sorted(p.name for p in Path(experiments).iterdir() if p.is_dir()) if Path(experiments).is_dir() else []
        raise SuiteError(f"{folder}: no such suite (suites in {experiments}: {', '.join(known) or 'none'})")
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise SuiteError(f"{folder}: the suite has no experiment files (*.yaml)")
    found, problems = [], []
    for source, path in experiment_paths(paths, problems):
        try:
            resolved = read_experiment(path)
            if build:
                from memorax.experiment.builder import build_experiment

                build_experiment(path, resolved)
            found.append(SuiteExperiment(path.stem, path, resolved, source))
        except ExperimentError as error:
            problems.extend(problem.describe(path) for problem in error.problems)
    if problems:
        raise SuiteError("\n".join(problems))
    return found


def experiment_paths(paths: list[Path], problems: list[str]) -> list[tuple[Path, Path]]:
    """(file, experiment path) of every experiment in `paths`: a file stands for
    itself, a sweep for each of its members."""
    from memorax.experiment.spec import parse
    from memorax.experiment.sweep import is_sweep, members

    found = []
    for path in paths:
        try:
            document = parse(path)
            expanded = members(path, document) if is_sweep(document) else {path.stem: None}
        except ExperimentError as error:
            problems.extend(problem.describe(path) for problem in error.problems)
            continue
        found += [(path, path.parent / f"{name}.yaml") for name in expanded]
    return found
