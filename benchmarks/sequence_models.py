"""Forward+backward throughput of every torso, and parallel vs sequential scans.

Batch 32, width 64, T in {64, 256, 1024, 4096}. For the models with a parallel form
(an associative scan over time) the same recurrence is also run as a sequential
`lax.scan` (`parallel=False`), and the ratio of the two is the number that matters:
this machine is shared and noisy, so only ratios within one run are compared.

    python benchmarks/sequence_models.py [--lengths 64 256] [--repeats 5] [--write]

`--write` replaces the "Sequence models" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax
import jax.numpy as jnp
from flax import nnx
from results import write_section

from memorax.networks import RNN, initialize
from memorax.networks import sequence_models as sm
from memorax.networks.sequence_models.base import apply_sequence, initial_carry

BATCH, WIDTH = 32, 64


def model_factories():
    """name -> factory(parallel) for the torsos that exist in this checkout."""
    factories = {
        "GRU": lambda parallel: RNN(nnx.GRUCell(WIDTH, WIDTH, rngs=nnx.Rngs(0))),
        "LSTM": lambda parallel: RNN(nnx.OptimizedLSTMCell(WIDTH, WIDTH, rngs=nnx.Rngs(0))),
    }
    optional = {
        "S5": lambda parallel: sm.S5(hidden_dim=WIDTH, state_dim=WIDTH, parallel=parallel),
        "LRU": lambda parallel: sm.LRU(hidden_dim=WIDTH, parallel=parallel),
        "MinGRU": lambda parallel: sm.MinGRU(hidden_dim=WIDTH, parallel=parallel),
        "Mamba": lambda parallel: sm.Mamba(hidden_dim=WIDTH, parallel=parallel),
        "LinearAttention": lambda parallel: sm.LinearAttention(num_heads=4, head_dim=16, parallel=parallel),
        "FFM": lambda parallel: sm.FFM(hidden_dim=WIDTH, parallel=parallel),
        "SelfAttention": lambda parallel: sm.SelfAttention(num_heads=4, head_dim=16),
        "sLSTM": lambda parallel: sm.sLSTM(hidden_dim=WIDTH, num_heads=4),
        "mLSTM": lambda parallel: sm.mLSTM(hidden_dim=WIDTH, num_heads=4),
    }
    # Each optional entry is named after its class; models not implemented yet are left out.
    factories.update({name: factory for name, factory in optional.items() if hasattr(sm, name)})
    return factories


def has_parallel_form(module) -> bool:
    return hasattr(module, "parallel")


def time_fwd_bwd(module, length: int, repeats: int) -> float:
    """Median seconds of one jitted forward+backward pass over (BATCH, length, WIDTH)."""
    initialize([module], jax.random.key(0), (WIDTH,))
    graphdef, state = nnx.split(module)
    inputs = jax.random.normal(jax.random.key(1), (BATCH, length, WIDTH))
    starts = jax.random.bernoulli(jax.random.key(2), 0.01, (BATCH, length)).at[:, 0].set(True)

    @jax.jit
    def step(state, inputs, starts):  # inputs as arguments: XLA would constant-fold captured ones
        def loss(state):
            m = nnx.merge(graphdef, state)
            _, out = apply_sequence(m, inputs, starts, initial_carry(m, BATCH))
            return jnp.mean(jnp.real(out) ** 2)

        return jax.grad(loss)(state)

    jax.block_until_ready(step(state, inputs, starts))  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(step(state, inputs, starts))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()

    rows = []
    for name, factory in model_factories().items():
        for length in args.lengths:
            module = factory(True)
            seconds = time_fwd_bwd(module, length, args.repeats)
            row = {"model": name, "T": length, "steps/s": BATCH * length / seconds, "ratio": None}
            if has_parallel_form(module):
                sequential = time_fwd_bwd(factory(False), length, args.repeats)
                row["sequential steps/s"] = BATCH * length / sequential
                row["ratio"] = sequential / seconds
            rows.append(row)
            print(row, flush=True)

    lines = [
        "## Sequence models",
        "",
        f"`python benchmarks/sequence_models.py --write`, {time.strftime('%Y-%m-%d')}, "
        f"{platform.processor() or platform.machine()}, {jax.device_count()} {jax.default_backend()} device(s), "
        f"batch {BATCH}, width {WIDTH}, forward+backward, median of {args.repeats}.",
        "Throughput is (batch x T) steps per second; `parallel / sequential` is how many times faster the "
        "associative scan runs than the same recurrence as a sequential lax.scan.",
        "",
        "| model | T | steps/s | sequential steps/s | parallel / sequential |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        sequential = f"{r['sequential steps/s']:,.0f}" if r["ratio"] else "-"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "-"
        lines.append(f"| {r['model']} | {r['T']} | {r['steps/s']:,.0f} | {sequential} | {ratio} |")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write:
        write_section("Sequence models", section)


if __name__ == "__main__":
    main()
