"""Small networks and environments shared by the algorithm tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper


def mlp_network(head, width: int = 16) -> Network:
    return Network(
        FeatureExtractor(observation_extractor=MLP(features=(width,))),
        SequenceModelWrapper(MLP(features=(width,))),
        head,
    )


def gru_network(head, width: int = 16) -> Network:
    return Network(
        FeatureExtractor(observation_extractor=MLP(features=(width,))),
        SequenceModelWrapper(RNN(nnx.GRUCell(width, width, rngs=nnx.Rngs(0)))),
        head,
    )


def assert_trees_equal(a, b):
    """Bit-identical pytrees (same structure, same values)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def trees_differ(a, b) -> bool:
    return any(
        not np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
    )


def snapshot(tree):
    """A numpy copy of a pytree, typed PRNG keys replaced by their key bits."""

    def copy(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        return np.array(x, copy=True)

    return jax.tree.map(copy, tree)


def check_vmap_over_two_seeds(agent, num_steps: int, metric: str, params_of):
    """init and train vmapped over two seeds: one `metric` per seed, and the seeds'
    first parameter leaf (of `params_of(state)`) differs. Returns the transitions."""
    keys = jax.random.split(jax.random.key(0), 2)
    keys, states = jax.vmap(agent.init)(keys)
    _, states, transitions = jax.vmap(
        lambda k, s: agent.train(k, s, num_steps=num_steps)
    )(keys, states)
    assert transitions.info["metrics"][metric].shape == (2,)
    first_layer = jax.tree.leaves(params_of(states))[0]
    assert not np.array_equal(first_layer[0], first_layer[1])
    return transitions


def check_evaluate_leaves_the_state_untouched(agent, key, state, num_episodes: int):
    """evaluate, with the deterministic and the sampled policy, leaves every leaf of the
    state bit-identical; the sampled policy's episodes are reproducible from the key
    and differ from the deterministic policy's. Returns the deterministic metrics."""
    before = snapshot(state)
    _, metrics = agent.evaluate(key, state, num_episodes=num_episodes)
    _, sampled = agent.evaluate(key, state, num_episodes=num_episodes, deterministic=False)
    _, again = agent.evaluate(key, state, num_episodes=num_episodes, deterministic=False)
    assert_trees_equal(before, snapshot(state))
    assert_trees_equal(sampled, again)
    assert not np.array_equal(sampled["episode_returns"], metrics["episode_returns"])
    return metrics


def check_training_is_deterministic(agent, num_steps: int, finite_metrics: tuple[str, ...]):
    """Two runs from the same key are bit-identical, `finite_metrics` are finite and the
    divergence flag is clear. Returns the run's `(key, state, transitions)`."""

    def run():
        key, state = agent.init(jax.random.key(3))
        return agent.train(key, state, num_steps=num_steps)

    first, second = run(), run()
    assert_trees_equal(first, second)
    metrics = first[2].info["metrics"]
    for name in finite_metrics:
        assert np.isfinite(metrics[name]), name
    assert not bool(metrics["nonfinite"])
    return first


def check_nan_observations_are_flagged(agent, num_steps: int, key=None):
    """Training from NaN observations sets `nonfinite` (the call is an already compiled
    one: the NaNs change values, not shapes)."""
    key, state = agent.init(jax.random.key(0) if key is None else key)
    poisoned = state.replace(
        loop=state.loop.replace(observation=jnp.full_like(state.loop.observation, jnp.nan))
    )
    _, _, transitions = agent.train(key, poisoned, num_steps=num_steps)
    assert bool(transitions.info["metrics"]["nonfinite"])
    return transitions
