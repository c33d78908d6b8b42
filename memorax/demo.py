"""A small real training run: recall the first observation of each episode.

Until the Snakemake workflow lands, this is the README's main job. It trains the
seed's LSTM network (and, for contrast, the same network with a memoryless MLP
torso) by supervised learning on a memory task: at every step the observation is a
random symbol, and the target is the symbol shown at the start of the current
episode. Episodes start at random steps inside each sequence, so the task checks
that the carry is reset at episode starts and carried in between. Chance accuracy is
1/num_symbols; only a network with memory can beat it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from gymnax.environments import spaces

from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads, initial_state


@dataclass(frozen=True)
class RecallConfig:
    num_symbols: int = 4
    batch_size: int = 32
    sequence_length: int = 32
    episode_start_probability: float = 0.1  # new episodes begin mid-sequence
    hidden_dim: int = 64
    learning_rate: float = 3e-3
    num_updates: int = 400
    seed: int = 0


def make_network(torso_kind: str, config: RecallConfig) -> Network:
    width = config.hidden_dim
    if torso_kind == "lstm":
        torso = SequenceModelWrapper(RNN(nnx.LSTMCell(width, width, rngs=nnx.Rngs(0))))
    else:
        torso = SequenceModelWrapper(MLP(features=(width,)))
    return Network(
        FeatureExtractor(observation_extractor=MLP(features=(width,))),
        torso,
        heads.Categorical(action_dim=config.num_symbols),
    )


def sample_batch(key, config: RecallConfig):
    """Observations (batch, time, symbols) one-hot, episode starts and targets."""
    symbol_key, start_key = jax.random.split(key)
    shape = (config.batch_size, config.sequence_length)
    symbols = jax.random.randint(symbol_key, shape, 0, config.num_symbols)
    episode_start = jax.random.bernoulli(start_key, config.episode_start_probability, shape).at[:, 0].set(True)

    def carry_first(first, step):
        symbol, start = step
        first = jnp.where(start, symbol, first)
        return first, first

    _, targets = jax.lax.scan(carry_first, symbols[:, 0], (symbols.T, episode_start.T))
    return jax.nn.one_hot(symbols, config.num_symbols), episode_start, targets.T


def train(torso_kind: str, config: RecallConfig, on_update=None) -> dict:
    """Train one network; returns the final loss and the accuracy off episode starts."""
    network = make_network(torso_kind, config)
    observation_space = spaces.Box(0.0, 1.0, (config.num_symbols,))
    label_space = spaces.Discrete(config.num_symbols)
    key = jax.random.key(config.seed)
    key, init_key = jax.random.split(key)
    graphdef, params = initial_state(network, init_key, observation_space, label_space)
    optimizer = optax.adam(config.learning_rate)
    opt_state = optimizer.init(params)

    def metrics(params, key):
        observation, episode_start, targets = sample_batch(key, config)
        _, policy = nnx.merge(graphdef, params)(observation, episode_start)
        loss = -policy.log_prob(targets).mean()
        recall_steps = ~episode_start
        correct = (policy.mode() == targets) & recall_steps
        return loss, correct.sum() / recall_steps.sum()

    @jax.jit
    def update(params, opt_state, key):
        (loss, accuracy), grads = jax.value_and_grad(metrics, has_aux=True)(params, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, accuracy

    for step in range(config.num_updates):
        key, batch_key = jax.random.split(key)
        params, opt_state, loss, accuracy = update(params, opt_state, batch_key)
        if on_update is not None:
            on_update(step + 1, float(loss), float(accuracy))
    loss, accuracy = jax.jit(metrics)(params, jax.random.key(config.seed + 10_000))
    return {"torso": torso_kind, "final_loss": float(loss), "recall_accuracy": float(accuracy)}


def run(config: RecallConfig, output_dir: Path) -> list[dict]:
    """Train the LSTM and the memoryless network, show a table, write results.json."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    console = Console()
    results = []
    for torso_kind in ("lstm", "mlp"):
        start = time.perf_counter()
        with Progress(
            TextColumn(f"[bold]{torso_kind:>4}[/]"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[status]}"), TimeRemainingColumn(), console=console,
        ) as progress:
            task = progress.add_task(torso_kind, total=config.num_updates, status="")

            def on_update(step, loss, accuracy, progress=progress, task=task, start=start):
                rate = step / (time.perf_counter() - start)
                progress.update(task, completed=step, status=f"loss {loss:.3f} acc {accuracy:.2f} {rate:.0f} upd/s")

            result = train(torso_kind, config, on_update)
        result["seconds"] = round(time.perf_counter() - start, 1)
        results.append(result)

    table = Table(title=f"Recall the first symbol of the episode (chance {1 / config.num_symbols:.2f})")
    for column in ("torso", "final loss", "recall accuracy", "seconds"):
        table.add_column(column)
    for r in results:
        table.add_row(r["torso"], f"{r['final_loss']:.3f}", f"{r['recall_accuracy']:.3f}", f"{r['seconds']}")
    console.print(table)

    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "results.json"
    path.write_text(json.dumps({"config": asdict(config), "results": results}, indent=2))
    console.print(f"results written to {path}")
    return results
