"""A suite's report: learning curves with confidence bands per environment, a
comparison of the experiments (IQM with 95% intervals), a performance profile, and
one HTML page with the summary table and the figures (paths relative to the page,
so the folder can be copied and opened anywhere)."""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

import numpy as np

from memorax.experiment import statistics
from memorax.experiment.aggregate import (
    BOOTSTRAP_REPS,
    DEFAULT_COMPARISON,
    Comparison,
    ExperimentResult,
)

FIGURES = ("comparison", "performance_profile")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on clusters or in containers
    from matplotlib import pyplot

    return pyplot


def _label(result: ExperimentResult, comparison: Comparison) -> str:
    value = result.field(comparison.field)
    return f"{result.name} ({value})" if value is not None else result.name


def _by_environment(results: list[ExperimentResult]) -> dict[str, list[ExperimentResult]]:
    groups = defaultdict(list)
    for result in results:
        groups[result.environment].append(result)
    return dict(sorted(groups.items()))


def _file_name(environment: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in environment)


def _curve(result: ExperimentResult):
    """(env steps, IQM per step, low, high) over seeds of the scheduled evaluations."""
    if not result.evaluations:
        return None
    steps = np.array([e["env_step"] for e in result.evaluations])
    scores = np.array([e["mean_return"] for e in result.evaluations])  # (steps, seeds): a seed's curve resampled whole
    points, (low, high) = statistics.interval([scores], statistics.iqm, BOOTSTRAP_REPS)
    return steps, points, low, high


def learning_curves(results: list[ExperimentResult], folder: Path, comparison: Comparison) -> list[Path]:
    """One figure per environment: each experiment's evaluation return (IQM over
    seeds) against env steps, with its 95% bootstrap band."""
    pyplot = _pyplot()
    paths = []
    for environment, group in _by_environment(results).items():
        figure, axes = pyplot.subplots(figsize=(6.5, 4), layout="constrained")
        for result in group:
            curve = _curve(result)
            if curve is None:
                continue
            steps, middle, low, high = curve
            line = axes.plot(steps, middle, marker="o", markersize=3, label=_label(result, comparison))[0]
            axes.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
        axes.set(xlabel="env steps", ylabel="evaluation return (IQM, 95% CI)", title=environment)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
        paths.append(_save(figure, folder / f"curves_{_file_name(environment)}.png"))
    return paths


def comparison_figure(rows: list[dict], results: list[ExperimentResult], path: Path, comparison: Comparison) -> Path:
    """Each experiment's IQM of the final evaluation return with its 95% interval,
    one panel per environment."""
    pyplot = _pyplot()
    iqm = {row["experiment"]: row for row in rows if row["row"] == "iqm"}
    groups = _by_environment(results)
    figure, axes = pyplot.subplots(
        len(groups), 1, figsize=(6.5, 0.5 + 0.45 * len(results) + 0.6 * len(groups)), layout="constrained", squeeze=False
    )
    for axis, (environment, group) in zip(axes[:, 0], groups.items()):
        names = [r.name for r in group]
        values = np.array([iqm[n]["value"] for n in names])
        low = values - np.array([iqm[n]["ci_low"] for n in names])
        high = np.array([iqm[n]["ci_high"] for n in names]) - values
        axis.errorbar(values, range(len(names)), xerr=[low, high], fmt="o", capsize=4)
        axis.set_yticks(range(len(names)), [_label(r, comparison) for r in group], fontsize=8)
        axis.set(title=environment, xlabel="final evaluation return: IQM over seeds, 95% CI")
        axis.grid(alpha=0.3, axis="x")
    return _save(figure, path)


def performance_profile(results: list[ExperimentResult], path: Path, comparison: Comparison) -> Path:
    """The fraction of runs scoring above tau, per value of the comparison field
    (e.g. per torso) over all environments where each has an experiment. Returns are
    min-max normalised within each environment over the suite's runs."""
    pyplot = _pyplot()
    groups = _by_environment(results)
    bounds = {
        env: (min(r.returns.min() for r in group), max(r.returns.max() for r in group)) for env, group in groups.items()
    }
    normalised = defaultdict(dict)  # label -> environment -> scores
    for environment, group in groups.items():
        low, high = bounds[environment]
        for result in group:
            label = str(result.field(comparison.field) or result.name)
            normalised[label][environment] = (result.returns - low) / (high - low) if high > low else np.ones_like(result.returns)
    environments = sorted(groups)
    complete = {label: per_env for label, per_env in normalised.items() if set(per_env) == set(environments)}
    figure, axes = pyplot.subplots(figsize=(6.5, 4), layout="constrained")
    if complete:
        taus = np.linspace(0.0, 1.0, 51)
        profile_of = lambda *tasks, axis: statistics.score_distribution(tasks, taus, axis)
        for label in sorted(complete):
            tasks = [complete[label][e] for e in environments]  # resampled within each environment
            profile, interval = statistics.interval(tasks, profile_of, BOOTSTRAP_REPS)
            line = axes.plot(taus, profile, label=label)[0]
            axes.fill_between(taus, interval[0], interval[1], color=line.get_color(), alpha=0.2)
        axes.legend(fontsize=8)
    axes.set(
        xlabel="normalised return τ (min-max within each environment)",
        ylabel="fraction of runs with score > τ",
        title=f"performance profile over {len(environments)} environment(s)",
    )
    axes.grid(alpha=0.3)
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    _pyplot().close(figure)
    return path


