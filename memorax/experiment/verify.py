"""`memorax verify`: does a reproduction of a suite give the numbers its reference
gives?

A suite's reference lives in `experiments/<suite>/reference/`:
- `summary.csv` and `provenance.json`: a run of the suite (made by the workflow,
  copied there). An experiment passes when the reproduction's IQM lies inside the
  reference's 95% interval; the per-seed returns are also compared for bit-identity,
  which is expected only where the platform and the versions match.
- `published.yaml` (optional): a publication's values, e.g.
  `{experiment: gru, statistic: mean, value: 0.91, spread: 0.04, source: "POPGym,
  Table 3"}`; the reproduction passes when it lies within `spread` of `value`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from memorax.experiment.aggregate import read_summary

# Provenance that decides whether numbers can be bit-identical (not host or command).
PLATFORM_KEYS = (
    "platform",
    "cpu",
    "python",
    "jax.backend",
    "jax.devices",
    "version.jax",
    "version.jaxlib",
    "version.flax",
    "version.optax",
    "version.gymnax",
    "version.memorax",
    "container.image",
)
CODE_KEYS = ("git.commit", "git.dirty")


@dataclass(frozen=True)
class Verdict:
    experiment: str
    passed: bool
    says: str


def _statistic(rows: list[dict], kind: str) -> dict[str, dict]:
    return {row["experiment"]: row for row in rows if row["row"] == kind}


def _seed_values(rows: list[dict]) -> dict[str, dict[int, float]]:
    values: dict[str, dict[int, float]] = {}
    for row in rows:
        if row["row"] == "seed":
            values.setdefault(row["experiment"], {})[row["seed"]] = row["value"]
    return values


def provenance_differences(reference: dict, reproduction: dict) -> dict[str, list[str]]:
    """{experiment: ["key: reference -> reproduction", ...]} over the keys that matter."""
    differences = {}
    for name, theirs in reproduction.items():
        ours = reference.get(name, {})
        differences[name] = [
            f"{key}: {ours.get(key, 'unknown')} -> {theirs.get(key, 'unknown')}"
            for key in (*CODE_KEYS, *PLATFORM_KEYS)
            if ours.get(key) != theirs.get(key)
        ]
    return differences


def against_run(reference_rows, reference_provenance, rows, provenance) -> list[Verdict]:
    reference_iqm, iqm = _statistic(reference_rows, "iqm"), _statistic(rows, "iqm")
    reference_seeds, seeds = _seed_values(reference_rows), _seed_values(rows)
    differences = provenance_differences(reference_provenance, provenance)
    verdicts = []
    for name in sorted(reference_iqm):
        if name not in iqm:
            verdicts.append(Verdict(name, False, "missing from the reproduction"))
            continue
        ref, value = reference_iqm[name], iqm[name]["value"]
        inside = ref["ci_low"] <= value <= ref["ci_high"]
        identical = seeds.get(name) == reference_seeds.get(name)
        platform_differs = [d for d in differences.get(name, []) if d.split(":")[0] in PLATFORM_KEYS]
        says = (
            f"IQM {value:.4g} {'inside' if inside else 'OUTSIDE'} the reference 95% CI "
            f"[{ref['ci_low']:.4g}, {ref['ci_high']:.4g}]; per-seed returns "
            + ("bit-identical" if identical else "differ" + ("" if platform_differs else " on the same platform"))
        )
        if differences.get(name):
            says += "; provenance differs: " + ", ".join(differences[name])
        verdicts.append(Verdict(name, inside, says))
    return verdicts


def against_publication(published: list[dict], rows) -> list[Verdict]:
    verdicts = []
    for entry in published:
        name, statistic = entry["experiment"], entry.get("statistic", "mean")
        found = _statistic(rows, statistic).get(name)
        if found is None:
            verdicts.append(Verdict(name, False, f"missing from the reproduction ({entry['source']})"))
            continue
        difference = found["value"] - float(entry["value"])
        within = abs(difference) <= float(entry["spread"])
        verdicts.append(
            Verdict(
                name,
                within,
                f"{statistic} {found['value']:.4g} vs published {entry['value']} ± {entry['spread']} "
                f"({entry['source']}): difference {difference:+.4g}, {'within' if within else 'OUTSIDE'} the published spread",
            )
        )
    return verdicts


def verify(reference_folder: Path, summary: Path, provenance: Path) -> list[Verdict]:
    """Every verdict of a reproduction (`summary`, `provenance`) against the
    references in `reference_folder`; FileNotFoundError names what is missing."""
    reference_folder, summary = Path(reference_folder), Path(summary)
    for needed in (summary, provenance):
        if not Path(needed).is_file():
            raise FileNotFoundError(f"{needed}: missing (run the suite's workflow first)")
    rows = read_summary(summary)
    produced = json.loads(Path(provenance).read_text())
    verdicts: list[Verdict] = []
    if (reference_folder / "summary.csv").is_file():
        reference_provenance = reference_folder / "provenance.json"
        verdicts += against_run(
            read_summary(reference_folder / "summary.csv"),
            json.loads(reference_provenance.read_text()) if reference_provenance.is_file() else {},
            rows,
            produced,
        )
    if (reference_folder / "published.yaml").is_file():
        verdicts += against_publication(yaml.safe_load((reference_folder / "published.yaml").read_text()), rows)
    if not verdicts:
        raise FileNotFoundError(f"{reference_folder}: no reference (summary.csv or published.yaml)")
    return verdicts
