"""`Mamba`: the Mamba block (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with
Selective State Spaces") as a memorax torso.

Per step, with E = expand * hidden_dim channels and N = state_dim states per channel:

    x, z = in_proj(u_t)                          (E each)
    x = SiLU(depthwise causal conv over time of x)
    delta = softplus(dt_proj(W_dt x)),  B = W_B x,  C = W_C x
    h_t = exp(delta * A) h_{t-1} + delta * B x_t      (E, N), A = -exp(A_log)
    y_t = out_proj((C h_t + D x_t) * SiLU(z_t))

The convolution looks back `conv_kernel - 1` steps. Those inputs live in the carry, so
a call can continue where the previous one stopped, and the window never reaches back
across an episode start: inputs from before the start count as zeros, exactly as for
the first steps of a fresh sequence. One call, any split into chunks and one step at a
time therefore give the same outputs.

The carry is a `MambaCarry`:
- conv_state (batch, conv_kernel - 1, E): the last inputs of the convolution, oldest
  first, zeros where they precede the current episode;
- ssm_state (batch, E, N): the selective scan's state.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.module import BuildContext, positive_int
from memorax.networks.sequence_models.base import SequenceModel
from memorax.networks.sequence_models.causal_conv import causal_depthwise_conv
from memorax.networks.sequence_models.linear_recurrence import linear_recurrence


class MambaCarry(NamedTuple):
    conv_state: jax.Array
    ssm_state: jax.Array



class Mamba(SequenceModel):
    """Mamba block: gated, convolved input-dependent (selective) diagonal state space.

    `hidden_dim` is the output width; the block works on `expand * hidden_dim` channels
    with `state_dim` real states each. `dt_rank` (default ceil(hidden_dim / 16)) is the
    rank of the projection that makes the timestep delta input-dependent. Initialisation
    follows the reference implementation: A_log = log(1..state_dim) per channel (S4D
    real), D = 1, delta's bias set so softplus(bias) is log-uniform in [dt_min, dt_max],
    the convolution as PyTorch's Conv1d, projections without bias.

    `parallel=True` runs the selective scan as an associative scan over time;
    `parallel=False` steps through it with `lax.scan`, with the same results.
    """

    def __init__(
        self,
        hidden_dim: int,
        state_dim: int = 16,
        conv_kernel: int = 4,
        expand: int = 2,
        dt_rank: int | None = None,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        parallel: bool = True,
    ):
        self.hidden_dim = positive_int(hidden_dim, "Mamba", "hidden_dim")
        self.state_dim = positive_int(state_dim, "Mamba", "state_dim")
        self.conv_kernel = positive_int(conv_kernel, "Mamba", "conv_kernel")
        self.expand = positive_int(expand, "Mamba", "expand")
        self.dt_rank = math.ceil(hidden_dim / 16) if dt_rank is None else positive_int(dt_rank, "Mamba", "dt_rank")
        if not (isinstance(dt_min, (int, float)) and isinstance(dt_max, (int, float)) and 0.0 < dt_min <= dt_max):
            raise ValueError(
                f"Mamba: dt_min and dt_max must satisfy 0 < dt_min <= dt_max, got dt_min={dt_min!r}, dt_max={dt_max!r}."
            )
        self.dt_min = float(dt_min)
        self.dt_max = float(dt_max)
        self.parallel = bool(parallel)
        self.in_proj = nnx.data(None)
        self.conv_kernel_weight = nnx.data(None)
        self.conv_bias = nnx.data(None)
        self.x_proj = nnx.data(None)
        self.dt_proj = nnx.data(None)
        self.A_log = nnx.data(None)
        self.D = nnx.data(None)
        self.out_proj = nnx.data(None)

    @property
    def channels(self) -> int:
        return self.expand * self.hidden_dim

    def describe(self) -> str:
        return (
            f"Mamba(hidden_dim={self.hidden_dim}, state_dim={self.state_dim}, "
            f"conv_kernel={self.conv_kernel}, expand={self.expand})"
        )

    def _build(self, context: BuildContext, input_shape):
        features = self.vector_width(input_shape)
        E, N, R, K = self.channels, self.state_dim, self.dt_rank, self.conv_kernel
        rngs = context.rngs
        self.in_proj = nnx.Linear(features, 2 * E, use_bias=False, rngs=rngs)
        # PyTorch Conv1d default for a depthwise kernel: U(-1/sqrt(K), 1/sqrt(K)).
        bound = 1.0 / math.sqrt(K)
        k_w, k_b = jax.random.split(rngs.params())
        self.conv_kernel_weight = nnx.Param(jax.random.uniform(k_w, (K, E), minval=-bound, maxval=bound))
        self.conv_bias = nnx.Param(jax.random.uniform(k_b, (E,), minval=-bound, maxval=bound))
        self.x_proj = nnx.Linear(E, R + 2 * N, use_bias=False, rngs=rngs)
        dt_bound = R**-0.5
        dt = jnp.exp(
            jax.random.uniform(rngs.params(), (E,), minval=math.log(self.dt_min), maxval=math.log(self.dt_max))
        )
        dt = jnp.maximum(dt, 1e-4)
        # Inverse softplus, so that softplus(bias) = dt at initialisation.
        dt_bias = dt + jnp.log(-jnp.expm1(-dt))
        self.dt_proj = nnx.Linear(
            R,
            E,
            kernel_init=lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -dt_bound, dt_bound),
            bias_init=lambda key, shape, dtype=jnp.float32: dt_bias.astype(dtype),
            rngs=rngs,
        )
        self.A_log = nnx.Param(jnp.log(jnp.broadcast_to(jnp.arange(1, N + 1, dtype=jnp.float32), (E, N))))
        self.D = nnx.Param(jnp.ones((E,), jnp.float32))
        self.out_proj = nnx.Linear(E, self.hidden_dim, use_bias=False, rngs=rngs)
        return (self.hidden_dim,)

    def initialize_carry(self, batch_size: int) -> MambaCarry:
        return MambaCarry(
            conv_state=jnp.zeros((batch_size, self.conv_kernel - 1, self.channels), jnp.float32),
            ssm_state=jnp.zeros((batch_size, self.channels, self.state_dim), jnp.float32),
        )

    def __call__(self, inputs, episode_start, carry):
        """inputs (batch, time, features) -> (carry, (batch, time, hidden_dim))."""
        self.check_input(inputs, leading_axes=2)
        carry = MambaCarry(*carry)
        starts = jnp.asarray(episode_start).astype(bool)
        N, R = self.state_dim, self.dt_rank
        x, z = jnp.split(self.in_proj(inputs), 2, axis=-1)
        x, conv_state = causal_depthwise_conv(x, carry.conv_state, starts, self.conv_kernel_weight[...], self.conv_bias[...])
        x = nnx.silu(x)
        dt_low, B, C = jnp.split(self.x_proj(x), [R, R + N], axis=-1)
        delta = nnx.softplus(self.dt_proj(dt_low))  # (batch, time, E)
        A = -jnp.exp(self.A_log[...])  # (E, N), negative so exp(delta * A) lies in (0, 1)
        a = jnp.exp(delta[..., None] * A)
        b = (delta * x)[..., None] * B[:, :, None, :]  # (batch, time, E, N)
        ssm_state, states = linear_recurrence(a, b, starts, carry.ssm_state.astype(b.dtype), self.parallel)
        y = jnp.einsum("bten,btn->bte", states, C) + self.D[...] * x
        outputs = self.out_proj(y * nnx.silu(z))
        return MambaCarry(conv_state=conv_state, ssm_state=ssm_state), outputs


__all__ = ["Mamba", "MambaCarry"]