def _column(field: str) -> str:
    """network.torso.type -> torso; optimizer.learning_rate -> learning_rate."""
    parts = field.split(".")
    return parts[-2] if parts[-1] == "type" and len(parts) > 1 else parts[-1]


def table(rows: list[dict], results: list[ExperimentResult], comparison: Comparison) -> list[dict[str, str]]:
    """One line per experiment: what the report page and the terminal show."""
    stats = {(row["row"], row["experiment"]): row for row in rows}
    interval = lambda row: f"{row['value']:.3g} [{row['ci_low']:.3g}, {row['ci_high']:.3g}]"
    lines = []
    for result in sorted(results, key=lambda r: (r.environment, r.name)):
        improvement = stats.get(("probability_of_improvement", result.name))
        lines.append(
            {
                "environment": result.environment,
                "experiment": result.name,
                _column(comparison.field): str(result.field(comparison.field)),
                "seeds": str(len(result.seeds)),
                "IQM [95% CI]": interval(stats[("iqm", result.name)]),
                "mean [95% CI]": interval(stats[("mean", result.name)]),
                "P(better than baseline) [95% CI]": (
                    f"{interval(improvement)} vs {improvement['against']}" if improvement else "baseline" if str(result.field(comparison.field)) == comparison.baseline else ""
                ),
            }
        )
    return lines


def write_page(suite: str, lines: list[dict[str, str]], figures: list[Path], provenance: dict, path: Path) -> Path:
    """The report page: the table and every figure, images linked relative to it."""
    head = "".join(f"<th>{html.escape(k)}</th>" for k in lines[0]) if lines else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in line.values()) + "</tr>" for line in lines)
    images = "".join(
        f'<figure><img src="{html.escape(str(f.relative_to(path.parent)))}" alt="{html.escape(f.stem)}">'
        f"<figcaption>{html.escape(f.stem.replace('_', ' '))}</figcaption></figure>"
        for f in figures
    )
    facts = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in sorted(provenance.items()))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>memorax: {html.escape(suite)} suite</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 70em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
figure {{ display: inline-block; margin: 1em; }} img {{ max-width: 40em; }}
</style></head>
<body>
<h1>memorax: the {html.escape(suite)} suite</h1>
<p>Final evaluation return (deterministic policy, fresh episodes) over seeds: interquartile mean (IQM) and mean,
with 95% stratified-bootstrap confidence intervals; the probability that an experiment beats its baseline.
Per-seed values are in <code>summary.csv</code>.</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<h2>Figures</h2>
{images}
<h2>Provenance</h2>
<ul>{facts}</ul>
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path


def suite_results(experiments: Path, suite: str, results: Path):
    """(summary rows, experiment results) of an aggregated suite."""
    from memorax.experiment.aggregate import read_results, read_summary
    from memorax.experiment.suite import read_suite

    folder = Path(results) / suite
    summary = folder / "summary.csv"
    if not summary.is_file():
        raise FileNotFoundError(f"{summary}: missing (run memorax aggregate {suite} first)")
    return read_summary(summary), read_results(folder, [e.name for e in read_suite(experiments, suite)])


def report_suite(experiments: Path, suite: str, results: Path, comparison: Comparison = DEFAULT_COMPARISON) -> dict:
    """`memorax report`: the figures under `<results>/<suite>/figures/` and the page
    `<results>/<suite>/report.html`, from the suite's `summary.csv` and results.
    Returns {"page", "figures", "table"}."""
    import json

    folder = Path(results) / suite
    rows, found = suite_results(experiments, suite, results)
    figures = [
        *learning_curves(found, folder / "figures", comparison),
        comparison_figure(rows, found, folder / "figures" / "comparison.png", comparison),
        performance_profile(found, folder / "figures" / "performance_profile.png", comparison),
    ]
    provenance_file = folder / "provenance.json"
    per_experiment = json.loads(provenance_file.read_text()) if provenance_file.is_file() else {}
    shared = _shared_provenance(per_experiment)
    lines = table(rows, found, comparison)
    page = write_page(suite, lines, figures, shared, folder / "report.html")
    return {"page": page, "figures": figures, "table": lines}


def _shared_provenance(per_experiment: dict) -> dict:
    """The provenance facts every experiment shares (git commit, versions, platform);
    facts that differ are listed as 'varies'."""
    keys = sorted({key for facts in per_experiment.values() for key in facts if key not in ("command", "host")})
    shared = {}
    for key in keys:
        values = {facts.get(key) for facts in per_experiment.values()}
        shared[key] = values.pop() if len(values) == 1 else "varies between experiments"
    return shared


def environment_figure_names(environments) -> list[str]:
    """The figure files `report_suite` writes for a suite with these environments
    (the workflow declares them as outputs)."""
    return [f"curves_{_file_name(e)}.png" for e in sorted(set(environments))] + [f"{name}.png" for name in FIGURES]
