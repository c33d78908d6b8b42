"""Environment steps per second with random actions, at 1, 64 and 1024 parallel envs.

Every id `memorax.environments.make` accepts (bar the ones that need a download) is
stepped for a fixed number of steps inside one jitted `lax.scan` over a vmapped
`step`, actions drawn from the action space. The column that matters is the ratio
to gymnax's CartPole-v1 at the same number of envs, measured in the same run: this
machine is shared and noisy, so only ratios within one run are compared. Goal: every
native memory task at least as fast per step as CartPole-v1 at 1024 envs.

    python benchmarks/environments.py [--envs 1 64 1024] [--steps 256] [--ids ...] [--write]

`--write` replaces the "Environments" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from functools import partial

import jax
from results import write_section

from memorax.environments import make, memory_ids, registered_ids
from memorax.environments.registry import _NEEDS_DOWNLOAD

REFERENCE = "CartPole-v1"


@partial(jax.jit, static_argnames=("env", "num_envs", "num_steps"))
def random_rollout(env, params, key, num_envs: int, num_steps: int):
    """`num_steps` vmapped random-action steps; returns the summed reward (kept live)."""
    reset_key, key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_envs), params
    )
    action_space = env.action_space(params)

    def step(carry, step_key):
        state, total = carry
        action_key, env_key = jax.random.split(step_key)
        action = jax.vmap(action_space.sample)(jax.random.split(action_key, num_envs))
        _, state, reward, _, _, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(env_key, num_envs), state, action, params
        )
        return (state, total + reward.sum()), None

    (_, total), _ = jax.lax.scan(step, (state, 0.0), jax.random.split(key, num_steps))
    return total


def steps_per_second(env_id: str, num_envs: int, num_steps: int, repeats: int) -> float:
    """Median env steps per second of the compiled rollout (compilation excluded)."""
    env, params = make(env_id)
    run = partial(random_rollout, env, params, num_envs=num_envs, num_steps=num_steps)
    run(jax.random.key(0)).block_until_ready()
    seconds = []
    for repeat in range(repeats):
        start = time.perf_counter()
        run(jax.random.key(repeat + 1)).block_until_ready()
        seconds.append(time.perf_counter() - start)
    return num_envs * num_steps / statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ids", nargs="+", default=None, help="default: every id")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()

    ids = args.ids or [i for i in registered_ids() if i not in _NEEDS_DOWNLOAD]
    ids = [REFERENCE] + [i for i in ids if i != REFERENCE]
    rates = {}
    for env_id in ids:
        rates[env_id] = {
            n: steps_per_second(env_id, n, args.steps, args.repeats) for n in args.envs
        }
        print(env_id, {n: f"{r:,.0f}" for n, r in rates[env_id].items()}, flush=True)

    reference = rates[REFERENCE]
    native = set(memory_ids())
    widest = max(args.envs)
    slower = [i for i in ids if i in native and rates[i][widest] < reference[widest]]
    verdict = (
        f"every native memory task is at least as fast as {REFERENCE}"
        if not slower
        else f"slower than {REFERENCE}: {', '.join(slower)}"
    )
    columns = " | ".join(f"{n} envs" for n in args.envs)
    lines = [
        "## Environments",
        "",
        f"`python benchmarks/environments.py --write`, {time.strftime('%Y-%m-%d')}, "
        f"{platform.processor() or platform.machine()}, {jax.device_count()} "
        f"{jax.default_backend()} device(s), {args.steps} random-action steps in one "
        f"jitted scan, median of {args.repeats}. Env steps per second, and in brackets "
        f"the ratio to {REFERENCE} at the same number of envs.",
        "",
        f"Goal (native memory tasks >= {REFERENCE} at {widest} envs): {verdict}.",
        "",
        f"| environment | native | {columns} |",
        "|---|:---:|" + "---:|" * len(args.envs),
    ]
    for env_id in ids:
        cells = " | ".join(
            f"{rates[env_id][n]:,.0f} ({rates[env_id][n] / reference[n]:.2f}x)"
            for n in args.envs
        )
        lines.append(f"| {env_id} | {'yes' if env_id in native else ''} | {cells} |")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write:
        write_section("Environments", section)


if __name__ == "__main__":
    main()
