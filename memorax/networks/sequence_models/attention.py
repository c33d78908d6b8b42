"""`SelfAttention`: causal multi-head self-attention over a bounded window.

Each query at step t attends to itself and the previous `context_length - 1` steps of
the same episode, never across an episode start and never further back. Steps from
earlier calls come from the carry, a key/value cache of the last `context_length`
steps, so one call over a sequence, any split into chunks and one step at a time all
give the same outputs.

The carry is a `KVCache`:
- keys, values (batch, context_length, num_heads, head_dim): the last steps, oldest
  first (the last slot is the step just before the next call); RoPE keys are stored
  already rotated;
- mask (batch, context_length) bool: which slots hold a step of the episode active at
  the end of the previous call;
- position (batch,) int32, RoPE only (None otherwise): the position in its episode of
  the next step; positions restart at 0 at every episode start.

Computation: the cache (L slots) and the current chunk (T steps) are concatenated into
L + T slots. Queries are processed in blocks of `min(T, L)` steps; a block sees only
the `block + L` slots its window can reach, so memory grows as T * L rather than T^2.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.module import BuildContext, positive_int
from memorax.networks.sequence_models.base import SequenceModel

POSITIONAL_ENCODINGS = ("rope", "alibi", "learned", "none")

_MASKED = -1e30  # added to masked scores; softmax runs in float32


class KVCache(NamedTuple):
    keys: jax.Array
    values: jax.Array
    mask: jax.Array
    position: jax.Array | None = None



def alibi_slopes(num_heads: int) -> jax.Array:
    """The ALiBi head slopes 2^(-8 h / num_heads), h = 1..num_heads (Press et al.)."""
    return 2.0 ** (-8.0 * jnp.arange(1, num_heads + 1, dtype=jnp.float32) / num_heads)


def rotate(x, positions, base: float = 10000.0):
    """Rotary position embedding (half-split convention) of x (..., T, H, D) at
    integer positions (..., T). With an odd head_dim the last feature is not rotated."""
    head_dim = x.shape[-1]
    half = head_dim // 2
    if half == 0:
        return x
    frequencies = base ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angles = positions.astype(jnp.float32)[..., None, None] * frequencies  # (..., T, 1, half)
    cos, sin = jnp.cos(angles), jnp.sin(angles)
    x1, x2, rest = x[..., :half], x[..., half : 2 * half], x[..., 2 * half :]
    x1f, x2f = x1.astype(jnp.float32), x2.astype(jnp.float32)
    rotated = jnp.concatenate([x1f * cos - x2f * sin, x2f * cos + x1f * sin], axis=-1).astype(x.dtype)
    return jnp.concatenate([rotated, rest], axis=-1)


class SelfAttention(SequenceModel):
    """Causal multi-head self-attention over the last `context_length` steps.

    `SelfAttention(num_heads=4, head_dim=16)`: queries, keys and values are projected
    to `num_heads * head_dim` features, and the attended values projected back to the
    input width, so the module fits inside `Residual`. `positional_encoding` is one of
    "rope" (rotary, on positions within the episode), "alibi" (a linear penalty on the
    distance, one slope per head), "learned" (a learned bias per head and distance
    0..context_length-1) or "none".
    """

    def __init__(
        self,
        num_heads: int,
        head_dim: int,
        context_length: int = 64,
        positional_encoding: str = "rope",
    ):
        self.num_heads = positive_int(num_heads, "SelfAttention", "num_heads")
        self.head_dim = positive_int(head_dim, "SelfAttention", "head_dim")
        self.context_length = positive_int(context_length, "SelfAttention", "context_length")
        if positional_encoding not in POSITIONAL_ENCODINGS:
            raise ValueError(
                f"SelfAttention: unknown positional_encoding {positional_encoding!r}; "
                f"choose one of {', '.join(repr(p) for p in POSITIONAL_ENCODINGS)}."
            )
        if positional_encoding == "rope" and head_dim < 2:
            raise ValueError(
                "SelfAttention: positional_encoding='rope' rotates pairs of features and "
                f"needs head_dim >= 2, got {head_dim}."
            )
        self.positional_encoding = positional_encoding
        self.query_proj = nnx.data(None)
        self.key_proj = nnx.data(None)
        self.value_proj = nnx.data(None)
        self.out_proj = nnx.data(None)
        self.distance_bias = nnx.data(None)

    def describe(self) -> str:
        return (
            f"SelfAttention(num_heads={self.num_heads}, head_dim={self.head_dim}, "
            f"context_length={self.context_length}, positional_encoding={self.positional_encoding!r})"
        )

    def _build(self, context: BuildContext, input_shape):
        width = self.vector_width(input_shape)
        inner = self.num_heads * self.head_dim
        rngs = context.rngs
        self.query_proj = nnx.Linear(width, inner, use_bias=False, rngs=rngs)
        self.key_proj = nnx.Linear(width, inner, use_bias=False, rngs=rngs)
        self.value_proj = nnx.Linear(width, inner, use_bias=False, rngs=rngs)
        self.out_proj = nnx.Linear(inner, width, rngs=rngs)
        if self.positional_encoding == "learned":
            init = nnx.initializers.normal(stddev=0.02)
            self.distance_bias = nnx.Param(init(rngs.params(), (self.num_heads, self.context_length)))
        return input_shape

    def initialize_carry(self, batch_size: int) -> KVCache:
        shape = (batch_size, self.context_length, self.num_heads, self.head_dim)
        return KVCache(
            keys=jnp.zeros(shape, jnp.float32),
            values=jnp.zeros(shape, jnp.float32),
            mask=jnp.zeros((batch_size, self.context_length), bool),
            position=jnp.zeros((batch_size,), jnp.int32) if self.positional_encoding == "rope" else None,
        )

    def __call__(self, inputs, episode_start, carry):
        """inputs (batch, time, features) -> (carry, outputs (batch, time, features))."""
        self.check_input(inputs, leading_axes=2)
        batch, time = inputs.shape[:2]
        L, H, D = self.context_length, self.num_heads, self.head_dim
        starts = jnp.asarray(episode_start).astype(bool)
        carry = KVCache(*carry)

        q = self.query_proj(inputs).reshape(batch, time, H, D)
        k = self.key_proj(inputs).reshape(batch, time, H, D)
        v = self.value_proj(inputs).reshape(batch, time, H, D)
        steps = jnp.arange(time)

        new_position = None
        if self.positional_encoding == "rope":
            # Position within the episode: counted from the latest start in this chunk,
            # or continuing the carried counter when there is none yet.
            last_start = jax.lax.cummax(jnp.where(starts, steps, -1), axis=1)
            carried = jnp.asarray(carry.position).astype(jnp.int32)[:, None] + steps
            positions = jnp.where(last_start >= 0, steps - last_start, carried)
            q, k = rotate(q, positions), rotate(k, positions)
            new_position = positions[:, -1] + 1

        # Slots: the L cached steps (times -L..-1), then the chunk (times 0..T-1).
        keys = jnp.concatenate([jnp.asarray(carry.keys).astype(k.dtype), k], axis=1)
        values = jnp.concatenate([jnp.asarray(carry.values).astype(v.dtype), v], axis=1)
        episode = jnp.cumsum(starts, axis=1, dtype=jnp.int32)  # episode id of each step
        slot_episode = jnp.concatenate([jnp.zeros((batch, L), jnp.int32), episode], axis=1)
        slot_valid = jnp.concatenate([jnp.asarray(carry.mask).astype(bool), jnp.ones((batch, time), bool)], axis=1)

        # Query blocks of `block` steps; block i sees slots i*block .. i*block+block+L-1.
        block = min(time, L)
        num_blocks = -(-time // block)
        padded = num_blocks * block
        pad = padded - time
        pad_time = lambda x, value=0: jnp.pad(
            x, [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2), constant_values=value
        )
        span = jnp.arange(num_blocks)[:, None] * block + jnp.arange(block + L)  # (blocks, block+L)
        keys_b, values_b = pad_time(keys)[:, span], pad_time(values)[:, span]  # (B, nb, S, H, D)
        slot_episode_b = pad_time(slot_episode, -1)[:, span]  # (B, nb, S)
        slot_valid_b = pad_time(slot_valid, False)[:, span]
        q_b = pad_time(q).reshape(batch, num_blocks, block, H, D)
        query_episode_b = pad_time(episode, -2).reshape(batch, num_blocks, block)

        # Query a of a block sits in slot a + L of its span; it sees slots a+1..a+L.
        a = jnp.arange(block)[:, None]
        c = jnp.arange(block + L)[None, :]
        distance = a + L - c  # (block, S): how many steps back the slot is
        in_window = (distance >= 0) & (distance < L)
        mask = (
            in_window[None, None]
            & slot_valid_b[:, :, None, :]
            & (slot_episode_b[:, :, None, :] == query_episode_b[:, :, :, None])
        )  # (B, nb, block, S)

        scores = jnp.einsum(
            "bnqhd,bnshd->bnhqs", q_b.astype(jnp.float32), keys_b.astype(jnp.float32)
        ) / math.sqrt(D)
        if self.positional_encoding == "alibi":
            scores = scores - alibi_slopes(H)[:, None, None] * distance.astype(jnp.float32)
        elif self.positional_encoding == "learned":
            bias = jnp.asarray(self.distance_bias[...], jnp.float32)[:, jnp.clip(distance, 0, L - 1)]
            scores = scores + bias  # (H, block, S)
        scores = jnp.where(mask[:, :, None], scores, _MASKED)
        weights = jax.nn.softmax(scores, axis=-1)
        # A masked slot's weight is 0, but 0 times a value that overflowed (inf or NaN,
        # say from a LayerNorm of huge inputs before an episode start) is NaN: such
        # values are read as 0, and a query that does see one reads NaN.
        finite = jnp.all(jnp.isfinite(values_b), axis=(-2, -1))  # (B, nb, S)
        values_b = jnp.where(finite[..., None, None], values_b, 0.0)
        attended = jnp.einsum("bnhqs,bnshd->bnqhd", weights, values_b.astype(jnp.float32))
        sees_overflow = jnp.any(mask & ~finite[:, :, None, :], axis=-1)  # (B, nb, block)
        attended = jnp.where(sees_overflow[..., None, None], jnp.nan, attended)
        attended = attended.reshape(batch, padded, H * D)[:, :time].astype(inputs.dtype)
        outputs = self.out_proj(attended)

        # The new cache: the last L slots, valid where they belong to the episode that
        # is active at the end of this chunk.
        tail = slice(time, time + L)
        new_carry = KVCache(
            keys=keys[:, tail].astype(jnp.float32),
            values=values[:, tail].astype(jnp.float32),
            mask=slot_valid[:, tail] & (slot_episode[:, tail] == episode[:, -1:]),
            position=new_position,
        )
        return new_carry, outputs


__all__ = ["POSITIONAL_ENCODINGS", "KVCache", "SelfAttention", "alibi_slopes", "rotate"]
