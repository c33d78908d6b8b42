"""`MinGRU`: the minimal GRU (Feng et al. 2024, "Were RNNs All We Needed?") as a
memorax torso.

The gate and the candidate state depend on the input only, never on h_{t-1}:

    z_t = sigmoid(W_z x_t),    h~_t = W_h x_t,    h_t = (1 - z_t) * h_{t-1} + z_t * h~_t,

so the recurrence is linear in h and runs as a parallel scan with a_t = 1 - z_t and
b_t = z_t * h~_t. Since 0 < 1 - z_t < 1 the state is a convex combination of past
candidates and stays bounded on any sequence length.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from memorax.networks.module import BuildContext, positive_int
from memorax.networks.sequence_models.base import SequenceModel
from memorax.networks.sequence_models.linear_recurrence import linear_recurrence


class MinGRU(SequenceModel):
    """Minimal GRU: an input-gated linear recurrence whose outputs are its states.

    `hidden_dim` is the state and output width. `parallel=True` runs the recurrence as
    an associative scan over time; `parallel=False` steps through it with `lax.scan`,
    with the same results. The plain (not log-space) scan is used: in float32 it stays
    finite, as every a_t lies in (0, 1).
    """

    def __init__(self, hidden_dim: int, parallel: bool = True):
        self.hidden_dim = positive_int(hidden_dim, "MinGRU", "hidden_dim")
        self.parallel = bool(parallel)
        self.gate = nnx.data(None)
        self.candidate = nnx.data(None)

    def describe(self) -> str:
        return f"MinGRU(hidden_dim={self.hidden_dim})"

    def _build(self, context: BuildContext, input_shape):
        features = self.vector_width(input_shape)
        self.gate = nnx.Linear(features, self.hidden_dim, rngs=context.rngs)
        self.candidate = nnx.Linear(features, self.hidden_dim, rngs=context.rngs)
        return (self.hidden_dim,)

    def initialize_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.hidden_dim), jnp.float32)

    def __call__(self, inputs, episode_start, carry):
        """inputs (batch, time, features) -> (carry, (batch, time, hidden_dim))."""
        self.check_input(inputs, leading_axes=2)
        gate = self.gate(inputs)
        z = nnx.sigmoid(gate)
        a = nnx.sigmoid(-gate)  # = 1 - z, without cancellation when z is near 1
        b = z * self.candidate(inputs)
        carry, states = linear_recurrence(a, b, episode_start, carry.astype(b.dtype), self.parallel)
        return carry, states
