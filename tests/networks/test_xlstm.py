"""sLSTM and mLSTM: the stabilised cells against naive float64 references, the mLSTM
convolution state across calls and episode starts, large pre-activations, and
constructor checks. (The general torso laws run in test_sequence_laws.py.)"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from memorax.networks import initialize
from memorax.networks.sequence_models import mLSTM, sLSTM
from tests.networks.recurrence_cases import call


def built(module, width, seed=0):
    initialize([module], jax.random.key(seed), (width,))
    return module


def p(x):
    return np.asarray(x[...], np.float64)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def naive_slstm(module, inputs, starts):
    """The paper's sLSTM equations, unstabilised, in float64."""
    W, b, R = p(module.input_proj.kernel), p(module.input_proj.bias), p(module.recurrent)
    H, d, hd = module.num_heads, module.head_dim, module.hidden_dim
    x = np.asarray(inputs, np.float64)
    batch, time, _ = x.shape
    out = np.zeros((batch, time, hd))
    for row in range(batch):
        c = n = h = np.zeros(hd)
        for t in range(time):
            if starts[row, t]:
                c = n = h = np.zeros(hd)
            rec = np.einsum("hd,hde->he", h.reshape(H, d), R).reshape(H, 4, d).transpose(1, 0, 2).reshape(4, hd)
            pre = (x[row, t] @ W + b).reshape(4, hd) + rec
            i, f, z, o = np.exp(pre[0]), sigmoid(pre[1]), np.tanh(pre[2]), sigmoid(pre[3])
            c = f * c + i * z
            n = f * n + i
            h = o * c / n
            out[row, t] = h
    return out


def naive_mlstm(module, inputs, starts):
    """The paper's mLSTM equations (with this module's causal conv), unstabilised, in
    float64; inputs before an episode start count as zeros in the conv window."""
    H, d, hd, K = module.num_heads, module.head_dim, module.hidden_dim, module.conv_kernel
    x = np.asarray(inputs, np.float64) @ p(module.input_proj.kernel) + p(module.input_proj.bias)
    w, cb = p(module.conv_weight), p(module.conv_bias)
    batch, time, _ = x.shape
    out = np.zeros((batch, time, hd))
    for row in range(batch):
        episode_begin = 0
        C, n = np.zeros((H, d, d)), np.zeros((H, d))
        for t in range(time):
            if starts[row, t]:
                episode_begin = t
                C, n = np.zeros((H, d, d)), np.zeros((H, d))
            conv = cb + sum(w[K - 1 - j] * x[row, t - j] for j in range(K) if t - j >= episode_begin)
            xc = conv * sigmoid(conv)
            q = (xc @ p(module.query.kernel)).reshape(H, d)
            k = (xc @ p(module.key.kernel)).reshape(H, d) / np.sqrt(d)
            v = (x[row, t] @ p(module.value.kernel)).reshape(H, d)
            gates = x[row, t] @ p(module.gates.kernel) + p(module.gates.bias)
            i, f = np.exp(gates[:H]), sigmoid(gates[H:])
            o = sigmoid(x[row, t] @ p(module.output_gate.kernel) + p(module.output_gate.bias))
            C = f[:, None, None] * C + i[:, None, None] * v[:, :, None] * k[:, None, :]
            n = f[:, None] * n + i[:, None] * k
            denominator = np.maximum(np.abs(np.sum(n * q, axis=-1)), 1.0)
            out[row, t] = o * (np.einsum("hvk,hk->hv", C, q) / denominator[:, None]).reshape(hd)
    return out


def case(width=3, batch=2, time=9, scale=1.0, seed=1):
    inputs = scale * jax.random.normal(jax.random.key(seed), (batch, time, width))
    starts = np.zeros((batch, time), bool)
    starts[0, 0] = True
    if batch > 1:
        starts[1, [0, 2, 6]] = True  # resets inside the first conv_kernel steps too
    return inputs, jnp.asarray(starts)


