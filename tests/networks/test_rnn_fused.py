"""The hoisted RNN path (input projections before the scan, rnn_fused) against the
generic one (the cell's own `__call__` at each step): outputs, final carry and gradients
agree for every known flax cell, with default and other activations, on random sequences
with episode starts in the middle; cells it does not know take the generic path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from memorax.networks import RNN, initialize
from memorax.networks.sequence_models.rnn import scan_cell
from memorax.networks.sequence_models.rnn_fused import FUSED_CELLS, fused_cell

CELLS = {
    "lstm": lambda: nnx.LSTMCell(5, 7, rngs=nnx.Rngs(1)),
    "lstm_other_activations": lambda: nnx.LSTMCell(
        6,
        4,
        gate_fn=jax.nn.hard_sigmoid,
        activation_fn=jax.nn.soft_sign,
        rngs=nnx.Rngs(2),
    ),
    "optimized_lstm": lambda: nnx.OptimizedLSTMCell(3, 8, rngs=nnx.Rngs(3)),
    "optimized_lstm_other_activations": lambda: nnx.OptimizedLSTMCell(
        8, 3, gate_fn=jax.nn.hard_sigmoid, activation_fn=jnp.sin, rngs=nnx.Rngs(4)
    ),
    "gru": lambda: nnx.GRUCell(4, 6, rngs=nnx.Rngs(5)),
    "gru_other_activations": lambda: nnx.GRUCell(
        7,
        5,
        gate_fn=jax.nn.hard_sigmoid,
        activation_fn=jax.nn.soft_sign,
        rngs=nnx.Rngs(6),
    ),
    "simple": lambda: nnx.SimpleCell(5, 3, rngs=nnx.Rngs(7)),
    "simple_residual_relu": lambda: nnx.SimpleCell(3, 6, residual=True, activation_fn=jax.nn.relu, rngs=nnx.Rngs(8)),
}

BATCH, TIME = 3, 11
TOL = {"rtol": 1e-5, "atol": 1e-5}


def randomized(cell, seed):
    """Every parameter drawn at random, biases too (flax initialises them to zero)."""
    state = nnx.state(cell, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    nnx.update(
        cell,
        jax.tree.unflatten(treedef, [0.5 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)]),
    )
    return cell


def sequence(cell, seed):
    k_x, k_start, k_carry = jax.random.split(jax.random.key(seed), 3)
    inputs = jax.random.normal(k_x, (BATCH, TIME, cell.in_features))
    starts = jax.random.bernoulli(k_start, 0.25, (BATCH, TIME)).at[0, 4].set(True).at[1, 0].set(True)
    zero = cell.initialize_carry((BATCH, cell.in_features), rngs=nnx.Rngs(0))
    leaves, treedef = jax.tree.flatten(zero)
    keys = jax.random.split(k_carry, len(leaves))
    carry = jax.tree.unflatten(treedef, [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])
    return inputs, starts, carry, zero


def run(graphdef, params, inputs, starts, carry, start_carry, hoist):
    cell = nnx.merge(graphdef, params)
    return scan_cell(cell, inputs, starts, carry, start_carry, hoist=hoist)


def assert_trees_close(got, want):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, **TOL)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_fused_cells_are_found(name):
    cell = CELLS[name]()
    assert fused_cell(cell) is FUSED_CELLS[type(cell)]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_hoisted_path_equals_per_step_cell(name, seed):
    cell = randomized(CELLS[name](), seed)
    inputs, starts, carry, zero = sequence(cell, seed + 10)
    graphdef, params = nnx.split(cell)
    hoisted = jax.jit(run, static_argnums=(0, 6))(graphdef, params, inputs, starts, carry, zero, True)
    generic = jax.jit(run, static_argnums=(0, 6))(graphdef, params, inputs, starts, carry, zero, False)
    assert_trees_close(hoisted, generic)
    # The carry keeps the cell's own format: (c, h) for the LSTMs, h otherwise.
    assert jax.tree.structure(hoisted[0]) == jax.tree.structure(zero)
    assert hoisted[1].shape == (BATCH, TIME, cell.hidden_features)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_hoisted_gradients_equal_per_step_gradients(name):
    cell = randomized(CELLS[name](), 3)
    inputs, starts, carry, zero = sequence(cell, 4)
    graphdef, params = nnx.split(cell)
    weights = jax.random.normal(jax.random.key(5), (BATCH, TIME, cell.hidden_features))

    def loss(params, inputs, carry, hoist):
        final, outputs = run(graphdef, params, inputs, starts, carry, zero, hoist)
        return jnp.sum(weights * outputs) + sum(jnp.sum(jnp.sin(leaf)) for leaf in jax.tree.leaves(final))

    grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)), static_argnums=3)
    assert_trees_close(grad(params, inputs, carry, True), grad(params, inputs, carry, False))


class DoubledLSTMCell(nnx.LSTMCell):
    """A subclass whose `__call__` differs from LSTMCell's: only it knows its equations."""

    def __call__(self, carry, inputs):
        carry, h = super().__call__(carry, 2.0 * inputs)
        return carry, 2.0 * h


def test_subclass_of_a_known_cell_takes_the_generic_path():
    cell = randomized(DoubledLSTMCell(4, 5, rngs=nnx.Rngs(0)), 0)
    assert fused_cell(cell) is None
    inputs, starts, carry, zero = sequence(cell, 1)
    final, outputs = scan_cell(cell, inputs, starts, carry, zero)

    def step(carry, xs):
        x, s = xs
        carry = jax.tree.map(lambda z, c: jnp.where(s[:, None], z, c), zero, carry)
        return cell(carry, x)

    want_final, want_outputs = jax.lax.scan(step, carry, (jnp.swapaxes(inputs, 0, 1), starts.T))
    assert_trees_close((final, outputs), (want_final, jnp.swapaxes(want_outputs, 0, 1)))


def test_a_cell_whose_layer_was_replaced_takes_the_generic_path():
    cell = nnx.GRUCell(3, 4, rngs=nnx.Rngs(0))
    cell.dense_h = nnx.Sequential(cell.dense_h)
    assert fused_cell(cell) is None


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_rnn_torso_gives_the_same_results_hoisted_or_not(name):
    torsos = [RNN(CELLS[name](), hoist_inputs=hoist) for hoist in (True, False)]
    for torso in torsos:
        initialize([torso], jax.random.key(7), (torso.cell.in_features,))
    assert_trees_close(nnx.state(torsos[0].cell, nnx.Param), nnx.state(torsos[1].cell, nnx.Param))
    inputs, starts, carry, _ = sequence(torsos[0].cell, 8)
    assert_trees_close(torsos[0](inputs, starts, carry), torsos[1](inputs, starts, carry))
