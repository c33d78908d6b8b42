"""The GRU and LSTM recurrences over a whole sequence, with hand-written gradients.

Training a recurrent torso on whole rollouts walks hundreds of sequential steps
forward and back through tiny matmuls (a minibatch of 2 sequences x 64 units), so
the cost is the number of operations per scan step, not arithmetic. Autodiff of a
cell's step-by-step scan keeps every gate's intermediate per step and accumulates
the weight gradient inside the backward loop. Here each direction's loop does only
what is sequential:

- forward: `h_{t-1} @ W_h`, the gates and the carry update (the input projection
  `x_t @ W_x + b` of every step is computed before, in one matmul, by the caller);
- backward: the carry's cotangent through one step, one matmul with `W_h^T`.

Everything that is not sequential is done for all steps at once around the loops:
the gates (recomputed from the saved hidden states in one matmul for the GRU; the
LSTM keeps each step's hidden projection instead, which measured faster for it), the
per-step derivative factors, elementwise, and the gradients of `W_h`, of the hidden
bias and of the projected inputs, as single matmuls or sums over time.

Equations are flax's (`nnx.GRUCell`: r, z, n with the reset gate on the whole hidden
projection of n; `nnx.LSTMCell` / `nnx.OptimizedLSTMCell`: i, f, g, o), with the
default sigmoid gates and tanh activations. At each step where `starts` is true the
carry is first replaced by `start` (the cell's initial carry, a constant: its
cotangent is not propagated, so callers pass it through `stop_gradient`).

Arrays are time-major: projected inputs one (time, batch, hidden) array per gate (a
gate sliced out of one wide array inside the loop makes XLA:CPU fuse the slices into
the elementwise work, several times slower), `starts` (time, batch).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.networks.dense import dense


def _previous(first, states, starts, start):
    """The carry each step starts from, for all steps at once: the previous step's,
    or `start` at starts."""
    shifted = jnp.concatenate([first[None], states[:-1]], axis=0)
    return jnp.where(starts[..., None], start, shifted)


def _matmul(x, w):
    return dense(x, w)  # its kernel gradient in XLA:CPU's fast layout (networks/dense.py)


def _sum_over_steps(x):
    return x.reshape(-1, x.shape[-1]).sum(axis=0)


def _outer_over_steps(x, y):
    """sum over time and batch of x^T y: the gradient of a weight shared by every step."""
    return x.reshape(-1, x.shape[-1]).T @ y.reshape(-1, y.shape[-1])


# --- GRU ------------------------------------------------------------------------------


def _gru_gates(projected, hidden_projection):
    x_r, x_z, x_n = projected
    h_r, h_z, h_n = jnp.split(hidden_projection, 3, axis=-1)
    r = jax.nn.sigmoid(x_r + h_r)
    z = jax.nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * h_n)
    return r, z, n, h_n


def _previous_cotangents(cotangents):
    """cotangents[t - 1] at step t (none before the first): the backward loop adds the
    next step's output cotangent to the carry it hands on, in the same fusion."""
    return jnp.concatenate([jnp.zeros_like(cotangents[:1]), cotangents[:-1]], axis=0)


def _reset(starts, start, carry):
    return jnp.where(starts[:, None], start, carry)


def _gru_forward(projected, w_h, b_h, h0, starts, start):
    def step(h, inputs):
        x_t, s_t = inputs
        h = _reset(s_t, start, h)
        _, z, n, _ = _gru_gates(x_t, h @ w_h + b_h)
        h = (1.0 - z) * n + z * h
        return h, h

    _, hs = jax.lax.scan(step, h0, (projected, starts))
    return hs


@jax.custom_vjp
def gru_sequence(projected, w_h, b_h, h0, starts, start):
    """(time, batch, hidden) hidden states of flax's GRU cell. `projected`: the three
    (time, batch, hidden) input terms `x_t @ W_i + b_i` (r, z, n); `w_h` (hidden,
    3*hidden) and `b_h` (3*hidden,): the hidden projection; `h0` the carry before the
    first step."""
    return _gru_forward(projected, w_h, b_h, h0, starts, start)


def _gru_fwd(projected, w_h, b_h, h0, starts, start):
    hs = _gru_forward(projected, w_h, b_h, h0, starts, start)
    return hs, (projected, w_h, b_h, h0, starts, start, hs)