@pytest.mark.parametrize("scale", [1.0, 40.0])
def test_slstm_matches_naive_float64(scale):
    """scale=40 drives i~ past 88, where exp(i~) overflows float32 in the naive form;
    the stabilised float32 cell still agrees with the float64 reference."""
    module = built(sLSTM(hidden_dim=6, num_heads=2), 3)
    inputs, starts = case(scale=scale)
    _, outputs = module(inputs, starts, module.initialize_carry(2))
    expected = naive_slstm(module, inputs, np.asarray(starts))
    np.testing.assert_allclose(np.asarray(outputs), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("scale", [1.0, 40.0])
def test_mlstm_matches_naive_float64(scale):
    module = built(mLSTM(hidden_dim=6, num_heads=2, conv_kernel=3), 3)
    inputs, starts = case(scale=scale)
    _, outputs = module(inputs, starts, module.initialize_carry(2))
    expected = naive_mlstm(module, inputs, np.asarray(starts))
    np.testing.assert_allclose(np.asarray(outputs), expected, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_slstm_normaliser_stays_at_least_one():
    """The invariant that makes h = o c / n safe: n >= 1 on every reachable state."""
    module = built(sLSTM(hidden_dim=4, num_heads=2), 3)
    inputs, starts = case(time=40, scale=30.0)
    carry = module.initialize_carry(2)
    for t in range(inputs.shape[1]):
        carry, _ = call(module, inputs[:, t : t + 1], starts[:, t : t + 1], carry)
        assert float(carry.n.min()) >= 1.0


def random_carry(module, batch, seed):
    carry = module.initialize_carry(batch)
    leaves, treedef = jax.tree.flatten(carry)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(treedef, [leaf + jax.random.normal(k, leaf.shape) for leaf, k in zip(leaves, keys)])


@pytest.mark.parametrize("conv_kernel", [1, 2, 4])
def test_mlstm_one_step_at_a_time_equals_whole_sequence(conv_kernel):
    """The conv window crosses call boundaries through the carry, resets included."""
    module = built(mLSTM(hidden_dim=4, num_heads=2, conv_kernel=conv_kernel), 3)
    inputs, starts = case(time=8)
    carry = random_carry(module, 2, seed=3)  # a non-empty conv state, which must be used
    whole_carry, whole = call(module, inputs, starts, carry)
    step_carry, pieces = carry, []
    for t in range(inputs.shape[1]):
        step_carry, piece = call(module, inputs[:, t : t + 1], starts[:, t : t + 1], step_carry)
        pieces.append(piece)
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-5, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(step_carry), jax.tree.leaves(whole_carry)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_mlstm_input_before_episode_start_is_invisible_within_a_call():
    module = built(mLSTM(hidden_dim=4, num_heads=2, conv_kernel=4), 3)
    inputs, _ = case(batch=1, time=10)
    starts = jnp.zeros((1, 10), bool).at[0, 5].set(True)
    carry = module.initialize_carry(1)
    _, outputs = module(inputs, starts, carry)
    # Steps 2..4 are inside the conv window of steps 5..7, but before the start.
    _, changed = module(inputs.at[:, 2:5].add(5.0), starts, carry)
    np.testing.assert_allclose(changed[:, 5:], outputs[:, 5:], atol=1e-6)
    assert not np.allclose(changed[:, 2:5], outputs[:, 2:5])


@pytest.mark.parametrize("start_in_second_call", [True, False])
def test_mlstm_input_before_episode_start_is_invisible_across_calls(start_in_second_call):
    """The start is the first step of the next call, or the last step of this one (then
    the carried conv inputs before it must already be zeroed)."""
    module = built(mLSTM(hidden_dim=4, num_heads=2, conv_kernel=4), 3)
    inputs, _ = case(batch=1, time=10)
    start_at = 5 if start_in_second_call else 4
    starts = jnp.zeros((1, 10), bool).at[0, start_at].set(True)

    def run(x):
        carry, first = module(x[:, :5], starts[:, :5], module.initialize_carry(1))
        _, second = module(x[:, 5:], starts[:, 5:], carry)
        return jnp.concatenate([first, second], axis=1)

    outputs = run(inputs)
    changed = run(inputs.at[:, start_at - 3 : start_at].add(5.0))
    np.testing.assert_allclose(changed[:, start_at:], outputs[:, start_at:], atol=1e-6)


@functools.partial(jax.jit, static_argnums=(0, 1))
def grads_and_outputs(graphdef, chunk_size, state, inputs, starts, carry):
    """Gradients of a loss over outputs and carry, with the outputs and carry; one
    program per chunk size, shared by every case."""

    def loss(state):
        module = nnx.merge(graphdef, state)
        module.chunk_size = chunk_size
        new_carry, outputs = module(inputs, starts, carry)
        return jnp.sum(outputs**2) + jnp.sum(new_carry.C), (new_carry, outputs)

    return jax.grad(loss, has_aux=True)(state)


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_mlstm_chunkwise_form_matches_the_sequential_one(scale):
    """Outputs, carry and gradients, with resets, a non-empty carry and chunk sizes
    that do and do not divide the sequence length."""
    sequential = built(mLSTM(hidden_dim=6, num_heads=2, conv_kernel=3), 3)
    graphdef, state = nnx.split(sequential)
    inputs, starts = case(time=11, scale=scale)
    carry = random_carry(sequential, 2, seed=5)
    run = lambda chunk_size: grads_and_outputs(graphdef, chunk_size, state, inputs, starts, carry)

    grads, (expected_carry, expected) = run(None)
    for chunk_size in (1, 4, 11, 16):
        chunk_grads, (chunk_carry, outputs) = run(chunk_size)
        np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)
        for a, b in zip(jax.tree.leaves(chunk_carry), jax.tree.leaves(expected_carry)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        for a, b in zip(jax.tree.leaves(chunk_grads), jax.tree.leaves(grads)):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * (1 + float(jnp.abs(b).max())))


@pytest.mark.parametrize(
    "make",
    [
        lambda: sLSTM(8, num_heads=2),
        lambda: mLSTM(8, num_heads=2, conv_kernel=4),
        lambda: mLSTM(8, num_heads=2, conv_kernel=4, chunk_size=16),
    ],
)
def test_large_preactivations_stay_finite_with_finite_gradients(make):
    module = built(make(), 4)
    graphdef, state = nnx.split(module)
    inputs = 100.0 * jax.random.normal(jax.random.key(2), (2, 256, 4))
    starts = jnp.zeros((2, 256), bool).at[:, 0].set(True).at[1, 100].set(True)

    @jax.jit
    def loss(state):
        m = nnx.merge(graphdef, state)
        _, outputs = m(inputs, starts, m.initialize_carry(2))
        return jnp.mean(outputs**2), outputs

    grads, outputs = jax.grad(loss, has_aux=True)(state)
    assert bool(jnp.all(jnp.isfinite(outputs)))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: sLSTM(0), "hidden_dim"),
        (lambda: sLSTM(4.0), "hidden_dim"),
        (lambda: sLSTM(True), "hidden_dim"),
        (lambda: sLSTM(4, num_heads=0), "num_heads"),
        (lambda: sLSTM(6, num_heads=4), "divisible"),
        (lambda: mLSTM(-1), "hidden_dim"),
        (lambda: mLSTM(8, num_heads=3), "divisible"),
        (lambda: mLSTM(8, num_heads=2, conv_kernel=0), "conv_kernel"),
        (lambda: mLSTM(8, num_heads=2, conv_kernel=2.5), "conv_kernel"),
        (lambda: mLSTM(8, num_heads=2, chunk_size=0), "chunk_size"),
    ],
)
def test_constructor_errors_name_class_and_field(make, field):
    with pytest.raises(ValueError) as error:
        make()
    message = str(error.value)
    assert ("sLSTM" in message or "mLSTM" in message) and field in message
