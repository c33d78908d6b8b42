"""PPO training speed on CartPole-v1: env steps/s and compile time per torso, the
random-action rollout of the same environments as the ceiling, and vmapped seeds
against the same seeds run one after another.

Setting (issue 5): 8 envs x 128 steps per iteration, 4 epochs x 4 minibatches, adam
2.5e-4; actor and critic are separate networks, each FeatureExtractor(MLP(64)) ->
torso -> head. Torsos: MLP(64) (so MLP(64, 64) in all), GRU(64), LSTM(64), S5,
Mamba and SelfAttention, plus GRU with 32-step sequences. Every timing alternates with
the ceiling's and PPO-MLP's so that the ratios survive the noisy shared machine.
Targets: PPO-MLP >= 10% of the ceiling, PPO-GRU >= 1/8 of PPO-MLP, 16 vmapped seeds
>= 4x faster than 16 sequential runs.

    python benchmarks/algorithms.py [--iterations 8] [--repeats 5] [--torsos ...] [--write]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import time
from functools import partial

import jax
import optax
from flax import nnx
from results import write_section

import memorax  # noqa: F401  (before gymnax, which starts JAX's backend: see memorax/__init__.py)
from memorax.algorithms import PPO, PPOConfig
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper
from memorax.networks import sequence_models as sm
from memorax.networks.heads import Categorical, VNetwork

ENV_ID = "CartPole-v1"
CONFIG = PPOConfig(num_envs=8, rollout_length=128, num_epochs=4, num_minibatches=4)
WIDTH = 64
TORSOS = {
    "MLP(64,64)": lambda: MLP(features=(WIDTH,)),
    "GRU(64)": lambda: RNN(nnx.GRUCell(WIDTH, WIDTH, rngs=nnx.Rngs(0))),
    "LSTM(64)": lambda: RNN(nnx.LSTMCell(WIDTH, WIDTH, rngs=nnx.Rngs(0))),
    "S5": lambda: sm.S5(hidden_dim=WIDTH, state_dim=WIDTH, parallel=False),
    "Mamba": lambda: sm.Mamba(hidden_dim=WIDTH, parallel=False),
    "SelfAttention": lambda: sm.SelfAttention(num_heads=4, head_dim=16, context_length=64),
}
# The recurrent torsos whose cells also run step by step (the cell's own __call__ under
# autodiff, `RNN(..., step_by_step=True)`): each is timed against that form.
STEP_BY_STEP = {
    "GRU(64)": lambda: RNN(nnx.GRUCell(WIDTH, WIDTH, rngs=nnx.Rngs(0)), step_by_step=True),
    "LSTM(64)": lambda: RNN(nnx.LSTMCell(WIDTH, WIDTH, rngs=nnx.Rngs(0)), step_by_step=True),
}
# Variants of the setting, timed like the torsos: the recurrent update replays whole
# rollouts (128 sequential steps per minibatch) by default; shorter sequences from the
# stored carries trade backpropagation horizon for fewer sequential steps.
VARIANTS = {"GRU(64), sequence_length=32": ("GRU(64)", {"sequence_length": 32})}


def network(torso, head) -> Network:
    return Network(FeatureExtractor(observation_extractor=MLP(features=(WIDTH,))), SequenceModelWrapper(torso()), head)


def ppo_agent(name: str, step_by_step: bool = False) -> PPO:
    env, env_params = make(ENV_ID)
    torso_name, overrides = VARIANTS.get(name, (name, {}))
    torso = STEP_BY_STEP[torso_name] if step_by_step else TORSOS[torso_name]
    optimizer = optax.adam(2.5e-4)
    actor = network(torso, Categorical(env.action_space(env_params).n))
    cfg = dataclasses.replace(CONFIG, **overrides)
    return PPO(cfg, env, env_params, actor, network(torso, VNetwork()), optimizer, optimizer)


@partial(jax.jit, static_argnames=("env", "num_envs", "num_steps"))
def random_rollout(env, params, key, num_envs: int, num_steps: int):
    """The ceiling: gymnax's own environment (no memorax adapter, loop or statistics)
    stepped with random actions drawn up front, as a plain vmap over envs and a scan
    over time; its auto-reset included, as any training loop needs it."""
    reset_key, action_key, step_key = jax.random.split(key, 3)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_envs), params)
    actions = jax.random.randint(action_key, (num_steps, num_envs), 0, env.action_space(params).n)

    def step(state, inputs):
        action, keys = inputs
        obs, state, reward, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)
        return state, reward.sum() + obs.sum()

    _, totals = jax.lax.scan(step, state, (actions, jax.random.split(step_key, (num_steps, num_envs))))
    return totals.sum()


def block(tree):
    jax.tree.map(lambda x: x.block_until_ready(), tree)


def timed(run) -> float:
    start = time.perf_counter()
    block(run())
    return time.perf_counter() - start


class Ceiling:
    def __init__(self, env_steps: int):
        import gymnax

        env, params = gymnax.make(ENV_ID)
        self.env_steps = env_steps
        self.run = partial(random_rollout, env, params, jax.random.key(0), num_envs=CONFIG.num_envs,
                           num_steps=env_steps // CONFIG.num_envs)
        block(self.run())

    def seconds(self) -> float:
        return timed(self.run)


class PPORun:
    """One torso's compiled `iterations` training iterations, ready to time."""

    def __init__(self, name: str, iterations: int, step_by_step: bool = False):
        agent = ppo_agent(name, step_by_step)
        key, state = agent.init(jax.random.key(0))
        start = time.perf_counter()
        # The jitted train itself rather than `agent.lower` (the same program): before_after.py
        # also times commits from before `Algorithm.lower` existed with this class.
        compiled = agent._train.lower(key, state, iterations).compile()
        self.compile_seconds = time.perf_counter() - start
        self.run = partial(compiled, key, state)
        self.env_steps = iterations * agent.steps_per_iteration
        block(self.run())

    def seconds(self) -> float:
        return timed(self.run)