def _gru_bwd(residuals, d_hs):
    """The gates are recomputed for all steps in one matmul (measured faster here
    than storing each step's hidden projection from the forward loop, as the LSTM
    does, where the stored projection saved more of the recomputation)."""
    projected, w_h, b_h, h0, starts, start, hs = residuals
    previous = _previous(h0, hs, starts, start)
    r, z, n, h_n = _gru_gates(projected, _matmul(previous, w_h) + b_h)
    # d new_h / d (pre-activation of r, z, n), per unit: the step's local factors.
    k_n = (1.0 - z) * (1.0 - n * n)
    k_r = k_n * h_n * r * (1.0 - r)
    k_z = (previous - n) * z * (1.0 - z)
    k_hidden = jnp.stack([k_r, k_z, k_n * r], axis=-2)  # to the hidden projection: (time, batch, 3, hidden)
    w_t = w_h.T

    def step(d_h, inputs):  # d_h: this step's total cotangent
        d_out_before, k_t, z_t, s_t = inputs
        d_gates = (d_h[:, None, :] * k_t).reshape(d_h.shape[0], -1)  # broadcast, not concatenate: one fusion
        d_previous = jnp.where(s_t[:, None], 0.0, d_h * z_t + d_gates @ w_t)
        return d_previous + d_out_before, d_h

    inputs = (_previous_cotangents(d_hs), k_hidden, z, starts)
    d_h0, d_step = jax.lax.scan(step, d_hs[-1], inputs, reverse=True)
    d_hidden = (d_step[..., None, :] * k_hidden).reshape(*d_step.shape[:-1], -1)
    d_projected = (d_step * k_r, d_step * k_z, d_step * k_n)
    return (
        d_projected,
        _outer_over_steps(previous, d_hidden),
        _sum_over_steps(d_hidden),
        d_h0,
        None,
        jnp.zeros_like(start),
    )


gru_sequence.defvjp(_gru_fwd, _gru_bwd)


# --- LSTM -----------------------------------------------------------------------------


def _lstm_gates(projected, hidden_projection):
    x_i, x_f, x_g, x_o = projected
    h_i, h_f, h_g, h_o = jnp.split(hidden_projection, 4, axis=-1)
    return (
        jax.nn.sigmoid(x_i + h_i),
        jax.nn.sigmoid(x_f + h_f),
        jnp.tanh(x_g + h_g),
        jax.nn.sigmoid(x_o + h_o),
    )


def _lstm_forward(projected, w_h, b_h, carry0, starts, start):
    """The cell and hidden states, and each step's hidden projection (kept for the
    backward pass: one more output per step costs less than recomputing the gates
    with a (time * batch, hidden) x (hidden, 4 * hidden) matmul, as measured here)."""
    c_start, h_start = start

    def step(carry, inputs):
        x_t, s_t = inputs
        c, h = carry
        c, h = _reset(s_t, c_start, c), _reset(s_t, h_start, h)
        hidden_projection = h @ w_h + b_h
        i, f, g, o = _lstm_gates(x_t, hidden_projection)
        c = f * c + i * g
        h = o * jnp.tanh(c)
        return (c, h), (c, h, hidden_projection)

    _, (cs, hs, hidden_projections) = jax.lax.scan(step, carry0, (projected, starts))
    return cs, hs, hidden_projections


@jax.custom_vjp
def lstm_sequence(projected, w_h, b_h, carry0, starts, start):
    """((time, batch, hidden) cell states, hidden states) of flax's LSTM cell.
    `projected`: the four input terms (i, f, g, o); `w_h` (hidden, 4*hidden), `b_h`
    (4*hidden,); `carry0` and `start` are (c, h) pairs."""
    return _lstm_forward(projected, w_h, b_h, carry0, starts, start)[:2]


def _lstm_fwd(projected, w_h, b_h, carry0, starts, start):
    cs, hs, hidden_projections = _lstm_forward(projected, w_h, b_h, carry0, starts, start)
    return (cs, hs), (projected, w_h, carry0, starts, start, cs, hs, hidden_projections)


