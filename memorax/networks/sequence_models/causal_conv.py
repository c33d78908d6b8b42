"""Depthwise causal convolution over time that respects episode starts.

Mamba and mLSTM convolve their inputs over the last few steps. Run on a sequence
chunk by chunk, the convolution needs the inputs of the previous chunk: they travel in
the carry (`conv_state`). Inputs from before an episode start must not reach the steps
after it, within a chunk or across chunks; they count as zeros.
"""

from __future__ import annotations

import jax.numpy as jnp


def causal_depthwise_conv(x, conv_state, episode_start, kernel, bias):
    """Depthwise causal convolution over time that respects episode starts.

    x (batch, time, channels), conv_state (batch, K-1, channels) the K-1 previous
    inputs, kernel (K, channels) with kernel[K-1] weighting the current step. Returns
    (outputs (batch, time, channels), the new conv_state).
    """
    batch, time, _ = x.shape
    width = kernel.shape[0]
    history = width - 1
    padded = jnp.concatenate([conv_state.astype(x.dtype), x], axis=1)  # (B, K-1+T, C)
    # Episode id of every slot: carried slots belong to the episode that is active at
    # the start of the call (id 0); each start in the chunk opens a new id.
    episode = jnp.cumsum(jnp.asarray(episode_start).astype(jnp.int32), axis=1)
    slot_episode = jnp.concatenate([jnp.zeros((batch, history), jnp.int32), episode], axis=1)
    outputs = jnp.zeros_like(x)
    for k in range(width):
        # Slot t + k is k - (K-1) steps back from step t; it only counts if it lies in
        # step t's episode, so inputs before an episode start act as zeros.
        same = (slot_episode[:, k : k + time] == episode)[..., None]
        outputs = outputs + jnp.where(same, padded[:, k : k + time], 0.0) * kernel[k]
    tail = padded[:, time:]
    # The new state keeps only inputs of the episode active at the end of the call.
    keep = (slot_episode[:, time:] == episode[:, -1:])[..., None]
    return outputs + bias, jnp.where(keep, tail, 0.0)
