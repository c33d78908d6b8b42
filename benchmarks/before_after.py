"""PPO training speed and compile time, this tree against an earlier commit, in one run.

Each side runs in its own worker process (`import memorax` from that commit's source,
extracted with `git archive`); the parent asks the two for one timed call at a time, in
alternation, so both see the same machine load and the ratios survive a noisy shared
machine. The work is `benchmarks/algorithms.py`'s: CartPole-v1, 8 envs x 128 steps per
iteration, 4 epochs x 4 minibatches, separate actor and critic, one torso each. Compile
time is `jax.jit(train).lower(...).compile()` of a fresh agent, also alternated.

    python benchmarks/before_after.py [--baseline 1c37e65] [--iterations 8] [--repeats 7] [--write]

The default baseline, 1c37e65, is main just before issue 14's changes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASELINE = "1c37e65"
TORSOS = ["MLP(64,64)", "GRU(64)", "LSTM(64)", "S5", "Mamba", "SelfAttention"]


# The worker: one side's memorax, building and timing what the parent asks for. -------


def worker(iterations: int) -> None:
    """Answer JSON lines on stdin: {"build": torso} -> compile seconds (a fresh agent),
    {"time": torso} -> seconds of one call of the compiled train, {"ceiling": steps}
    -> seconds of gymnax's own random rollout of that many steps."""
    sys.path.insert(0, str(HERE))
    import jax
    from algorithms import Ceiling, PPORun  # imports memorax before gymnax (see memorax/__init__.py)

    runs, ceilings = {}, {}
    print(json.dumps({"memorax": sys.modules["memorax"].__file__}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "build" in request:
            run = PPORun(request["build"], iterations)
            runs[request["build"]] = run
            answer = {"compile": run.compile_seconds, "env_steps": run.env_steps}
            jax.clear_caches()  # the next build compiles afresh (its time is measured)
        elif "time" in request:
            answer = {"seconds": runs[request["time"]].seconds()}
        else:
            ceiling = ceilings.setdefault(request["ceiling"], Ceiling(request["ceiling"]))
            answer = {"seconds": ceiling.seconds()}
        print(json.dumps(answer), flush=True)


class Side:
    """A worker process for the memorax in `source`."""

    def __init__(self, name: str, source: Path, iterations: int):
        environment = {**os.environ, "PYTHONPATH": str(source)}
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--iterations", str(iterations)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment, cwd=source,
        )
        imported = self.ask(None)["memorax"]
        if not imported.startswith(str(source)):
            raise RuntimeError(f"{name}: imported memorax from {imported}, not from {source}")

    def ask(self, request):
        if request is not None:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} worker stopped (see its stderr above)")
        return json.loads(line)

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def extract(ref: str, into: Path) -> str:
    """`ref`'s tree (memorax and benchmarks) in `into`; its full commit id."""
    commit = subprocess.run(["git", "rev-parse", ref], cwd=REPO, capture_output=True, text=True, check=True).stdout
    archive = subprocess.run(["git", "archive", commit.strip(), "memorax", "benchmarks"], cwd=REPO,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return commit.strip()


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def measure(sides: dict, torsos: list[str], repeats: int, ceiling_steps: int) -> list[dict]:
    rows = []
    for torso in torsos:
        compile_seconds = {name: [] for name in sides}
        env_steps = None
        for _ in range(3):  # compile is noisy too: the median of three fresh builds each
            for name, side in sides.items():
                built = side.ask({"build": torso})
                compile_seconds[name].append(built["compile"])
                env_steps = built["env_steps"]
        seconds = {name: [] for name in sides}
        ceiling = []
        for _ in range(repeats):
            for name, side in sides.items():
                seconds[name].append(side.ask({"time": torso})["seconds"])
            ceiling.append(sides["after"].ask({"ceiling": ceiling_steps})["seconds"])
        rate = {name: env_steps / statistics.median(values) for name, values in seconds.items()}
        row = {
            "torso": torso,
            "before": rate["before"],
            "after": rate["after"],
            "ceiling": ceiling_steps / statistics.median(ceiling),
            "compile_before": statistics.median(compile_seconds["before"]),
            "compile_after": statistics.median(compile_seconds["after"]),
        }
        rows.append(row)
        print(row, flush=True)
    return rows


def report(rows: list[dict], baseline: str, iterations: int, load: tuple[str, str]) -> str:
    mlp = rows[0]
    lines = [
        "## Before and after issue 14",
        "",
        (f"`python benchmarks/before_after.py --write`, {time.strftime('%Y-%m-%d')}: PPO on CartPole-v1 as in "
         f"Algorithms below ({iterations} iterations per timed call), this tree against {baseline[:7]} (main before "
         "issue 14), each in its own process, timed in alternation (median of the repeats; compile: median of three "
         f"fresh `lower().compile()` each); {platform.processor() or platform.machine()}, 2 shared cores, load "
         f"average {load[0]} at the start and {load[1]} at the end. Ceiling: gymnax's own random-action rollout "
         "(see Algorithms)."),
        "",
        "| torso | before: env steps/s | after: env steps/s | speed-up | of the ceiling, before / after | "
        "of PPO-MLP, before / after | compile before (s) | compile after (s) | compile after / before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['torso']} | {row['before']:,.0f} | {row['after']:,.0f} | **{row['after'] / row['before']:.2f}x** | "
            f"{row['before'] / row['ceiling']:.1%} / {row['after'] / row['ceiling']:.1%} | "
            f"{row['before'] / mlp['before']:.3f} / {row['after'] / mlp['after']:.3f} | "
            f"{row['compile_before']:.1f} | {row['compile_after']:.1f} | "
            f"{row['compile_after'] / row['compile_before']:.2f} |"
        )
    lines += ["", "Targets (issue 14): GRU and LSTM >= 2.5x, MLP >= 1.4x, compile <= 0.6x of before.", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--torsos", nargs="*", default=TORSOS)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.iterations)
    torsos = ["MLP(64,64)"] + [t for t in args.torsos if t != "MLP(64,64)"]
    with tempfile.TemporaryDirectory(prefix="memorax-baseline-") as folder:
        baseline = extract(args.baseline, Path(folder))
        sides = {"before": Side("before", Path(folder), args.iterations),
                 "after": Side("after", REPO, args.iterations)}
        load_before = load_average()
        rows = measure(sides, torsos, args.repeats, ceiling_steps=4 * args.iterations * 8 * 128)
        load_after = load_average()
        for side in sides.values():
            side.close()
    text = report(rows, baseline, args.iterations, (load_before, load_after))
    print(text)
    if args.write:
        from results import write_section

        write_section("Before and after issue 14", text)


if __name__ == "__main__":
    main()
