"""The causal convolution Mamba and mLSTM share, against a plain loop."""

import jax
import jax.numpy as jnp
import numpy as np

from memorax.networks.sequence_models.causal_conv import causal_depthwise_conv


def test_causal_conv_matches_a_loop():
    batch, time, channels, K = 2, 7, 3, 3
    keys = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(keys[0], (batch, time, channels))
    state = jax.random.normal(keys[1], (batch, K - 1, channels))
    kernel = jax.random.normal(keys[2], (K, channels))
    bias = jax.random.normal(keys[3], (channels,))
    starts = np.zeros((batch, time), bool)
    starts[1, [1, 6]] = True
    outputs, new_state = causal_depthwise_conv(x, state, jnp.asarray(starts), kernel, bias)
    for row in range(batch):
        history = np.concatenate([np.asarray(state[row]), np.asarray(x[row])])  # time -(K-1)..
        begin = -(K - 1)
        for t in range(time):
            if starts[row, t]:
                begin = t
            expected = np.asarray(bias) + sum(
                np.asarray(kernel[K - 1 - j]) * history[t - j + K - 1] for j in range(K) if t - j >= begin
            )
            np.testing.assert_allclose(outputs[row, t], expected, atol=1e-5)
    np.testing.assert_allclose(new_state[0], x[0, -2:])
    # Row 1's episode began at the last step: the step before it is not carried.
    np.testing.assert_allclose(new_state[1], np.stack([np.zeros(channels), x[1, -1]]))
