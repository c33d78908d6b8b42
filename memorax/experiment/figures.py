"""Figures of a run, written as PNG files for MLflow artifacts and reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def learning_curve(curves: Mapping[str, Sequence[tuple[int, float]]], path: Path, title: str) -> Path:
    """One line per named curve of (env step, value) points, e.g. the training
    episode return and the evaluation return of one seed."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on clusters or in containers
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 3.5), layout="constrained")
    for name, points in curves.items():
        if points:
            steps, values = zip(*points)
            axes.plot(steps, values, label=name, marker="o" if len(points) < 30 else None, markersize=3)
    axes.set_xlabel("env steps")
    axes.set_ylabel("return")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path