def measure_torso(name: str, run: PPORun, repeats: int, ceiling: Ceiling, mlp: PPORun, step_by_step: PPORun | None) -> dict:
    """Each timing alternates with the ceiling's, PPO-MLP's and (for flax's GRU and
    LSTM cells) the same torso run step by step, so every ratio compares runs made
    under the same machine load."""
    runs = {"own": run, "ceiling": ceiling, "mlp": mlp, **({"step_by_step": step_by_step} if step_by_step else {})}
    seconds = {key: [] for key in runs}
    for _ in range(repeats):
        for key, timed_run in runs.items():
            seconds[key].append(timed_run.seconds())
    rate = {key: runs[key].env_steps / statistics.median(seconds[key]) for key in runs}
    row = {"torso": name, "compile": run.compile_seconds, "steps_per_second": rate["own"], "ceiling": rate["ceiling"],
           "of_ceiling": rate["own"] / rate["ceiling"], "of_mlp": rate["own"] / rate["mlp"]}
    if step_by_step:
        row.update(step_by_step=rate["step_by_step"], speed_up=rate["own"] / rate["step_by_step"],
                   compile_step_by_step=step_by_step.compile_seconds)
    return row


def measure_seeds(num_seeds: int, iterations: int, repeats: int, method: str = "train") -> dict:
    """`num_seeds` seeds in one vmapped program against the same seeds run one after
    another; `method` "train" (act and learn) or "warmup" (act only)."""
    agent = ppo_agent("MLP(64,64)")
    keys, states = jax.vmap(agent.init)(jax.random.split(jax.random.key(1), num_seeds))
    num_steps = iterations * agent.steps_per_iteration
    run = getattr(agent, method)
    vmapped = jax.jit(jax.vmap(lambda k, s: run(k, s, num_steps=num_steps)))
    block(vmapped(keys, states))
    one = [(keys[i], jax.tree.map(lambda x, i=i: x[i], states)) for i in range(num_seeds)]
    block(run(*one[0], num_steps=num_steps))

    def sequential():
        return [run(k, s, num_steps=num_steps) for k, s in one]

    together, apart = [], []
    for _ in range(repeats):
        together.append(timed(lambda: vmapped(keys, states)))
        apart.append(timed(sequential))
    return {"seeds": num_seeds, "method": method, "vmapped": statistics.median(together),
            "sequential": statistics.median(apart)}


