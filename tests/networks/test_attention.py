"""SelfAttention: windowed causal attention with a key/value cache as the carry."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from memorax.networks import initialize
from memorax.networks.blocks import FFN, PreNorm, Residual, Stack
from memorax.networks.sequence_models import SelfAttention
from memorax.networks.sequence_models.attention import POSITIONAL_ENCODINGS, alibi_slopes, rotate

ENCODINGS = list(POSITIONAL_ENCODINGS)


@partial(jax.jit, static_argnums=0)
def _call(graphdef, state, inputs, episode_start, carry):
    return nnx.merge(graphdef, state)(inputs, episode_start, carry)


def call(module, inputs, episode_start, carry):
    return _call(*nnx.split(module), inputs, episode_start, carry)


def built(width=5, num_heads=2, head_dim=3, context_length=4, positional_encoding="rope", seed=0):
    module = SelfAttention(num_heads, head_dim, context_length, positional_encoding)
    initialize([module], jax.random.key(seed), (width,))
    if positional_encoding == "learned":
        # Make the learned bias large enough that a wrong distance would show.
        bias = jax.random.normal(jax.random.key(seed + 99), module.distance_bias.shape)
        module.distance_bias[...] = bias
    return module


def data(batch, time, width, seed, p_start=0.25):
    inputs = jax.random.normal(jax.random.key(seed), (batch, time, width))
    starts = jax.random.bernoulli(jax.random.key(seed + 1), p_start, (batch, time))
    return inputs, starts


def step_by_step(module, inputs, starts, carry, chunk=1):
    outputs = []
    time = inputs.shape[1]
    for lo in range(0, time, chunk):
        carry, out = call(module, inputs[:, lo : lo + chunk], starts[:, lo : lo + chunk], carry)
        outputs.append(out)
    return carry, jnp.concatenate(outputs, axis=1)


def reference(module, inputs, starts):
    """Attention written out per query from the whole history, starting a new episode
    at step 0: query t sees steps max(episode start, t - L + 1) .. t."""
    L, H, D = module.context_length, module.num_heads, module.head_dim
    batch, time, _ = inputs.shape
    q = np.asarray(module.query_proj(inputs)).reshape(batch, time, H, D)
    k = np.asarray(module.key_proj(inputs)).reshape(batch, time, H, D)
    v = np.asarray(module.value_proj(inputs)).reshape(batch, time, H, D)
    starts = np.asarray(starts).copy()
    starts[:, 0] = True
    episode_start = np.maximum.accumulate(np.where(starts, np.arange(time), 0), axis=1)
    positions = np.arange(time) - episode_start
    if module.positional_encoding == "rope":
        q = np.asarray(rotate(jnp.asarray(q), jnp.asarray(positions)))
        k = np.asarray(rotate(jnp.asarray(k), jnp.asarray(positions)))
    attended = np.zeros((batch, time, H, D), np.float32)
    for b in range(batch):
        for t in range(time):
            seen = np.arange(max(episode_start[b, t], t - L + 1), t + 1)
            scores = np.einsum("hd,jhd->hj", q[b, t], k[b, seen]) / np.sqrt(D)
            distance = t - seen
            if module.positional_encoding == "alibi":
                scores = scores - np.asarray(alibi_slopes(H))[:, None] * distance
            elif module.positional_encoding == "learned":
                scores = scores + np.asarray(module.distance_bias[...])[:, distance]
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            weights /= weights.sum(-1, keepdims=True)
            attended[b, t] = np.einsum("hj,jhd->hd", weights, v[b, seen])
    return np.asarray(module.out_proj(jnp.asarray(attended.reshape(batch, time, H * D))))


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("time", [1, 3, 4, 8, 11])
def test_matches_per_query_reference(encoding, time):
    module = built(positional_encoding=encoding)
    inputs, starts = data(2, time, 5, seed=time)
    _, outputs = call(module, inputs, starts, module.initialize_carry(2))
    np.testing.assert_allclose(outputs, reference(module, inputs, starts), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("chunks_of_context", [1, 2])
def test_one_call_equals_one_step_at_a_time(encoding, chunks_of_context):
    """Chunk length == context_length and == 2 * context_length, then continued."""
    L = 4
    module = built(context_length=L, positional_encoding=encoding)
    time = chunks_of_context * L
    inputs, starts = data(3, 3 * time, 5, seed=7)
    carry = module.initialize_carry(3)
    whole_carry, whole = call(module, inputs, starts, carry)
    for chunk in (1, time, 3):
        chunk_carry, chunked = step_by_step(module, inputs, starts, carry, chunk)
        np.testing.assert_allclose(chunked, whole, atol=1e-5, rtol=1e-5)
        for a, b in zip(jax.tree.leaves(chunk_carry), jax.tree.leaves(whole_carry)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_never_attends_across_an_episode_start(encoding):
    module = built(context_length=6, positional_encoding=encoding)
    inputs, _ = data(2, 10, 5, seed=3)
    starts = jnp.zeros((2, 10), bool).at[0, 4].set(True).at[1, 7].set(True)
    first_carry, first = call(module, inputs[:, :6], starts[:, :6], module.initialize_carry(2))
    _, second = call(module, inputs[:, 6:], starts[:, 6:], first_carry)
    outputs = jnp.concatenate([first, second], axis=1)

    noise = 5.0 * jax.random.normal(jax.random.key(11), inputs.shape)
    before = jnp.arange(10)[None, :, None] < jnp.array([4, 7])[:, None, None]
    changed_inputs = jnp.where(before, inputs + noise, inputs)
    changed_carry, first = call(module, changed_inputs[:, :6], starts[:, :6], module.initialize_carry(2))
    _, second = call(module, changed_inputs[:, 6:], starts[:, 6:], changed_carry)
    changed = jnp.concatenate([first, second], axis=1)
    np.testing.assert_allclose(changed[0, 4:], outputs[0, 4:], atol=1e-6)
    np.testing.assert_allclose(changed[1, 7:], outputs[1, 7:], atol=1e-6)
    assert not np.allclose(changed[0, :4], outputs[0, :4], atol=1e-3)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("split", [None, 5])
def test_window_is_bounded_by_context_length(encoding, split):
    """Output t depends on input j exactly when t - L < j <= t, also across calls."""
    L, time, t = 4, 10, 8
    module = built(context_length=L, positional_encoding=encoding)
    inputs, _ = data(1, time, 5, seed=5)
    starts = jnp.zeros((1, time), bool)

    def run(x):
        if split is None:
            return call(module, x, starts, module.initialize_carry(1))[1]
        return step_by_step(module, x, starts, module.initialize_carry(1), split)[1]

    outputs = run(inputs)
    for j in range(time):
        changed = run(inputs.at[0, j].add(3.0))
        depends = not np.allclose(changed[0, t], outputs[0, t], atol=1e-6)
        assert depends == (t - L < j <= t), (j, depends)


def test_rope_depends_only_on_relative_positions():
    """Starting the episode's position counter at 1000 instead of 0 changes nothing."""
    module = built(positional_encoding="rope")
    inputs, starts = data(2, 9, 5, seed=2, p_start=0.0)
    carry = module.initialize_carry(2)
    _, outputs = call(module, inputs, starts, carry)
    shifted_carry = carry._replace(position=carry.position + 1000)
    new_carry, shifted = call(module, inputs, starts, shifted_carry)
    np.testing.assert_allclose(shifted, outputs, atol=1e-4, rtol=1e-4)
    np.testing.assert_array_equal(new_carry.position, [1009, 1009])


