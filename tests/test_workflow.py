"""The workflow end to end: the real `snakemake` command on a tiny suite, the real
MLflow store and orbax checkpoints; the report page in a real headless browser;
interrupt and rerun; a malformed file stopping the plan; `memorax verify`."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # snakemake and memorax of this environment
TINY = """\
environment: {{id: MemoryChain-bsuite}}
algorithm:
  name: PPO
  config: {{num_envs: 4, rollout_length: 16, num_epochs: 1, num_minibatches: 2}}
network:
  torso: {torso}
total_steps: {steps}
seeds: 2
evaluation: {{interval: {interval}, episodes: 4}}
"""


def write_suite(folder: Path, torsos: dict[str, str], steps: int = 256, interval: int = 128) -> Path:
    suite = folder / "experiments" / "tiny"
    suite.mkdir(parents=True, exist_ok=True)
    for name, torso in torsos.items():
        (suite / f"{name}.yaml").write_text(TINY.format(torso=torso, steps=steps, interval=interval))
    return folder / "experiments"


def snakemake(folder: Path, *arguments: str, timeout: float = 600, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    """The workflow of this repository, run in `folder` (its .snakemake metadata and
    results stay there)."""
    command = [
        str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(folder), "--cores", "2",
        "--config", f"experiments={folder / 'experiments'}", f"results={folder / 'results'}", "suites=tiny",
        *arguments,
    ]
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    if popen.pop("background", False):
        return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout, check=False)


def test_the_workflow_trains_evaluates_aggregates_reports_and_verifies(tmp_path):
    write_suite(tmp_path, {"mlp": "{type: MLP, features: [16]}", "gru": "{type: GRU, features: 16}"})
    done = snakemake(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = tmp_path / "results" / "tiny"
    assert "MemoryChain-bsuite" in done.stdout and "report.html" in done.stdout  # the table, printed at the end

    # summary.csv: per-seed rows equal what the runs logged to MLflow at their last step
    rows = list(csv.DictReader((results / "summary.csv").open()))
    client = MlflowClient(f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}")
    for name in ("mlp", "gru"):
        trained = json.loads((results / name / "trained.json").read_text())
        for seed, run_id in trained["run_ids"]["seeds"].items():
            logged = client.get_metric_history(run_id, "evaluation/mean_return")
            final = max(logged, key=lambda m: m.step)
            assert final.step == 256 and client.get_run(run_id).info.status == "FINISHED"
            (row,) = [r for r in rows if r["row"] == "seed" and r["experiment"] == name and r["seed"] == seed]
            assert float(row["value"]) == pytest.approx(final.value, abs=1e-6)
        seeds = [float(r["value"]) for r in rows if r["row"] == "seed" and r["experiment"] == name]
        (iqm,) = [r for r in rows if r["row"] == "iqm" and r["experiment"] == name]
        assert float(iqm["ci_low"]) <= float(iqm["value"]) <= float(iqm["ci_high"])
        assert float(iqm["value"]) == pytest.approx(np.mean(seeds))  # 2 seeds: the IQM is the mean
    (improvement,) = [r for r in rows if r["row"] == "probability_of_improvement"]
    assert improvement["experiment"] == "gru" and improvement["against"] == "mlp"
    assert 0 <= float(improvement["ci_low"]) <= float(improvement["value"]) <= float(improvement["ci_high"]) <= 1

    # figures are real images, all on the report page; logs per job
    figures = sorted(p.name for p in (results / "figures").glob("*.png"))
    assert figures == ["comparison.png", "curves_MemoryChain-bsuite.png", "performance_profile.png"]
    for figure in figures:
        assert matplotlib.image.imread(results / "figures" / figure).shape[0] > 100
    page = (results / "report.html").read_text()
    assert all(f"figures/{figure}" in page for figure in figures) and "probability" in page.lower()
    assert (tmp_path / "results" / "logs" / "tiny" / "gru" / "train.log").is_file()

    # nothing left to do; Snakemake's own report has the figures as items
    again = snakemake(tmp_path, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    report = snakemake(tmp_path, "--report", str(tmp_path / "snakemake-report.html"))
    assert report.returncode == 0, report.stderr[-3000:]
    assert (tmp_path / "snakemake-report.html").stat().st_size > 10_000

    # verify: the run against itself as the reference passes; a perturbed summary fails
    reference = tmp_path / "experiments" / "tiny" / "reference"
    reference.mkdir()
    shutil.copy(results / "summary.csv", reference)
    shutil.copy(results / "provenance.json", reference)
    verify = [str(BIN / "memorax"), "verify", "tiny", "--experiments", str(tmp_path / "experiments"), "--results", str(tmp_path / "results")]
    passed = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "pass tiny/gru" in passed.stdout and "bit-identical" in passed.stdout
    perturbed = [{**r, "value": str(float(r["value"]) + 5.0)} if r["row"] == "iqm" and r["experiment"] == "gru" else r for r in rows]
    with (results / "summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=rows[0].keys())
        writer.writeheader()
        writer.writerows(perturbed)
    failed = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert failed.returncode == 1 and "FAIL tiny/gru" in failed.stdout and "pass tiny/mlp" in failed.stdout


def test_the_report_page_renders_every_figure_in_a_real_browser(tmp_path):
    """A report made from written results (no training: the workflow test makes the
    real one), opened in headless Chromium (Debian's, from .ci/provision/chromium.sh):
    every image must load."""
    from memorax.experiment.aggregate import aggregate_suite
    from memorax.experiment.report import report_suite

    experiments = write_suite(tmp_path, {"mlp": "{type: MLP, features: [16]}", "gru": "{type: GRU, features: 16}"})
    for name, level in (("mlp", 0.0), ("gru", 0.9)):
        folder = tmp_path / "results" / "tiny" / name
        folder.mkdir(parents=True)
        torso = "MLP" if name == "mlp" else "GRU"
        (folder / "experiment.yaml").write_text(
            f"environment: {{id: MemoryChain-bsuite}}\nnetwork: {{torso: {{type: {torso}}}}}\n"
        )
        returns = [level, level + 0.05]
        (folder / "evaluation.json").write_text(json.dumps({"seeds": [0, 1], "mean_return": returns}))
        curve = [{"env_step": step, "mean_return": [level * step / 256] * 2} for step in (128, 256)]
        (folder / "evaluations.json").write_text(json.dumps(curve))
    aggregate_suite(experiments, "tiny", tmp_path / "results")
    written = report_suite(experiments, "tiny", tmp_path / "results")
    browser_renders_every_figure(written["page"], len(written["figures"]))


def browser_renders_every_figure(page: Path, count: int) -> None:
    if shutil.which("chromedriver") is None:
        if os.environ.get("CI"):
            pytest.fail("chromedriver is missing: .ci/provision/chromium.sh installs it")
        pytest.skip("headless Chromium is not installed (.ci/provision/chromium.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(page.as_uri())
        loaded = driver.execute_script(
            "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0);"
        )
        assert loaded == [True] * count
        assert "MemoryChain-bsuite" in driver.find_element("tag name", "table").text
    finally:
        driver.quit()


def test_an_interrupted_workflow_resumes_training_from_its_checkpoint(tmp_path):
    """Ctrl-C (SIGINT to the terminal's process group), a plain rerun, then SIGKILL of
    snakemake and its job at once and a rerun with --unlock and --rerun-incomplete:
    each rerun resumes training from the last checkpoint, and the runs are continued,
    not duplicated."""
    write_suite(tmp_path, {"gru": "{type: GRU, features: 16}"}, steps=8192, interval=512)
    checkpoints = tmp_path / "results" / "tiny" / "gru" / "checkpoints"
    log = tmp_path / "results" / "logs" / "tiny" / "gru" / "train.log"
    client = MlflowClient(f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}")

    def saved() -> int:
        return max((int(p.name) for p in checkpoints.glob("*") if p.name.isdigit()), default=0)

    def interrupt(signum: int, after_step: int) -> tuple[int, str]:
        running = snakemake(tmp_path, background=True)
        deadline = time.monotonic() + 300
        while saved() < after_step:
            assert running.poll() is None and time.monotonic() < deadline, running.stdout.read() if running.poll() else "timeout"
            time.sleep(0.5)
        os.killpg(running.pid, signum)
        output = running.communicate(timeout=120)[0]
        return running.returncode, output

    def runs():
        (experiment,) = [e for e in client.search_experiments() if e.name == "tiny/gru"]
        return client.search_runs([experiment.experiment_id])

    returncode, output = interrupt(signal.SIGINT, after_step=1024)
    assert returncode != 0, output[-3000:]
    assert {r.info.status for r in runs()} == {"KILLED"}, output[-3000:]  # marked, not left RUNNING
    first = saved()

    returncode, output = interrupt(signal.SIGKILL, after_step=first + 512)  # no --unlock needed after Ctrl-C
    assert int(log.read_text().split("resuming from the checkpoint at env step ")[1].split()[0]) >= first, output[-3000:]
    second = saved()

    unlocked = snakemake(tmp_path, "--unlock")
    assert unlocked.returncode == 0, unlocked.stderr[-2000:]
    resumed = snakemake(tmp_path, "--rerun-incomplete")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    step = int(log.read_text().split("resuming from the checkpoint at env step ")[1].split()[0])
    assert step >= second  # resumed, not started over (a later checkpoint may have landed)
    assert len(runs()) == 3 and {r.info.status for r in runs()} == {"FINISHED"}  # continued, no duplicates
    assert (tmp_path / "results" / "tiny" / "report.html").is_file()


def test_a_malformed_experiment_stops_the_plan_naming_file_and_field(tmp_path):
    experiments = write_suite(tmp_path, {"mlp": "{type: MLP, features: [16]}"})
    (experiments / "tiny" / "bad.yaml").write_text(TINY.format(torso="{type: GRU, features: -3}", steps=256, interval=128))
    planned = snakemake(tmp_path, "-n", timeout=120)
    assert planned.returncode != 0
    assert f"{experiments / 'tiny' / 'bad.yaml'}: network.torso.features" in planned.stdout + planned.stderr
    assert not (tmp_path / "results").exists()


def test_the_plan_runs_every_member_of_a_sweep(tmp_path):
    experiments = write_suite(tmp_path, {})
    (experiments / "tiny" / "gru.yaml").write_text(
        "sweep:\n  optimizer.learning_rate: [0.001, 0.0003]\n" + TINY.format(torso="{type: GRU, features: 8}", steps=256, interval=128)
    )
    planned = snakemake(tmp_path, "-n", timeout=120)
    assert planned.returncode == 0, planned.stdout[-2000:] + planned.stderr[-2000:]
    for member in ("gru-learning_rate=0.001", "gru-learning_rate=0.0003"):
        assert f"results/tiny/{member}/trained.json" in planned.stdout
    assert "train            2" in planned.stdout  # Snakemake's job table
