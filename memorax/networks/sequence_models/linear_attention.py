"""`LinearAttention`: causal linear attention (Katharopoulos et al. 2020, "Transformers
are RNNs") as a memorax torso.

With a positive feature map phi, causal attention with the kernel phi(q) . phi(k)
becomes a recurrence over a per-head matrix state and normaliser:

    S_t = S_{t-1} + phi(k_t) v_t^T     (head_dim, head_dim)
    z_t = z_{t-1} + phi(k_t)            (head_dim,)
    out_t = phi(q_t)^T S_t / (phi(q_t)^T z_t + eps)

so each step attends to every earlier step of its episode at a constant cost. The
output is a weighted average of values, which keeps it bounded on any sequence length.
An episode start empties S and z. The carry is a `LinearAttentionCarry` (S (batch,
num_heads, head_dim, head_dim), z (batch, num_heads, head_dim)).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.module import BuildContext, positive_int
from memorax.networks.sequence_models.base import SequenceModel
from memorax.networks.sequence_models.linear_recurrence import linear_recurrence

FEATURE_MAPS = {
    "elu": lambda x: nnx.elu(x) + 1.0,
    "relu": nnx.relu,
}

_EPS = 1e-6


class LinearAttentionCarry(NamedTuple):
    S: jax.Array
    z: jax.Array



class LinearAttention(SequenceModel):
    """Causal multi-head linear attention over the whole episode so far.

    `LinearAttention(num_heads=4, head_dim=16)`: queries, keys and values are projected
    to `num_heads * head_dim` features and the attended values projected back to the
    input width, so the module fits inside `Residual`. `feature_map` is "elu"
    (phi = elu + 1, the paper's) or "relu".

    `parallel=True` accumulates the state with an associative scan over time;
    `parallel=False` steps through it with `lax.scan`, with the same results.
    """

    def __init__(self, num_heads: int, head_dim: int, feature_map: str = "elu", parallel: bool = True):
        self.num_heads = positive_int(num_heads, "LinearAttention", "num_heads")
        self.head_dim = positive_int(head_dim, "LinearAttention", "head_dim")
        if feature_map not in FEATURE_MAPS:
            raise ValueError(
                f"LinearAttention: unknown feature_map {feature_map!r}; choose one of "
                f"{', '.join(repr(name) for name in FEATURE_MAPS)}."
            )
        self.feature_map = feature_map
        self.parallel = bool(parallel)
        self.query_proj = nnx.data(None)
        self.key_proj = nnx.data(None)
        self.value_proj = nnx.data(None)
        self.out_proj = nnx.data(None)

    def describe(self) -> str:
        return (
            f"LinearAttention(num_heads={self.num_heads}, head_dim={self.head_dim}, "
            f"feature_map={self.feature_map!r})"
        )

    def _build(self, context: BuildContext, input_shape):
        width = self.vector_width(input_shape)
        inner = self.num_heads * self.head_dim
        rngs = context.rngs
        self.query_proj = nnx.Linear(width, inner, use_bias=False, rngs=rngs)
        self.key_proj = nnx.Linear(width, inner, use_bias=False, rngs=rngs)
        self.value_proj = nnx.Linear(width, inner, use_bias=False, rngs=rngs)
        self.out_proj = nnx.Linear(inner, width, rngs=rngs)
        return input_shape

    def initialize_carry(self, batch_size: int) -> LinearAttentionCarry:
        H, D = self.num_heads, self.head_dim
        return LinearAttentionCarry(
            S=jnp.zeros((batch_size, H, D, D), jnp.float32),
            z=jnp.zeros((batch_size, H, D), jnp.float32),
        )

    def features(self, inputs):
        """phi(q), phi(k) and v, each (batch, time, num_heads, head_dim)."""
        batch, time = inputs.shape[:2]
        H, D = self.num_heads, self.head_dim
        phi = FEATURE_MAPS[self.feature_map]
        split = lambda x: x.reshape(batch, time, H, D)
        return (
            phi(split(self.query_proj(inputs))),
            phi(split(self.key_proj(inputs))),
            split(self.value_proj(inputs)),
        )

    def __call__(self, inputs, episode_start, carry):
        """inputs (batch, time, features) -> (carry, outputs (batch, time, features))."""
        self.check_input(inputs, leading_axes=2)
        carry = LinearAttentionCarry(*carry)
        batch, time = inputs.shape[:2]
        q, k, v = self.features(inputs)
        # One scan for both sums: the normaliser z is an extra value column of ones.
        v1 = jnp.concatenate([v, jnp.ones(v.shape[:-1] + (1,), v.dtype)], axis=-1)
        b = k[..., :, None] * v1[..., None, :]  # (batch, time, H, D, D+1)
        state = jnp.concatenate([carry.S, carry.z[..., None]], axis=-1).astype(b.dtype)
        last, states = linear_recurrence(jnp.ones_like(b), b, jnp.asarray(episode_start).astype(bool), state, self.parallel)
        read = jnp.einsum("bthd,bthde->bthe", q, states)
        attended = read[..., :-1] / (read[..., -1:] + _EPS)
        outputs = self.out_proj(attended.reshape(batch, time, -1))
        return LinearAttentionCarry(S=last[..., :-1], z=last[..., -1]), outputs


__all__ = ["FEATURE_MAPS", "LinearAttention", "LinearAttentionCarry"]
