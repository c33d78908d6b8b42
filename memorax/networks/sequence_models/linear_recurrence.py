"""The linear recurrence h_t = a_t * h_{t-1} + b_t, with episode resets, two ways.

S5, LRU, Mamba's selective scan, MinGRU, linear attention and FFM all reduce to this
elementwise recurrence. `parallel_linear_recurrence` runs it as an associative scan
over time (O(log T) depth); `sequential_linear_recurrence` runs the same recurrence
step by step with `lax.scan`, as the reference and the benchmark baseline.

Resets are folded into the scan's elements: where an episode starts, the state entering
the step is the zero start state, so a_t is set to 0 there, and each element carries an
episode-start flag. Composing an earlier element with a later one that holds a start
selects zeros for the earlier part (a `where`, not a multiplication by a = 0), so a
composed element carries nothing from before the latest start it covers, even where
the steps before it overflowed to inf or NaN. Arrays are batch-major: a and b have
shape (batch, time, ...), episode_start (batch, time), the carry (batch, ...). Complex
a and b are fine.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


def _expand(flags, like):
    return flags.reshape(flags.shape + (1,) * (like.ndim - flags.ndim))


def _combine(earlier, later):
    """Compose two steps of h -> a * h + b: first `earlier`, then `later`.

    Each element also holds whether an episode starts within it; if one starts within
    `later`, the composition is `later` itself (a_later is already 0 there).
    """
    a_earlier, b_earlier, start_earlier = earlier
    a_later, b_later, start_later = later
    # Selecting zeros keeps inf/NaN before a start out of the values (and the operator's
    # gradients); for finite inputs it equals the plain product with a_later = 0.
    a_earlier = jnp.where(start_later, 0, a_earlier)
    b_earlier = jnp.where(start_later, 0, b_earlier)
    return a_later * a_earlier, a_later * b_earlier + b_later, start_earlier | start_later


def parallel_linear_recurrence(a, b, episode_start, carry):
    """All states h (batch, time, ...) and the last one, from h_{-1} = carry."""
    starts = _expand(episode_start, a)
    a = jnp.where(starts, 0, a)
    # The incoming carry enters through the first step, unless an episode starts there.
    b = b.at[:, 0].add(a[:, 0] * jnp.where(starts[:, 0], 0, carry))
    _, states, _ = jax.lax.associative_scan(_combine, (a, b, starts), axis=1)
    return states[:, -1], states


def sequential_linear_recurrence(a, b, episode_start, carry):
    """The same recurrence as `parallel_linear_recurrence`, one step at a time."""

    def step(state, inputs):
        a_t, b_t, start_t = inputs
        state = jnp.where(_expand(start_t, state), jnp.zeros_like(state), state)
        state = a_t * state + b_t
        return state, state

    time_major = lambda x: jnp.swapaxes(x, 0, 1)
    last, states = jax.lax.scan(step, carry, (time_major(a), time_major(b), time_major(episode_start)))
    return last, time_major(states)


def linear_recurrence(a, b, episode_start, carry, parallel: bool = True):
    """The recurrence by associative scan (`parallel=True`) or step by step."""
    run = parallel_linear_recurrence if parallel else sequential_linear_recurrence
    return run(a, b, episode_start, carry)


def diagonal_ssm_readout(inputs, episode_start, carry, eigenvalues, B, C, skip, parallel: bool = True):
    """Run a diagonal complex state space model, as S5 and LRU do.

    h_t = eigenvalues * h_{t-1} + B x_t,  y_t = Re(C h_t) + skip(x_t), with inputs
    (batch, time, features), B (state, features), C (hidden, state) complex, `skip` a
    per-feature scale (a Param) or a projection to hidden. Returns (carry, y).
    """
    b = jnp.einsum("btf,nf->btn", inputs.astype(B.dtype), B)
    a = jnp.broadcast_to(eigenvalues, b.shape)
    carry, states = linear_recurrence(a, b, episode_start, carry.astype(b.dtype), parallel)
    outputs = jnp.einsum("btn,hn->bth", states, C).real
    return carry, outputs + (skip(inputs) if isinstance(skip, nnx.Module) else inputs * skip[...])
