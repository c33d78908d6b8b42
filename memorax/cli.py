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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from memorax.demo import RecallConfig, run

        run(RecallConfig(num_updates=args.updates, seed=args.seed), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