def _lstm_bwd(residuals, cotangents):
    projected, w_h, (c0, h0), starts, (c_start, h_start), cs, hs, hidden_projections = residuals
    d_cs, d_hs = cotangents
    c_previous = _previous(c0, cs, starts, c_start)
    h_previous = _previous(h0, hs, starts, h_start)
    i, f, g, o = _lstm_gates(projected, hidden_projections)
    tanh_c = jnp.tanh(cs)
    k_c = o * (1.0 - tanh_c * tanh_c)  # d h / d c through the output
    # d (pre-activations of i, f, g, o) / d (the step's cell-state cotangent, its hidden-state cotangent)
    k_cell = jnp.stack([g * i * (1.0 - i), c_previous * f * (1.0 - f), i * (1.0 - g * g), jnp.zeros_like(o)], axis=-2)
    k_hidden = jnp.stack([jnp.zeros_like(i), jnp.zeros_like(f), jnp.zeros_like(g), tanh_c * o * (1.0 - o)], axis=-2)
    w_t = w_h.T

    def step(carry, inputs):  # carry: this step's cotangents from later steps and its outputs
        d_c, d_h = carry
        d_c_before, d_h_before, k_c_t, k_cell_t, k_hidden_t, f_t, s_t = inputs
        d_c = d_c + d_h * k_c_t  # the cell state's total cotangent at this step
        d_pre = (d_c[:, None, :] * k_cell_t + d_h[:, None, :] * k_hidden_t).reshape(d_c.shape[0], -1)
        d_c_previous = jnp.where(s_t[:, None], 0.0, d_c * f_t) + d_c_before
        d_h_previous = jnp.where(s_t[:, None], 0.0, d_pre @ w_t) + d_h_before
        return (d_c_previous, d_h_previous), d_pre

    inputs = (_previous_cotangents(d_cs), _previous_cotangents(d_hs), k_c, k_cell, k_hidden, f, starts)
    (d_c0, d_h0), d_pre = jax.lax.scan(step, (d_cs[-1], d_hs[-1]), inputs, reverse=True)
    return (
        tuple(jnp.split(d_pre, 4, axis=-1)),
        _outer_over_steps(h_previous, d_pre),
        _sum_over_steps(d_pre),
        (d_c0, d_h0),
        None,
        (jnp.zeros_like(c_start), jnp.zeros_like(h_start)),
    )


lstm_sequence.defvjp(_lstm_fwd, _lstm_bwd)


# --- flax cells -----------------------------------------------------------------------


def _default_linear(layer) -> bool:
    from flax import nnx
    from flax.nnx.nn import dtypes

    return (
        type(layer) is nnx.Linear
        and layer.dtype is None
        and layer.precision is None
        and layer.promote_dtype is dtypes.promote_dtype
        and layer.dot_general is jax.lax.dot_general
        and layer.preferred_element_type is None
        and layer.kernel[...].dtype == jnp.float32
    )


def _kernel_and_bias(layers):
    kernel = jnp.concatenate([layer.kernel[...] for layer in layers], axis=-1)
    bias = jnp.concatenate(
        [jnp.zeros((layer.out_features,), kernel.dtype) if layer.bias is None else layer.bias[...] for layer in layers]
    )
    return kernel, bias


def _projected(layers, xs, gates: int):
    """Every step's input terms in one matmul, cut into one array per gate."""
    kernel, bias = _kernel_and_bias(layers)
    return tuple(jnp.split(_matmul(xs, kernel) + bias, gates, axis=-1))


def _gru(cell, xs, starts, carry, start):
    projected = _projected((cell.dense_i,), xs, 3)
    hs = gru_sequence(projected, *_kernel_and_bias((cell.dense_h,)), carry, starts, start)
    return hs[-1], hs


def _lstm(input_layers, hidden_layers):
    def run(cell, xs, starts, carry, start):
        projected = _projected(input_layers(cell), xs, 4)
        cs, hs = lstm_sequence(projected, *_kernel_and_bias(hidden_layers(cell)), carry, starts, start)
        return (cs[-1], hs[-1]), hs

    return run


def cell_sequence(cell):
    """`run(cell, xs, starts, carry, start) -> (carry, outputs)` (time-major) for the
    flax cells whose equations this module implements, configured as by default
    (sigmoid gates, tanh, float32 layers of plain matmuls); None for any other cell,
    which then runs step by step. Exact types only: a subclass may change `__call__`."""
    from flax import nnx

    kinds = {
        nnx.GRUCell: (_gru, lambda c: (c.dense_i, c.dense_h)),
        nnx.LSTMCell: (
            _lstm(lambda c: (c.ii, c.if_, c.ig, c.io), lambda c: (c.hi, c.hf, c.hg, c.ho)),
            lambda c: (c.ii, c.if_, c.ig, c.io, c.hi, c.hf, c.hg, c.ho),
        ),
        nnx.OptimizedLSTMCell: (_lstm(lambda c: (c.dense_i,), lambda c: (c.dense_h,)), lambda c: (c.dense_i, c.dense_h)),
    }
    if type(cell) not in kinds:
        return None
    run, layers = kinds[type(cell)]
    if cell.gate_fn is not jax.nn.sigmoid or cell.activation_fn is not jnp.tanh:
        return None
    if not all(_default_linear(layer) for layer in layers(cell)):
        return None
    return run
