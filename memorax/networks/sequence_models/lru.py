"""`LRU`: the Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent
Neural Networks for Long Sequences") as a memorax torso.

The state follows the complex diagonal recurrence

    h_t = lambda * h_{t-1} + gamma * (B x_t),    y_t = Re(C h_t) + D x_t,

with lambda = exp(-exp(nu_log) + i exp(theta_log)), so |lambda| < 1 for any
parameters: the recurrence is stable throughout training. Complex parameters are
stored as separate real and imaginary parts, so optimisers and gradients only ever
see real arrays.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.module import BuildContext, positive_int
from memorax.networks.sequence_models.base import SequenceModel
from memorax.networks.sequence_models.linear_recurrence import diagonal_ssm_readout


class LRU(SequenceModel):
    """Linear Recurrent Unit: a complex diagonal linear recurrence with ring
    initialisation and gamma normalisation, read out as Re(C h) + D x.

    `hidden_dim` is the output width, `state_dim` (default `hidden_dim`) the number of
    complex state units. At initialisation the eigenvalue magnitudes |lambda| are drawn
    uniformly on the ring r_min <= |lambda| <= r_max (uniform in area) and the phases
    uniformly in [0, max_phase]. The defaults r_min=0, r_max=1, max_phase=2*pi are
    those of the paper's reference code; its long-range tasks use r_min=0.9,
    r_max=0.999, max_phase=pi/10, which favour long memories.

    D is elementwise (as in the paper) when the input width equals `hidden_dim`, and a
    bias-free Linear layer otherwise. `parallel=True` runs the recurrence as an
    associative scan over time; `parallel=False` steps through it with `lax.scan`,
    with the same results.
    """

    def __init__(
        self,
        hidden_dim: int,
        state_dim: int | None = None,
        r_min: float = 0.0,
        r_max: float = 1.0,
        max_phase: float = 2 * math.pi,
        parallel: bool = True,
    ):
        self.hidden_dim = positive_int(hidden_dim, "LRU", "hidden_dim")
        self.state_dim = hidden_dim if state_dim is None else positive_int(state_dim, "LRU", "state_dim")
        if not (isinstance(r_min, (int, float)) and isinstance(r_max, (int, float)) and 0.0 <= r_min < r_max <= 1.0):
            raise ValueError(f"LRU: r_min and r_max must satisfy 0 <= r_min < r_max <= 1, got r_min={r_min!r}, r_max={r_max!r}.")
        if not (isinstance(max_phase, (int, float)) and max_phase > 0):
            raise ValueError(f"LRU: max_phase must be a positive number, got {max_phase!r}.")
        self.r_min = float(r_min)
        self.r_max = float(r_max)
        self.max_phase = float(max_phase)
        self.parallel = bool(parallel)
        self.nu_log = nnx.data(None)
        self.theta_log = nnx.data(None)
        self.gamma_log = nnx.data(None)
        self.B_re = nnx.data(None)
        self.B_im = nnx.data(None)
        self.C_re = nnx.data(None)
        self.C_im = nnx.data(None)
        self.D = nnx.data(None)

    def describe(self) -> str:
        return f"LRU(hidden_dim={self.hidden_dim}, state_dim={self.state_dim})"

    def _build(self, context: BuildContext, input_shape):
        features = self.vector_width(input_shape)
        n, h = self.state_dim, self.hidden_dim
        k_mag, k_phase, k_b_re, k_b_im, k_c_re, k_c_im, k_d = jax.random.split(context.rngs.params(), 7)
        # Uniform on the ring by area: |lambda|^2 ~ U[r_min^2, r_max^2]. The draw stays
        # strictly inside (0, 1) so neither log below meets 0.
        tiny = 1e-6
        u = jax.random.uniform(k_mag, (n,), minval=tiny, maxval=1.0 - tiny)
        magnitude_sq = jnp.clip(u * (self.r_max**2 - self.r_min**2) + self.r_min**2, tiny, 1.0 - tiny)
        nu = -0.5 * jnp.log(magnitude_sq)  # |lambda| = exp(-nu)
        self.nu_log = nnx.Param(jnp.log(nu))
        phase = jax.random.uniform(k_phase, (n,), minval=tiny, maxval=1.0) * self.max_phase
        self.theta_log = nnx.Param(jnp.log(phase))
        # gamma = sqrt(1 - |lambda|^2) keeps the state's variance at that of B x for white
        # noise inputs, however close |lambda| is to 1 (the paper's normalisation).
        self.gamma_log = nnx.Param(0.5 * jnp.log1p(-magnitude_sq))
        # Paper initialisation: complex Glorot-like B and C, the 1/sqrt(2) splitting the
        # variance between real and imaginary parts.
        b_scale = 1.0 / math.sqrt(2 * features)
        c_scale = 1.0 / math.sqrt(n)
        self.B_re = nnx.Param(jax.random.normal(k_b_re, (n, features)) * b_scale)
        self.B_im = nnx.Param(jax.random.normal(k_b_im, (n, features)) * b_scale)
        self.C_re = nnx.Param(jax.random.normal(k_c_re, (h, n)) * c_scale)
        self.C_im = nnx.Param(jax.random.normal(k_c_im, (h, n)) * c_scale)
        if features == h:
            self.D = nnx.Param(jax.random.normal(k_d, (h,)))
        else:
            # The skip D x must land in hidden_dim, so it becomes a projection.
            self.D = nnx.Linear(features, h, use_bias=False, rngs=nnx.Rngs(params=k_d))
        return (h,)

    def eigenvalues(self):
        """The complex diagonal lambda of the recurrence, shape (state_dim,)."""
        self.require_built()
        return jnp.exp(-jnp.exp(self.nu_log[...]) + 1j * jnp.exp(self.theta_log[...]))

    def initialize_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.state_dim), jnp.complex64)

    def __call__(self, inputs, episode_start, carry):
        """inputs (batch, time, features) -> (carry, (batch, time, hidden_dim))."""
        self.check_input(inputs, leading_axes=2)
        lam = self.eigenvalues()
        B = (self.B_re[...] + 1j * self.B_im[...]) * jnp.exp(self.gamma_log[...])[:, None]
        C = self.C_re[...] + 1j * self.C_im[...]
        return diagonal_ssm_readout(inputs, episode_start, carry, lam, B, C, self.D, self.parallel)
