"""The `memorax` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import memorax


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memorax", description="Reinforcement learning with memory in JAX.")
    parser.add_argument("--version", action="version", version=f"memorax {memorax.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="train an LSTM and a memoryless network on a recall task and compare them",
        description="Supervised recall of each episode's first symbol: shows memory and episode resets at work.",
    )
    demo.add_argument("--updates", type=_positive_int, default=400, help="gradient updates per network (default 400)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--output", type=Path, default=Path("results/demo"), help="folder for results.json (default results/demo)")
    validate = commands.add_parser(
        "validate",
        help="check experiment files against the schema and build them (no training)",
        description="Check each experiment file against workflow/schemas/experiment.schema.yaml and build its "
        "environment, networks, optimizer and algorithm, without training or writing anything. Lists every "
        "problem with its file, field and reason; exits non-zero if any file has one.",
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="experiment files (YAML)")

    train = commands.add_parser(
        "train",
        help="train every seed of an experiment (resuming from its checkpoints)",
        description="Train all seeds of one experiment file together (vmapped), evaluating, checkpointing and "
        "tracking in MLflow as the file says. Results go to RESULTS/<suite>/<name>/; a run that finds "
        "checkpoints there resumes from the latest.",
    )
    train.add_argument("path", type=Path, metavar="PATH", help="the experiment file (YAML)")
    train.add_argument("--results", type=Path, default=Path("results"), help="results folder (default results)")
    train.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite RESULTS/mlflow.db)",
    )
    train.add_argument(
        "--seeds", type=_seed_list, default=None, help="comma-separated seeds replacing the file's (e.g. 0,1,2)"
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar (logs, batch jobs)")

    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate a checkpoint of an experiment (fresh episodes)",
        description="Restore a checkpoint from RESULTS/<suite>/<name>/checkpoints with the experiment file alone and "
        "run every seed's policy (deterministic, or sampled as in training) for N fresh episodes; writes a JSON of "
        "the per-seed returns.",
    )
    evaluate.add_argument("path", type=Path, metavar="PATH", help="the experiment file (YAML)")
    evaluate.add_argument("--checkpoint", default="latest", help="latest (default), best, or an env step")
    evaluate.add_argument("--results", type=Path, default=Path("results"), help="results folder (default results)")
    evaluate.add_argument("--episodes", type=_positive_int, default=None, help="episodes per seed (default: the file's)")
    policy = evaluate.add_mutually_exclusive_group()
    policy.add_argument(
        "--deterministic", dest="deterministic", action="store_const", const=True, default=None,
        help="greedy / mean actions (default: the file's evaluation.deterministic, true unless set)",
    )
    policy.add_argument(
        "--sampled", dest="deterministic", action="store_const", const=False,
        help="the policy training acts with: sampled actions (PPO, SAC), epsilon-greedy (DQN, R2D2, PQN)",
    )
    evaluate.add_argument(
        "--output", type=Path, default=None, help="JSON file (default RESULTS/<suite>/<name>/evaluation.json)"
    )
    for name, help_text, description in (
        (
            "aggregate",
            "a suite's summary table: IQM and mean with bootstrap intervals, per-seed rows, comparisons",
            "Write RESULTS/<suite>/summary.csv (per experiment the IQM and the mean of the final evaluation "
            "return over seeds with 95%% stratified-bootstrap intervals, per-seed rows, and the probability of "
            "improvement over each experiment's baseline) and RESULTS/<suite>/provenance.json.",
        ),
        (
            "report",
            "a suite's figures and report page",
            "Write learning curves per environment, a comparison figure, a performance profile and "
            "RESULTS/<suite>/report.html from the suite's summary.csv and results; print the table.",
        ),
        (
            "show",
            "print a suite's table and where its report is (writes nothing)",
            "Print the table of RESULTS/<suite>/summary.csv and the paths of the report and figures.",
        ),
        (
            "verify",
            "compare a reproduction of a suite with the suite's reference results",
            "Compare RESULTS/<suite>/summary.csv with EXPERIMENTS/<suite>/reference/ (a reference run's "
            "summary.csv and provenance.json, and/or a publication's published.yaml). Exits 1 if any "
            "experiment falls outside its reference.",
        ),
    ):
        command = commands.add_parser(name, help=help_text, description=description)
        command.add_argument("suite", help="the suite (a folder of EXPERIMENTS)")
        command.add_argument("--experiments", type=Path, default=Path("experiments"), help="suites folder (default experiments)")
        command.add_argument("--results", type=Path, default=Path("results"), help="results folder (default results)")
        if name != "verify":
            command.add_argument("--field", default="network.torso.type", help="what is compared (default network.torso.type)")
            command.add_argument("--baseline", default="MLP", help="the field's baseline value (default MLP)")
        else:
            command.add_argument("--reference", type=Path, default=None, help="default EXPERIMENTS/<suite>/reference")
    return parser


def suite_command(args) -> int:
    """aggregate, report and verify: one suite's results."""
    from rich.console import Console
    from rich.table import Table

    from memorax.experiment.aggregate import Comparison, aggregate_suite
    from memorax.experiment.report import report_suite, suite_results, table
    from memorax.experiment.suite import SuiteError
    from memorax.experiment.verify import verify

    console, errors = Console(highlight=False), Console(stderr=True, highlight=False)
    try:
        if args.command == "verify":
            reference = args.reference or args.experiments / args.suite / "reference"
            folder = args.results / args.suite
            verdicts = verify(reference, folder / "summary.csv", folder / "provenance.json")
            for verdict in verdicts:
                mark = "[green]pass[/green]" if verdict.passed else "[red]FAIL[/red]"
                console.print(f"{mark} {args.suite}/{verdict.experiment}: {verdict.says}", soft_wrap=True)
            failed = sum(not v.passed for v in verdicts)
            console.print(f"{len(verdicts) - failed} of {len(verdicts)} inside the reference ({reference})")
            return 1 if failed else 0
        comparison = Comparison(args.field, args.baseline)
        folder = args.results / args.suite
        if args.command == "aggregate":
            rows, found = aggregate_suite(args.experiments, args.suite, args.results, comparison)
            lines, outputs = table(rows, found, comparison), [folder / "summary.csv"]
        elif args.command == "show":
            rows, found = suite_results(args.experiments, args.suite, args.results)
            lines, outputs = table(rows, found, comparison), [folder / "report.html", folder / "figures"]
        else:
            written = report_suite(args.experiments, args.suite, args.results, comparison)
            lines, outputs = written["table"], [written["page"], *written["figures"]]
    except (SuiteError, FileNotFoundError) as error:
        errors.print(f"[red]error[/red] {error}", soft_wrap=True)
        return 2
    shown = Table(title=f"{args.suite}: final evaluation return over seeds")
    console.width = max(console.width, 150)  # a log file or a narrow terminal: keep rows whole
    for column in lines[0] if lines else []:
        shown.add_column(column)
    for line in lines:
        shown.add_row(*line.values())
    console.print(shown)
    for path in outputs:
        console.print(f"{'see' if args.command == 'show' else 'wrote'} {path}", soft_wrap=True)
    return 0


