"""Input projections of the known flax.nnx RNN cells, hoisted out of the time scan.

A cell called step by step inside `jax.lax.scan` recomputes its input projection
`W_x x_t (+ b)` at every step, as many small matmuls (forward and backward). The input
projection does not depend on the carry, so for the flax cells whose equations are known
it can be computed for all time steps in one matmul before the scan
(`input_projection(cell, x)`, x of shape (batch, time, in_features)), and the scan body
keeps only the recurrent part (`recurrent_step(cell, carry, projected_x_t)`: `W_h h`, the
gate nonlinearities and the carry update). The carry format is the cell's own.

`projected_x_t` is the step's projection cut into its `num_gates` gate blocks, a tuple of
(batch, hidden) arrays: the scan runs over one (time, batch, hidden) array per gate. Slicing
the gates out of one (time, batch, k*hidden) array inside the scan body makes XLA's CPU
backend fuse the per-step dynamic slice and the gate slices into the elementwise gate
computation, which it then runs several times slower than the matmul it replaced.

Each function reads the cell's own parameters and layers and its configured activations
(`gate_fn`, `activation_fn`, `residual`), so it computes what the cell's `__call__`
computes. `fused_cell(cell)` finds them by exact type only: a subclass may override
`__call__`, and then only the cell itself knows its equations (generic path).

Whether this is faster depends on the backend and sizes: on this project's 2-core CPU
machines it was not (see `RNN`'s `hoist_inputs`, off by default there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
from flax import nnx


class FusedCell(NamedTuple):
    """The two halves of a cell's step: `input_projection(cell, x)` for a whole
    (batch, time, in) sequence (any leading axes) -> (..., num_gates*hidden), and
    `recurrent_step(cell, carry, projected_x_t) -> (carry, h)` with `projected_x_t` the
    tuple of the step's `num_gates` (batch, hidden) gate blocks."""

    num_gates: int
    input_projection: Callable[[nnx.Module, Any], Any]
    recurrent_step: Callable[[nnx.Module, Any, Any], Any]
    layers: Callable[[nnx.Module], tuple]  # the Linear layers the two halves read


def _linear_config(layer: nnx.Linear):
    return (
        layer.dtype,
        layer.precision,
        layer.promote_dtype,
        layer.dot_general,
        layer.preferred_element_type,
    )


def fused_linear(layers, x):
    """`concatenate([layer(x) for layer in layers], -1)` as one matmul.

    The layers must share their computation settings (flax builds LSTMCell's gate layers
    from one partial, so they do); a layer without bias contributes zeros.
    """
    if len(layers) == 1:
        return layers[0](x)
    first = layers[0]
    kernel = jnp.concatenate([layer.kernel[...] for layer in layers], axis=-1)
    biases = [None if layer.bias is None else layer.bias[...] for layer in layers]
    if all(b is None for b in biases):
        bias = None
    else:
        bias = jnp.concatenate(
            [jnp.zeros((layer.out_features,), kernel.dtype) if b is None else b for layer, b in zip(layers, biases)]
        )
    x, kernel, bias = first.promote_dtype((x, kernel, bias), dtype=first.dtype)
    kwargs = {}
    if first.preferred_element_type is not None:
        kwargs["preferred_element_type"] = first.preferred_element_type
    y = first.dot_general(
        x,
        kernel,
        (((x.ndim - 1,), (0,)), ((), ())),
        precision=first.precision,
        **kwargs,
    )
    if bias is not None:
        y += jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))
    return y


# --- LSTMCell: separate gate layers ii, if_, ig, io (no bias) and hi, hf, hg, ho (bias).


def _lstm_input_layers(cell):
    return (cell.ii, cell.if_, cell.ig, cell.io)


def _lstm_hidden_layers(cell):
    return (cell.hi, cell.hf, cell.hg, cell.ho)


def lstm_input_projection(cell: nnx.LSTMCell, x):
    """(batch, time, in) -> (batch, time, 4*hidden): the i, f, g, o input terms."""
    return fused_linear(_lstm_input_layers(cell), x)


