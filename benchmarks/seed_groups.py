"""What vmapped seeds reproduce: one seed's parameters after training in its seed
group twice (expected bit-identical), alone, and in another group.

PPO on CartPole-v1 (the algorithms benchmark's setting), MLP and GRU torsos. vmap
batches the seeds' matmuls together, and XLA may order a batched reduction differently
from a single one, so a seed's numbers depend on the group it trains in, within float
rounding, and those differences grow over training as in any chaotic process.

    python benchmarks/seed_groups.py [--iterations 200] [--write]
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
from algorithms import ppo_agent
from results import write_section

GROUP, OTHER_GROUP = (0, 1, 2, 3), (0, 7)


def seed_zero_parameters(agent, seeds, iterations: int):
    keys, states = jax.vmap(agent.init)(jax.vmap(jax.random.key)(jnp.array(seeds)))
    train = jax.jit(jax.vmap(lambda k, s: agent.train(k, s, num_steps=iterations * agent.steps_per_iteration)))
    _, states, _ = train(keys, states)
    return jax.tree.map(lambda x: x[seeds.index(0)], states.params)


def largest_difference(a, b) -> float:
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--write", action="store_true")
    arguments = parser.parse_args()
    rows = []
    for torso in ("MLP(64,64)", "GRU(64)"):
        agent = ppo_agent(torso)
        first = seed_zero_parameters(agent, GROUP, arguments.iterations)
        again = seed_zero_parameters(agent, GROUP, arguments.iterations)
        alone = seed_zero_parameters(agent, (0,), arguments.iterations)
        other = seed_zero_parameters(agent, OTHER_GROUP, arguments.iterations)
        rows.append((torso, largest_difference(first, again), largest_difference(first, alone), largest_difference(first, other)))
        print(rows[-1], flush=True)
    lines = [
        "## What vmapped seeds reproduce",
        "",
        (f"`python benchmarks/seed_groups.py --write`, {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
         f"{jax.default_backend()}: seed 0's parameters after {arguments.iterations} PPO iterations on CartPole-v1, "
         f"trained in the group {list(GROUP)}, compared (largest absolute difference of any parameter) with the "
         f"same group trained again, seed 0 trained alone, and seed 0 in the group {list(OTHER_GROUP)}."),
        "",
        "| torso | same group again | alone | another group |",
        "|---|---:|---:|---:|",
        *(f"| {t} | {same:.3g} | {alone:.3g} | {other:.3g} |" for t, same, alone, other in rows),
        "",
        ("The unit of reproduction is the experiment file with its seed list: the same seeds in "
         "the same group on the same platform give bit-identical numbers; a seed trained alone "
         "or in another group may give other numbers (batched reductions may be ordered "
         "differently), equal at first to float rounding and drifting apart as training "
         "amplifies the differences."),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if arguments.write:
        write_section("What vmapped seeds reproduce", text)


if __name__ == "__main__":
    main()