def report(torso_rows, seed_rows, iterations: int) -> str:
    mlp = torso_rows[0]
    lines = [
        "## Algorithms",
        "",
        (f"PPO on {ENV_ID}: {CONFIG.num_envs} envs x {CONFIG.rollout_length} steps per iteration, "
        f"{CONFIG.num_epochs} epochs x {CONFIG.num_minibatches} minibatches, adam 2.5e-4, separate actor "
        f"and critic (FeatureExtractor(MLP(64)) -> torso -> head), {iterations} iterations per timed call; "
        f"{platform.processor() or platform.machine()}, {jax.device_count()} {jax.default_backend()} device(s), "
        f"2 shared cores. `python benchmarks/algorithms.py --write`, {time.strftime('%Y-%m-%d')}."),
        "",
        "| torso | env steps/s | of the ceiling | of PPO-MLP | compile (s) | step by step: env steps/s | compile (s) | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in torso_rows:
        step = (f"{row['step_by_step']:,.0f} | {row['compile_step_by_step']:.1f} | **{row['speed_up']:.2f}x**"
                if "step_by_step" in row else "- | - | -")
        lines.append(f"| {row['torso']} | {row['steps_per_second']:,.0f} | {row['of_ceiling']:.2%} | "
                     f"{row['of_mlp']:.3f} | {row['compile']:.1f} | {step} |")
    lines += [
        "",
        (f"Ceiling: gymnax's own {ENV_ID} stepped with random actions as a plain vmap over the same "
        f"{CONFIG.num_envs} envs and a scan over time (no memorax loop or statistics): "
        f"{mlp['ceiling']:,.0f} env steps/s in the MLP row's run. Step by step: the same torso with "
        "`RNN(..., step_by_step=True)`, the cell's own `__call__` at every step under autodiff "
        "(the computation before issue 14), timed in alternation with the row's own."),
        "",
        (f"PPO-MLP seeds, {iterations} iterations each; `train` acts and learns, `warmup` only acts "
        "(random actions, the network still run for its carry):"),
        "",
        "| call | seeds | vmapped (s) | one after another (s) | speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in seed_rows:
        lines.append(f"| {row['method']} | {row['seeds']} | {row['vmapped']:.2f} | {row['sequential']:.2f} | "
                     f"{row['sequential'] / row['vmapped']:.1f}x |")
    lines += ["", "Target: 16 vmapped seeds >= 4x faster than 16 sequential runs (PPO-MLP).", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--torsos", nargs="*", default=list(TORSOS) + list(VARIANTS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 4, 16])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torsos = ["MLP(64,64)"] + [t for t in args.torsos if not t.startswith("MLP")]
    ceiling = Ceiling(4 * args.iterations * CONFIG.num_envs * CONFIG.rollout_length)  # long enough to time steadily
    mlp = PPORun("MLP(64,64)", args.iterations)
    torso_rows = []
    for name in torsos:
        run = mlp if name == "MLP(64,64)" else PPORun(name, args.iterations)
        step_by_step = PPORun(name, args.iterations, step_by_step=True) if name in STEP_BY_STEP else None
        torso_rows.append(measure_torso(name, run, args.repeats, ceiling, mlp, step_by_step))
        print(torso_rows[-1], flush=True)
    seed_rows = []
    for method in ("train", "warmup"):
        for seeds in args.seeds:
            seed_rows.append(measure_seeds(seeds, args.iterations, args.repeats, method))
            print(seed_rows[-1], flush=True)
    text = report(torso_rows, seed_rows, args.iterations)
    print(text)
    if args.write:
        write_section("Algorithms", text)


if __name__ == "__main__":
    main()