def _lstm_gates(cell, carry, projected_x, y_h):
    c, _ = carry
    x_i, x_f, x_g, x_o = projected_x
    h_i, h_f, h_g, h_o = jnp.split(y_h, 4, axis=-1)
    i = cell.gate_fn(x_i + h_i)
    f = cell.gate_fn(x_f + h_f)
    g = cell.activation_fn(x_g + h_g)
    o = cell.gate_fn(x_o + h_o)
    new_c = f * c + i * g
    new_h = o * cell.activation_fn(new_c)
    return (new_c, new_h), new_h


def lstm_recurrent_step(cell: nnx.LSTMCell, carry, projected_x):
    """One LSTMCell step given its projected input: the four hidden layers as one matmul."""
    _, h = carry
    return _lstm_gates(cell, carry, projected_x, fused_linear(_lstm_hidden_layers(cell), h))


# --- OptimizedLSTMCell: dense_i (4*hidden, no bias), dense_h (4*hidden, bias); i, f, g, o.


def optimized_lstm_input_projection(cell: nnx.OptimizedLSTMCell, x):
    return cell.dense_i(x)


def optimized_lstm_recurrent_step(cell: nnx.OptimizedLSTMCell, carry, projected_x):
    _, h = carry
    return _lstm_gates(cell, carry, projected_x, cell.dense_h(h))


# --- GRUCell: dense_i (3*hidden, bias b_i), dense_h (3*hidden); r, z, n.


def gru_input_projection(cell: nnx.GRUCell, x):
    """(batch, time, in) -> (batch, time, 3*hidden): W_i x + b_i for r, z, n."""
    return cell.dense_i(x)


def gru_recurrent_step(cell: nnx.GRUCell, carry, projected_x):
    """The reset gate multiplies the whole hidden projection of n, `dense_h(h)` including
    any bias that layer has (flax 0.12's has none), so only the input side is hoisted."""
    h = carry
    xi_r, xi_z, xi_n = projected_x
    hh_r, hh_z, hh_n = jnp.split(cell.dense_h(h), 3, axis=-1)
    r = cell.gate_fn(xi_r + hh_r)
    z = cell.gate_fn(xi_z + hh_z)
    n = cell.activation_fn(xi_n + r * hh_n)
    new_h = (1.0 - z) * n + z * h
    return new_h, new_h


# --- SimpleCell: dense_i (bias), dense_h (no bias), optional residual.


def simple_input_projection(cell: nnx.SimpleCell, x):
    return cell.dense_i(x)


def simple_recurrent_step(cell: nnx.SimpleCell, carry, projected_x):
    (x,) = projected_x
    new_carry = x + cell.dense_h(carry)
    if cell.residual:
        new_carry += carry
    new_carry = cell.activation_fn(new_carry)
    return new_carry, new_carry


FUSED_CELLS: dict[type, FusedCell] = {
    nnx.LSTMCell: FusedCell(
        4,
        lstm_input_projection,
        lstm_recurrent_step,
        lambda cell: _lstm_input_layers(cell) + _lstm_hidden_layers(cell),
    ),
    nnx.OptimizedLSTMCell: FusedCell(
        4,
        optimized_lstm_input_projection,
        optimized_lstm_recurrent_step,
        lambda cell: (cell.dense_i, cell.dense_h),
    ),
    nnx.GRUCell: FusedCell(
        3,
        gru_input_projection,
        gru_recurrent_step,
        lambda cell: (cell.dense_i, cell.dense_h),
    ),
    nnx.SimpleCell: FusedCell(
        1,
        simple_input_projection,
        simple_recurrent_step,
        lambda cell: (cell.dense_i, cell.dense_h),
    ),
}


def fused_cell(cell: nnx.Module) -> FusedCell | None:
    """The hoisted form of `cell`, or None when only the cell's own `__call__` will do.

    Exact type only (a subclass may override `__call__`), and only while the layers the
    equations read are plain `nnx.Linear`s; LSTMCell's gate layers, fused into one matmul
    on each side, must also share their dtype and matmul settings.
    """
    fused = FUSED_CELLS.get(type(cell))
    if fused is None:
        return None
    try:
        layers = fused.layers(cell)
    except AttributeError:
        return None
    if not all(type(layer) is nnx.Linear for layer in layers):
        return None
    if type(cell) is nnx.LSTMCell:
        for group in (_lstm_input_layers(cell), _lstm_hidden_layers(cell)):
            if len({_linear_config(layer) for layer in group}) != 1:
                return None
    return fused
