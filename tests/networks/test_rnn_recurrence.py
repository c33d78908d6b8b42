"""The whole-sequence GRU and LSTM recurrences with hand-written gradients
(`recurrence`) against the cells' own `__call__` step by step under autodiff: outputs,
final carry and every gradient agree on random sequences with episode starts in the
middle, random biases and random initial carries; cells it does not implement (other
activations, subclasses, replaced layers, other dtypes) run step by step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from memorax.networks import RNN, initialize
from memorax.networks.sequence_models.recurrence import cell_sequence
from memorax.networks.sequence_models.rnn import scan_cell

KNOWN = {
    "lstm": lambda: nnx.LSTMCell(5, 7, rngs=nnx.Rngs(1)),
    "optimized_lstm": lambda: nnx.OptimizedLSTMCell(3, 8, rngs=nnx.Rngs(3)),
    "gru": lambda: nnx.GRUCell(4, 6, rngs=nnx.Rngs(5)),
}
STEP_BY_STEP = {
    "lstm_other_activations": lambda: nnx.LSTMCell(
        6, 4, gate_fn=jax.nn.hard_sigmoid, activation_fn=jax.nn.soft_sign, rngs=nnx.Rngs(2)
    ),
    "gru_other_activations": lambda: nnx.GRUCell(7, 5, gate_fn=jax.nn.hard_sigmoid, rngs=nnx.Rngs(6)),
    "gru_bfloat16": lambda: nnx.GRUCell(4, 6, dtype=jnp.bfloat16, rngs=nnx.Rngs(5)),
    "simple": lambda: nnx.SimpleCell(5, 3, rngs=nnx.Rngs(7)),
}

BATCH, TIME = 3, 11
TOL = {"rtol": 2e-5, "atol": 2e-5}


def randomized(cell, seed):
    """Every parameter drawn at random, biases too (flax initialises them to zero)."""
    state = nnx.state(cell, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    nnx.update(cell, jax.tree.unflatten(treedef, [0.5 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)]))
    return cell


def sequence(cell, seed):
    k_x, k_start, k_carry = jax.random.split(jax.random.key(seed), 3)
    inputs = jax.random.normal(k_x, (BATCH, TIME, cell.in_features))
    starts = jax.random.bernoulli(k_start, 0.25, (BATCH, TIME)).at[0, 4].set(True).at[1, 0].set(True)
    starts = starts.at[2, -1].set(True)  # a start at the last step too
    zero = cell.initialize_carry((BATCH, cell.in_features), rngs=nnx.Rngs(0))
    leaves, treedef = jax.tree.flatten(zero)
    keys = jax.random.split(k_carry, len(leaves))
    carry = jax.tree.unflatten(treedef, [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])
    return inputs, starts, carry, zero


def run(graphdef, params, inputs, starts, carry, start_carry, step_by_step):
    return scan_cell(nnx.merge(graphdef, params), inputs, starts, carry, start_carry, step_by_step=step_by_step)


def assert_trees_close(got, want):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, **TOL)


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_cells_run_as_a_recurrence_and_others_step_by_step(name):
    assert cell_sequence(KNOWN[name]()) is not None
    for other in STEP_BY_STEP.values():
        assert cell_sequence(other()) is None


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(KNOWN))
def test_outputs_and_gradients_equal_the_cells_own_steps(name, seed):
    cell = randomized(KNOWN[name](), seed)
    inputs, starts, carry, zero = sequence(cell, seed + 10)
    graphdef, params = nnx.split(cell)
    forward = jax.jit(run, static_argnums=(0, 6))
    recurrence = forward(graphdef, params, inputs, starts, carry, zero, False)
    assert_trees_close(recurrence, forward(graphdef, params, inputs, starts, carry, zero, True))
    assert jax.tree.structure(recurrence[0]) == jax.tree.structure(zero)  # the cell's own carry format
    assert recurrence[1].shape == (BATCH, TIME, cell.hidden_features)

    weights = jax.random.normal(jax.random.key(seed + 5), (BATCH, TIME, cell.hidden_features))

    def loss(params, inputs, carry, step_by_step):
        final, outputs = run(graphdef, params, inputs, starts, carry, zero, step_by_step)
        return jnp.sum(weights * outputs) + sum(jnp.sum(jnp.sin(leaf)) for leaf in jax.tree.leaves(final))

    grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)), static_argnums=3)
    assert_trees_close(grad(params, inputs, carry, False), grad(params, inputs, carry, True))


@pytest.mark.parametrize("name", sorted(STEP_BY_STEP))
def test_other_cells_still_run_and_differentiate(name):
    cell = randomized(STEP_BY_STEP[name](), 0)
    inputs, starts, carry, zero = sequence(cell, 3)
    graphdef, params = nnx.split(cell)
    both = [run(graphdef, params, inputs, starts, carry, zero, flag) for flag in (False, True)]
    assert_trees_close(*both)


class DoubledLSTMCell(nnx.LSTMCell):
    """A subclass whose `__call__` differs from LSTMCell's: only it knows its equations."""

    def __call__(self, carry, inputs):
        carry, h = super().__call__(carry, 2.0 * inputs)
        return carry, 2.0 * h


def test_a_subclass_or_a_replaced_layer_runs_the_cells_own_steps():
    cell = randomized(DoubledLSTMCell(4, 5, rngs=nnx.Rngs(0)), 0)
    assert cell_sequence(cell) is None
    inputs, starts, carry, zero = sequence(cell, 1)
    final, outputs = scan_cell(cell, inputs, starts, carry, zero)

    def step(carry, xs):
        x, s = xs
        carry = jax.tree.map(lambda z, c: jnp.where(s[:, None], z, c), zero, carry)
        return cell(carry, x)

    want_final, want_outputs = jax.lax.scan(step, carry, (jnp.swapaxes(inputs, 0, 1), starts.T))
    assert_trees_close((final, outputs), (want_final, jnp.swapaxes(want_outputs, 0, 1)))
    gru = nnx.GRUCell(3, 4, rngs=nnx.Rngs(0))
    gru.dense_h = nnx.Sequential(gru.dense_h)
    assert cell_sequence(gru) is None


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_the_torso_has_the_same_parameters_and_results_either_way(name):
    torsos = [RNN(KNOWN[name](), step_by_step=flag) for flag in (False, True)]
    for torso in torsos:
        initialize([torso], jax.random.key(7), (torso.cell.in_features,))
    assert_trees_close(nnx.state(torsos[0].cell, nnx.Param), nnx.state(torsos[1].cell, nnx.Param))
    inputs, starts, carry, _ = sequence(torsos[0].cell, 8)
    assert_trees_close(torsos[0](inputs, starts, carry), torsos[1](inputs, starts, carry))