def evaluate_file(args) -> int:
    import json

    from rich.console import Console

    from memorax.experiment import ExperimentError
    from memorax.experiment.run import RunPaths, evaluate_checkpoint

    errors = Console(stderr=True, highlight=False)
    try:
        result = evaluate_checkpoint(args.path, args.results, args.checkpoint, args.episodes, args.deterministic)
    except ExperimentError as error:
        for problem in error.problems:
            errors.print(f"[red]error[/red] {problem.describe(args.path)}", soft_wrap=True)
        return 2
    except (FileNotFoundError, ValueError) as error:
        errors.print(f"[red]error[/red] {error}", soft_wrap=True)
        return 2
    output = args.output or RunPaths.of(args.path, args.results).folder / "evaluation.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1))
    returns = ", ".join(f"seed {s}: {r:.3g}" for s, r in zip(result["seeds"], result["mean_return"]))
    policy = "deterministic" if result["deterministic"] else "sampled"
    Console(highlight=False).print(
        f"evaluated step {result['checkpoint']}, {policy} policy -> {output} ({returns})", soft_wrap=True
    )
    return 0


def _number(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds >= 0, got {text!r}")
    return seeds


def train_file(args) -> int:
    from rich.console import Console

    from memorax.experiment import ExperimentError
    from memorax.experiment.run import RunBusy, Terminated, TrainingDiverged, stop_on_sigterm, train

    errors = Console(stderr=True, highlight=False)
    stop_on_sigterm()
    try:
        run, result = train(args.path, args.results, args.tracking_uri, args.seeds, progress=not args.no_progress)
    except (KeyboardInterrupt, Terminated):
        errors.print(f"[yellow]stopped[/yellow] {args.path}: run memorax train again to resume", soft_wrap=True)
        return 130
    except ExperimentError as error:
        for problem in error.problems:
            errors.print(f"[red]error[/red] {problem.describe(args.path)}", soft_wrap=True)
        return 2
    except TrainingDiverged as error:
        errors.print(f"[red]diverged[/red] {error}", soft_wrap=True)
        return 3
    except RunBusy as error:
        errors.print(f"[red]busy[/red] {error}", soft_wrap=True)
        return 4
    training = run.final_training["mean_return"]
    evaluation = result.get("mean_return", [None] * len(training))
    returns = "; ".join(
        f"seed {seed}: evaluation {_number(e)}, training {_number(t)}"
        for seed, e, t in zip(run.seeds, evaluation, training)
    )
    Console(highlight=False).print(f"trained {args.path} -> {run.paths.folder} (return {returns})", soft_wrap=True)
    return 0


def validate_files(paths: list[Path]) -> int:
    """Print one line per good file and every problem of the bad ones; 1 if any is bad."""
    from rich.console import Console

    from memorax.experiment import ExperimentError, build_experiment
    from memorax.experiment.suite import experiment_paths

    console, errors = Console(highlight=False), Console(stderr=True, highlight=False)
    problems: list[str] = []
    expanded = experiment_paths(paths, problems)  # a sweep stands for its members
    for problem in problems:
        errors.print(f"[red]error[/red] {problem}", soft_wrap=True)
    unreadable = len({problem.split(":")[0] for problem in problems})  # files, or sweeps, with problems
    bad = unreadable
    for _, path in expanded:
        try:
            build_experiment(path)
        except ExperimentError as error:
            bad += 1
            for problem in error.problems:
                errors.print(f"[red]error[/red] {problem.describe(path)}", soft_wrap=True)
            continue
        console.print(f"[green]ok[/green] {path}", soft_wrap=True)
    if bad:
        errors.print(f"{bad} of {len(expanded) + unreadable} experiment file(s) have problems", soft_wrap=True)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from memorax.demo import RecallConfig, run

        run(RecallConfig(num_updates=args.updates, seed=args.seed), args.output)
    elif args.command == "validate":
        return validate_files(args.paths)
    elif args.command == "train":
        return train_file(args)
    elif args.command == "evaluate":
        return evaluate_file(args)
    elif args.command in ("aggregate", "report", "show", "verify"):
        return suite_command(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
