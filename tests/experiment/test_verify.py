"""memorax verify's judgements on hand-made summaries (the workflow test checks a real
reproduction): a reference run's interval, bit-identity, provenance, and a
publication's values with their spread."""

import pytest

from memorax.experiment.aggregate import read_summary, write_summary
from memorax.experiment.verify import verify

PROVENANCE = {"git.commit": "abc", "git.dirty": "false", "platform": "Linux-x86_64", "version.jax": "0.10.2"}


def rows(gru_seeds, gru_iqm, ci=(0.8, 1.0)):
    return [
        *({"row": "seed", "experiment": "gru", "seed": s, "value": v} for s, v in enumerate(gru_seeds)),
        {"row": "iqm", "experiment": "gru", "value": gru_iqm, "ci_low": ci[0], "ci_high": ci[1]},
        {"row": "mean", "experiment": "gru", "value": gru_iqm, "ci_low": ci[0], "ci_high": ci[1]},
    ]


def write(folder, table, provenance):
    import json

    folder.mkdir(parents=True, exist_ok=True)
    full = [{c: r.get(c, "") for c in ("row", "experiment", "environment", "against", "seed", "value", "ci_low", "ci_high")} for r in table]
    write_summary(full, folder / "summary.csv")
    (folder / "provenance.json").write_text(json.dumps({"gru": provenance}))


def test_a_run_reference_judges_the_interval_bit_identity_and_provenance(tmp_path):
    write(tmp_path / "reference", rows([0.9, 1.0, 1.0], 0.95), PROVENANCE)
    write(tmp_path / "same", rows([0.9, 1.0, 1.0], 0.95), PROVENANCE)
    (verdict,) = verify(tmp_path / "reference", tmp_path / "same" / "summary.csv", tmp_path / "same" / "provenance.json")
    assert verdict.passed and "bit-identical" in verdict.says and "provenance" not in verdict.says
    assert read_summary(tmp_path / "same" / "summary.csv")[0]["value"] == 0.9  # exact round trip

    elsewhere = {**PROVENANCE, "version.jax": "0.11.0", "git.commit": "def"}
    write(tmp_path / "other", rows([0.85, 1.0, 1.0], 0.9), elsewhere)
    (verdict,) = verify(tmp_path / "reference", tmp_path / "other" / "summary.csv", tmp_path / "other" / "provenance.json")
    assert verdict.passed and "differ" in verdict.says
    assert "version.jax: 0.10.2 -> 0.11.0" in verdict.says and "git.commit: abc -> def" in verdict.says

    # Another CPU is another platform: XLA:CPU compiles for the host's instructions.
    other_cpu = {**PROVENANCE, "cpu": "AMD EPYC (avx512f)"}
    write(tmp_path / "cpu", rows([0.85, 1.0, 1.0], 0.9), other_cpu)
    (verdict,) = verify(tmp_path / "reference", tmp_path / "cpu" / "summary.csv", tmp_path / "cpu" / "provenance.json")
    assert "cpu: unknown -> AMD EPYC (avx512f)" in verdict.says and "same platform" not in verdict.says

    write(tmp_path / "worse", rows([0.0, 0.1, 0.0], 0.05), PROVENANCE)
    (verdict,) = verify(tmp_path / "reference", tmp_path / "worse" / "summary.csv", tmp_path / "worse" / "provenance.json")
    assert not verdict.passed and "OUTSIDE the reference 95% CI [0.8, 1]" in verdict.says


def test_a_published_table_is_checked_within_its_spread(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "published.yaml").write_text(
        "- {experiment: gru, statistic: mean, value: 0.9, spread: 0.1, source: 'A paper, Table 3'}\n"
        "- {experiment: lstm, statistic: mean, value: 0.8, spread: 0.1, source: 'A paper, Table 3'}\n"
    )
    write(tmp_path / "run", rows([0.9, 1.0, 1.0], 0.95), PROVENANCE)
    gru, lstm = verify(reference, tmp_path / "run" / "summary.csv", tmp_path / "run" / "provenance.json")
    assert gru.passed and "difference +0.05, within the published spread" in gru.says and "A paper, Table 3" in gru.says
    assert not lstm.passed and "missing from the reproduction" in lstm.says


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"summary\.csv: missing"):
        verify(tmp_path, tmp_path / "summary.csv", tmp_path / "provenance.json")
    write(tmp_path / "run", rows([1.0], 1.0), PROVENANCE)
    with pytest.raises(FileNotFoundError, match="no reference"):
        verify(tmp_path / "nothing", tmp_path / "run" / "summary.csv", tmp_path / "run" / "provenance.json")


def test_the_quick_reference_is_the_aggregate_of_its_own_seed_rows(tmp_path):
    """The shipped table is what `memorax aggregate` computes from its per-seed
    returns: a reproduction with the same returns gets the same table, byte for byte."""
    from pathlib import Path

    import numpy as np
    import yaml

    from memorax.experiment.aggregate import ExperimentResult, summary_rows

    quick = Path(__file__).resolve().parents[2] / "experiments" / "quick"
    reference = read_summary(quick / "reference" / "summary.csv")
    results = []
    for name in sorted({row["experiment"] for row in reference}):
        seeds = [row for row in reference if row["row"] == "seed" and row["experiment"] == name]
        resolved = yaml.safe_load((quick / f"{name}.yaml").read_text())
        results.append(ExperimentResult(name, resolved, [r["seed"] for r in seeds], np.array([r["value"] for r in seeds]), []))
    again = write_summary(summary_rows(results), tmp_path / "summary.csv")
    assert again.read_bytes() == (quick / "reference" / "summary.csv").read_bytes()