def test_rope_positions_restart_at_episode_starts():
    module = built(positional_encoding="rope")
    inputs, _ = data(1, 6, 5, seed=2)
    starts = jnp.zeros((1, 6), bool).at[0, 3].set(True)
    carry = module.initialize_carry(1)._replace(position=jnp.array([50], jnp.int32))
    new_carry, _ = call(module, inputs, starts, carry)
    np.testing.assert_array_equal(new_carry.position, [3])
    new_carry, _ = call(module, inputs, jnp.zeros((1, 6), bool), carry)
    np.testing.assert_array_equal(new_carry.position, [56])


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_carry_shapes_and_output_width(encoding):
    module = built(width=7, num_heads=3, head_dim=2, context_length=5, positional_encoding=encoding)
    carry = module.initialize_carry(4)
    assert carry.keys.shape == carry.values.shape == (4, 5, 3, 2)
    assert carry.mask.shape == (4, 5) and carry.mask.dtype == jnp.bool_
    if encoding == "rope":
        assert carry.position.shape == (4,) and carry.position.dtype == jnp.int32
    else:
        assert carry.position is None
    inputs, starts = data(4, 3, 7, seed=0)
    new_carry, outputs = call(module, inputs, starts, carry)
    assert outputs.shape == (4, 3, 7)
    assert jax.tree.structure(new_carry) == jax.tree.structure(carry)
    assert all(a.shape == b.shape and a.dtype == b.dtype
               for a, b in zip(jax.tree.leaves(new_carry), jax.tree.leaves(carry)))


def test_only_self_visible_gives_finite_outputs_and_grads():
    """Every step an episode start: each query sees only itself (no NaN)."""
    module = built(positional_encoding="alibi")
    inputs, _ = data(2, 6, 5, seed=1)
    starts = jnp.ones((2, 6), bool)
    graphdef, state = nnx.split(module)

    def loss(state):
        _, out = nnx.merge(graphdef, state)(inputs, starts, module.initialize_carry(2))
        return jnp.sum(out**2)

    grads = jax.grad(loss)(state)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    # Attending to itself alone, a query returns its own value, projected back.
    v = module.value_proj(inputs)
    np.testing.assert_allclose(call(module, inputs, starts, module.initialize_carry(2))[1],
                               module.out_proj(v), atol=1e-5)


def test_transformer_block_builds_and_runs():
    torso = Stack(blocks=[PreNorm(Residual(SelfAttention(num_heads=4, head_dim=16))),
                          PreNorm(Residual(FFN(hidden_dim=32)))])
    initialize([torso], jax.random.key(0), (8,))
    inputs, starts = data(2, 5, 8, seed=0)
    carry, outputs = call(torso, inputs, starts, torso.initialize_carry(2))
    assert outputs.shape == (2, 5, 8)
    assert carry[0].keys.shape == (2, 64, 4, 16)


def test_unknown_positional_encoding_lists_the_choices():
    with pytest.raises(ValueError) as error:
        SelfAttention(num_heads=2, head_dim=4, positional_encoding="sinusoidal")
    for name in POSITIONAL_ENCODINGS:
        assert repr(name) in str(error.value)


@pytest.mark.parametrize("argument", ["num_heads", "head_dim", "context_length"])
@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_sizes_must_be_positive_ints(argument, bad):
    kwargs = dict(num_heads=2, head_dim=4, context_length=8)
    kwargs[argument] = bad
    with pytest.raises(ValueError, match=argument):
        SelfAttention(**kwargs)


def test_rope_needs_an_even_pair_of_features():
    with pytest.raises(ValueError, match="head_dim"):
        SelfAttention(num_heads=2, head_dim=1)
    SelfAttention(num_heads=2, head_dim=1, positional_encoding="none")
