"""What is wrong with an experiment file: the file, the field and the reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    field: str  # dotted path into the file ("network.torso.features"); "" for the whole file
    reason: str

    def describe(self, path: Path | str) -> str:
        return f"{path}: {self.field}: {self.reason}" if self.field else f"{path}: {self.reason}"


class ExperimentError(ValueError):
    """One or more problems of one experiment file, each naming its field."""

    def __init__(self, path: Path | str, problems: list[Problem]):
        self.path = Path(path)
        self.problems = list(problems)
        super().__init__("\n".join(problem.describe(path) for problem in self.problems))


def dotted(parts) -> str:
    """("network", "torso", "blocks", 0) -> "network.torso.blocks[0]"."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
