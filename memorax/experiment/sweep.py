"""Sweeps: an experiment file with a `sweep:` grid stands for one experiment per
combination of values, each named for its values.

    # experiments/study/gru.yaml
    sweep:
      environment.id: [RepeatFirst-Easy, CountRecall-Easy]
      optimizer.learning_rate: [0.001, 0.0003]
    environment: {id: RepeatFirst-Easy}
    ...

is four experiments: `gru-RepeatFirst-Easy-learning_rate=0.001`, ... Text values name
themselves; other values are written `field=value` (the field's last part). A member
is addressed as if it were a file of the suite, `experiments/study/<member>.yaml`:
`memorax train`, `evaluate` and `validate` read it from its sweep file, and its results
go to `results/study/<member>/` like any experiment's.
"""

from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path

from memorax.experiment.errors import ExperimentError, Problem

SWEEP_KEY = "sweep"


def is_sweep(document) -> bool:
    return isinstance(document, dict) and SWEEP_KEY in document


def _grid(path: Path, document: dict) -> list[tuple[str, list]]:
    grid = document[SWEEP_KEY]
    if not isinstance(grid, dict) or not grid:
        raise ExperimentError(path, [Problem(SWEEP_KEY, "must map dotted field names to lists of values")])
    problems = [
        Problem(f"{SWEEP_KEY}.{field}", f"must be a non-empty list of values, got {values!r}")
        for field, values in grid.items()
        if not isinstance(values, list) or not values
    ]
    if problems:
        raise ExperimentError(path, problems)
    return list(grid.items())


def _set(document: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = document
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(dotted)
    node[last] = copy.deepcopy(value)


def _label(field: str, value) -> str:
    text = value if isinstance(value, str) else f"{field.rsplit('.', 1)[-1]}={value}"
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", str(text))


def members(path: Path | str, document: dict) -> dict[str, dict]:
    """{member name: its experiment document} of the sweep in `path`, in grid order."""
    path = Path(path)
    grid = _grid(path, document)
    base = {k: v for k, v in document.items() if k != SWEEP_KEY}
    expanded = {}
    for values in itertools.product(*(values for _, values in grid)):
        member = copy.deepcopy(base)
        for (field, _), value in zip(grid, values):
            try:
                _set(member, field, value)
            except ValueError:
                raise ExperimentError(path, [Problem(f"{SWEEP_KEY}.{field}", "names a field inside a non-mapping value")]) from None
        name = "-".join([path.stem, *(_label(field, value) for (field, _), value in zip(grid, values))])
        if name in expanded:
            raise ExperimentError(path, [Problem(SWEEP_KEY, f"two combinations are both named {name!r}")])
        expanded[name] = member
    return expanded


def find_member(path: Path) -> dict | None:
    """The document of the sweep member `path` names (`<folder>/<member>.yaml`, a file
    that does not exist), from the sweep files of its folder; None if none has it."""
    from memorax.experiment.spec import parse

    folder = path.parent
    if path.suffix != ".yaml" or not folder.is_dir():
        return None
    for candidate in sorted(folder.glob("*.yaml")):
        if not path.stem.startswith(candidate.stem + "-"):
            continue
        document = parse(candidate)
        if is_sweep(document):
            found = members(candidate, document).get(path.stem)
            if found is not None:
                return found
    return None
