"""`FFM`: Fast and Forgetful Memory (Morad et al. 2023, "Reinforcement Learning with
Fast and Forgetful Memory") as a memorax torso.

Per step, with m = memory_dim and c = context_dim:

    y, thru, g = pre(x_t)                        (m, hidden_dim, m + hidden_dim)
    in_gate, out_gate = sigmoid(g)
    S_t = gamma * S_{t-1} + (y * in_gate) 1_c^T    (m, c) complex
    gamma[i, j] = exp(alpha_i + i omega_j),  alpha < 0 (decay), omega (frequency)
    out_t = LayerNorm(mix([Re S_t, Im S_t])) * out_gate + thru * (1 - out_gate)

The aggregator is run in its recurrence form: the state decays by gamma once per step,
so there is no explicit time index to restart at 0 in every call (the closed form with
gamma^t, used by the reference code, needs the step count carried across calls). A call
continues where the previous one stopped, however the sequence is chunked.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from flax import nnx

from memorax.networks.module import BuildContext, positive_int
from memorax.networks.sequence_models.base import SequenceModel
from memorax.networks.sequence_models.linear_recurrence import linear_recurrence

# The reference code's strongest initial decay: its overflow limit for 1024-step
# batches in float64 (log(max float64) / 1024 - 0.01), plus its 0.01 fudge factor.
_FASTEST_DECAY = -(math.log(np.finfo(np.float64).max) / 1024 - 0.01) + 0.01
_MAX_DECAY = -1e-6  # alpha is clipped below this, so |gamma| < 1 and the state stays bounded



class FFM(SequenceModel):
    """Fast and Forgetful Memory: a gated complex diagonal recurrence with learned
    decays (alpha, one per memory row) and frequencies (omega, one per context column).

    `hidden_dim` is the output width, the state is `memory_dim x context_dim` complex.
    Initialisation follows the reference code: alpha linearly spaced from its fastest
    decay (about exp(-0.67) per step) to the decay that forgets 99% after `max_period`
    steps (`forgotten_at` = 0.01), omega = 2 pi / linspace(min_period, max_period).

    `parallel=True` runs the recurrence as an associative scan over time;
    `parallel=False` steps through it with `lax.scan`, with the same results.
    """

    def __init__(
        self,
        hidden_dim: int,
        memory_dim: int = 32,
        context_dim: int = 4,
        min_period: float = 1.0,
        max_period: float = 1024.0,
        parallel: bool = True,
    ):
        self.hidden_dim = positive_int(hidden_dim, "FFM", "hidden_dim")
        self.memory_dim = positive_int(memory_dim, "FFM", "memory_dim")
        self.context_dim = positive_int(context_dim, "FFM", "context_dim")
        if not (
            isinstance(min_period, (int, float))
            and isinstance(max_period, (int, float))
            and not isinstance(min_period, bool)
            and not isinstance(max_period, bool)
            and 0.0 < min_period <= max_period
        ):
            raise ValueError(
                "FFM: min_period and max_period must satisfy 0 < min_period <= max_period, "
                f"got min_period={min_period!r}, max_period={max_period!r}."
            )
        self.min_period = float(min_period)
        self.max_period = float(max_period)
        self.parallel = bool(parallel)
        self.pre = nnx.data(None)
        self.alpha = nnx.data(None)
        self.omega = nnx.data(None)
        self.mix = nnx.data(None)
        self.norm = nnx.data(None)

    def describe(self) -> str:
        return f"FFM(hidden_dim={self.hidden_dim}, memory_dim={self.memory_dim}, context_dim={self.context_dim})"

    def _build(self, context: BuildContext, input_shape):
        features = self.vector_width(input_shape)
        m, c, h = self.memory_dim, self.context_dim, self.hidden_dim
        rngs = context.rngs
        self.pre = nnx.Linear(features, 2 * m + 2 * h, rngs=rngs)
        slowest = max(min(_MAX_DECAY, math.log(0.01) / self.max_period), _FASTEST_DECAY)
        self.alpha = nnx.Param(jnp.linspace(_FASTEST_DECAY, slowest, m, dtype=jnp.float32))
        self.omega = nnx.Param(2 * jnp.pi / jnp.linspace(self.min_period, self.max_period, c, dtype=jnp.float32))
        self.mix = nnx.Linear(2 * m * c, h, rngs=rngs)
        # No affine part and torch's epsilon, as in the reference code.
        self.norm = nnx.LayerNorm(h, epsilon=1e-5, use_bias=False, use_scale=False, rngs=rngs)
        return (h,)

    def gamma(self):
        """The per-step decay and rotation exp(alpha + i omega), shape (memory_dim, context_dim)."""
        self.require_built()
        alpha = jnp.minimum(self.alpha[...], _MAX_DECAY)
        return jnp.exp(alpha[:, None] + 1j * self.omega[...][None, :])

    def initialize_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.memory_dim, self.context_dim), jnp.complex64)

    def __call__(self, inputs, episode_start, carry):
        """inputs (batch, time, features) -> (carry, (batch, time, hidden_dim))."""
        self.check_input(inputs, leading_axes=2)
        m, h = self.memory_dim, self.hidden_dim
        y, thru, gates = jnp.split(self.pre(inputs), [m, m + h], axis=-1)
        in_gate, out_gate = jnp.split(nnx.sigmoid(gates), [m], axis=-1)
        gamma = self.gamma()
        # Every context column of a memory row receives the same input.
        b = jnp.broadcast_to((y * in_gate)[..., None], y.shape + gamma.shape[-1:]).astype(gamma.dtype)
        a = jnp.broadcast_to(gamma, b.shape)
        carry, states = linear_recurrence(a, b, jnp.asarray(episode_start).astype(bool), carry.astype(b.dtype), self.parallel)
        flat = states.reshape(states.shape[:2] + (-1,))
        z = self.mix(jnp.concatenate([flat.real, flat.imag], axis=-1))
        outputs = self.norm(z) * out_gate + thru * (1.0 - out_gate)
        return carry, outputs


__all__ = ["FFM"]
