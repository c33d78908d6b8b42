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
import jax.numpy as jnp
from results import write_section

from memorax.environments import make, memory_ids, registered_ids
from memorax.environments.registry import _NEEDS_DOWNLOAD

REFERENCE = "CartPole-v1"


@partial(jax.jit, static_argnames=("env", "num_envs", "num_steps"))
def random_rollout(env, params, key, num_envs: int, num_steps: int):
    """`num_steps` vmapped random-action steps; returns a sum that keeps them live."""
    reset_key, key = jax.random.split(key)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_envs), params
    )
    action_space = env.action_space(params)

    def step(carry, step_key):
        state, total = carry
        action_key, env_key = jax.random.split(step_key)
        action = jax.vmap(action_space.sample)(jax.random.split(action_key, num_envs))
        obs, state, reward, _, _, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(env_key, num_envs), state, action, params
        )
        # Observations count too: a sum of rewards alone can leave the dynamics dead
        # code (MountainCar's reward is -1 whatever happens).
        return (state, total + reward.sum() + obs.astype(jnp.float32).sum()), None

    (_, total), _ = jax.lax.scan(step, (state, 0.0), jax.random.split(key, num_steps))
    return total


def compiled_rollout(env_id: str, num_envs: int, num_steps: int):
    """The rollout of `env_id`, compiled and warmed up: a function of the key."""
    env, params = make(env_id)
    run = partial(random_rollout, env, params, num_envs=num_envs, num_steps=num_steps)
    run(jax.random.key(0)).block_until_ready()
    return run


def seconds(run, key) -> float:
    start = time.perf_counter()
    run(key).block_until_ready()
    return time.perf_counter() - start


def steps_per_second(env_id: str, reference, num_envs: int, num_steps: int, repeats: int):
    """Median env steps/s of `env_id` and of `reference`, their runs alternated.

    Alternating keeps both measured under the same load on a shared machine, so
    their ratio is trustworthy even when the absolute numbers drift.
    """
    run = compiled_rollout(env_id, num_envs, num_steps)
    own, theirs = [], []
    for repeat in range(repeats):
        key = jax.random.key(repeat + 1)
        own.append(seconds(run, key))
        theirs.append(seconds(reference, key))
    steps = num_envs * num_steps
    return steps / statistics.median(own), steps / statistics.median(theirs)


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
    references = {n: compiled_rollout(REFERENCE, n, args.steps) for n in args.envs}
    rates, ratios = {}, {}
    for env_id in ids:
        rates[env_id], ratios[env_id] = {}, {}
        for n in args.envs:
            own, reference = steps_per_second(
                env_id, references[n], n, args.steps, args.repeats
            )
            rates[env_id][n], ratios[env_id][n] = own, own / reference
        print(env_id, {n: f"{r:,.0f} ({ratios[env_id][n]:.2f}x)" for n, r in rates[env_id].items()}, flush=True)

    native = set(memory_ids())
    widest = max(args.envs)
    slower = [i for i in ids if i in native and ratios[i][widest] < 1.0]
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
        f"the ratio to {REFERENCE} at the same number of envs, timed in alternation "
        "with it.",
        "",
        f"Goal (native memory tasks >= {REFERENCE} at {widest} envs): {verdict}.",
        "",
        f"| environment | native | {columns} |",
        "|---|:---:|" + "---:|" * len(args.envs),
    ]
    for env_id in ids:
        cells = " | ".join(
            f"{rates[env_id][n]:,.0f} ({ratios[env_id][n]:.2f}x)"
            for n in args.envs
        )
        lines.append(f"| {env_id} | {'yes' if env_id in native else ''} | {cells} |")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write:
        write_section("Environments", section)


if __name__ == "__main__":
    main()
