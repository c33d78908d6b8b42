# Settings and the plan: the config and every selected experiment file are checked
# (workflow/schemas/, then built as `memorax validate` does) before any job runs; a
# bad file stops `snakemake -n` at once, naming the file, the field and the reason.

from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


validate(config, "../schemas/config.schema.yaml")


def _suites(value):
    names = value.split(",") if isinstance(value, str) else list(value)
    return [name.strip() for name in names if name.strip()]


def _read_suites(folder, suites):
    from memorax.experiment.suite import SuiteError, read_suite

    found, problems = {}, []
    for suite in suites:
        try:
            found[suite] = {e.name: e for e in read_suite(folder, suite, build=True)}
        except SuiteError as error:
            problems.append(str(error))
    if problems:
        raise WorkflowError("experiment files with problems (nothing was run):\n" + "\n".join(problems))
    return found


SUITES = _suites(config["suites"])
EXPERIMENTS_FOLDER = config["experiments"]
RESULTS = config["results"].rstrip("/")
PLAN = _read_suites(EXPERIMENTS_FOLDER, SUITES)  # suite -> name -> experiment
TRACKING = f"--tracking-uri {config['tracking_uri']}" if config["tracking_uri"] else ""
COMPARISON = f"--field {config['comparison']['field']} --baseline {config['comparison']['baseline']}"


wildcard_constraints:
    suite="[^/]+",
    name="[^/]+",


def experiment_file(wildcards):
    """The file an experiment is written in (its sweep's, for a sweep member)."""
    return str(PLAN[wildcards.suite][wildcards.name].source)


def experiment_path(wildcards):
    """What `memorax` is given: the file, or `<suite>/<member>.yaml` for a sweep member."""
    return str(PLAN[wildcards.suite][wildcards.name].path)


def suite_evaluations(wildcards):
    return [f"{RESULTS}/{wildcards.suite}/{name}/evaluation.json" for name in PLAN[wildcards.suite]]


def show_suites():
    """After a successful run: each suite's table and where its report is."""
    import subprocess

    for suite in SUITES:
        if Path(f"{RESULTS}/{suite}/summary.csv").is_file():
            subprocess.run(
                ["memorax", "show", suite, "--experiments", EXPERIMENTS_FOLDER, "--results", RESULTS,
                 *COMPARISON.split()],
                check=False,
            )
