"""Mamba, FFM and linear attention: parallel scan == sequential scan, carries across
calls and episode starts, each model against its defining equations written out
naively, and construction errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from memorax.networks import BuildError, SequenceModelWrapper, initialize
from memorax.networks.sequence_models import FFM, LinearAttention, Mamba
from tests.networks.recurrence_cases import FEATURES, built, call, nonzero_carry, random_case

FACTORIES = {
    "mamba": lambda parallel: Mamba(hidden_dim=5, state_dim=3, conv_kernel=3, parallel=parallel),
    "mamba_wide_kernel": lambda parallel: Mamba(hidden_dim=3, state_dim=2, conv_kernel=5, expand=1, dt_rank=2, parallel=parallel),
    "mamba_kernel_1": lambda parallel: Mamba(hidden_dim=2, state_dim=2, conv_kernel=1, parallel=parallel),
    "ffm": lambda parallel: FFM(hidden_dim=5, memory_dim=4, context_dim=3, parallel=parallel),
    "linear_attention": lambda parallel: LinearAttention(num_heads=2, head_dim=3, parallel=parallel),
    "linear_attention_relu": lambda parallel: LinearAttention(num_heads=1, head_dim=4, feature_map="relu", parallel=parallel),
}
OUTPUT_WIDTH = {"mamba": 5, "mamba_wide_kernel": 3, "mamba_kernel_1": 2, "ffm": 5, "linear_attention": FEATURES, "linear_attention_relu": FEATURES}


def run_steps(module, inputs, starts, carry):
    outputs = []
    for t in range(inputs.shape[1]):
        carry, out = call(module, inputs[:, t : t + 1], starts[:, t : t + 1], carry)
        outputs.append(out)
    return carry, jnp.concatenate(outputs, axis=1)


def close(a, b, atol=1e-5, rtol=1e-4):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=rtol)


# --- all three models ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_parallel_and_sequential_forms_agree(name, time=9):
    parallel, sequential = built(FACTORIES[name](True)), built(FACTORIES[name](False))
    inputs, starts = random_case(3, time)
    starts = starts.at[0].set(False)  # row 0 never resets: the carry reaches all its outputs
    carry = nonzero_carry(parallel, 3)
    carry_p, out_p = call(parallel, inputs, starts, carry)
    carry_s, out_s = call(sequential, inputs, starts, carry)
    close(out_p, out_s)
    close(carry_p, carry_s)
    _, out_zero = call(parallel, inputs, starts, parallel.initialize_carry(3))
    assert not np.allclose(np.asarray(out_zero[0]), np.asarray(out_p[0]), atol=1e-4)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_carry_shapes_and_output_width(name):
    module = built(FACTORIES[name](True))
    carry = module.initialize_carry(2)
    inputs, starts = random_case(2, 5)
    new_carry, outputs = call(module, inputs, starts, carry)
    assert jax.tree.structure(new_carry) == jax.tree.structure(carry)
    for new, old in zip(jax.tree.leaves(new_carry), jax.tree.leaves(carry)):
        assert new.shape == old.shape and new.dtype == old.dtype and new.shape[0] == 2
    assert outputs.shape == (2, 5, OUTPUT_WIDTH[name]) and outputs.dtype == jnp.float32
    wrapper = built(SequenceModelWrapper(FACTORIES[name](True)))
    _, wrapper_outputs = wrapper(inputs)
    assert wrapper_outputs.shape == (2, 5, OUTPUT_WIDTH[name])


# --- Mamba: the convolution's carry and resets ---------------------------------------


def mamba_reference(model, inputs, starts, carry):
    """Mamba written out one step at a time from its equations in numpy, with a python
    list as the convolution window (emptied at an episode start)."""
    E, N, R, K = model.channels, model.state_dim, model.dt_rank, model.conv_kernel
    p = lambda v: np.asarray(v[...], np.float64)
    kernel, bias, A, D = p(model.conv_kernel_weight), p(model.conv_bias), -np.exp(p(model.A_log)), p(model.D)
    W_in, W_x, W_out = p(model.in_proj.kernel), p(model.x_proj.kernel), p(model.out_proj.kernel)
    W_dt, b_dt = p(model.dt_proj.kernel), p(model.dt_proj.bias)
    silu = lambda v: v / (1.0 + np.exp(-v))
    outputs = np.zeros(inputs.shape[:2] + (model.hidden_dim,))
    for row in range(inputs.shape[0]):
        window = list(np.asarray(carry.conv_state[row], np.float64))  # the K-1 previous conv inputs
        h = np.asarray(carry.ssm_state[row], np.float64)
        for t in range(inputs.shape[1]):
            if starts[row, t]:
                window, h = [np.zeros(E)] * (K - 1), np.zeros((E, N))
            xz = inputs[row, t] @ W_in
            x, z = xz[:E], xz[E:]
            window = (window + [x])[-K:]
            x = silu(sum(kernel[k] * window[k] for k in range(K)) + bias)
            proj = x @ W_x
            delta = np.logaddexp(0.0, proj[:R] @ W_dt + b_dt)  # softplus
            B, C = proj[R : R + N], proj[R + N :]
            h = np.exp(delta[:, None] * A) * h + (delta * x)[:, None] * B[None, :]
            outputs[row, t] = ((h @ C + D * x) * silu(z)) @ W_out
    return outputs


def test_mamba_matches_its_equations_step_by_step():
    model = built(Mamba(hidden_dim=3, state_dim=2, conv_kernel=4, expand=2))
    inputs, _ = random_case(3, 8, seed=5)
    starts = jnp.zeros((3, 8), bool).at[0, 1].set(True).at[1, 2].set(True).at[1, 6].set(True)
    carry = nonzero_carry(model, 3)
    _, outputs = call(model, inputs, starts, carry)
    reference = mamba_reference(model, np.asarray(inputs, np.float64), np.asarray(starts), carry)
    np.testing.assert_allclose(np.asarray(outputs), reference, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("parallel", [True, False])
def test_mamba_one_step_at_a_time_equals_the_whole_sequence_with_early_resets(parallel):
    model = built(Mamba(hidden_dim=4, state_dim=3, conv_kernel=4, parallel=parallel))
    inputs, _ = random_case(4, 9, seed=2)
    # Resets inside the first conv_kernel steps, where the window still reaches the carry.
    starts = jnp.zeros((4, 9), bool).at[0, 0].set(True).at[1, 1].set(True).at[2, 2].set(True).at[2, 3].set(True)
    carry = nonzero_carry(model, 4)
    whole_carry, whole = call(model, inputs, starts, carry)
    step_carry, stepped = run_steps(model, inputs, starts, carry)
    close(stepped, whole)
    close(step_carry, whole_carry)
    # Two calls split inside the window agree as well.
    first_carry, first = call(model, inputs[:, :2], starts[:, :2], carry)
    split_carry, second = call(model, inputs[:, 2:], starts[:, 2:], first_carry)
    close(jnp.concatenate([first, second], axis=1), whole)
    close(split_carry, whole_carry)


def test_mamba_conv_window_does_not_see_inputs_before_an_episode_start():
    model = built(Mamba(hidden_dim=4, state_dim=3, conv_kernel=4))
    inputs, _ = random_case(1, 8, seed=4)
    start = 4
    starts = jnp.zeros((1, 8), bool).at[0, start].set(True)
    carry = nonzero_carry(model, 1)
    _, outputs = call(model, inputs, starts, carry)
    # The step just before the start lies inside the window of the next 3 steps.
    changed_inputs = inputs.at[:, start - 1].add(5.0)
    _, changed = call(model, changed_inputs, starts, carry)
    np.testing.assert_allclose(np.asarray(changed[:, start:]), np.asarray(outputs[:, start:]), atol=1e-6)
    # ... and equals a fresh call started at the episode start.
    _, fresh = call(model, inputs[:, start:], starts[:, start:], model.initialize_carry(1))
    np.testing.assert_allclose(np.asarray(fresh), np.asarray(outputs[:, start:]), atol=1e-5, rtol=1e-5)
    # Without the start the same change does reach those steps: the test can fail.
    no_starts = jnp.zeros_like(starts)
    _, plain = call(model, inputs, no_starts, carry)
    _, plain_changed = call(model, changed_inputs, no_starts, carry)
    assert not np.allclose(np.asarray(plain[:, start]), np.asarray(plain_changed[:, start]), atol=1e-4)


def test_mamba_conv_window_does_not_see_the_previous_call_after_a_start():
    model = built(Mamba(hidden_dim=4, state_dim=3, conv_kernel=4))
    inputs, _ = random_case(2, 6, seed=6)
    first_carry, _ = call(model, inputs[:, :3], jnp.zeros((2, 3), bool), model.initialize_carry(2))
    # Row 0 starts an episode on the first step of the next call, row 1 continues.
    starts = jnp.zeros((2, 3), bool).at[0, 0].set(True)
    _, outputs = call(model, inputs[:, 3:], starts, first_carry)
    other_carry, _ = call(model, inputs[:, :3] + 5.0, jnp.zeros((2, 3), bool), model.initialize_carry(2))
    _, changed = call(model, inputs[:, 3:], starts, other_carry)
    np.testing.assert_allclose(np.asarray(changed[0]), np.asarray(outputs[0]), atol=1e-6)
    assert not np.allclose(np.asarray(changed[1]), np.asarray(outputs[1]), atol=1e-4)


def test_mamba_conv_state_holds_the_last_inputs_of_the_current_episode():
    model = built(Mamba(hidden_dim=2, state_dim=2, conv_kernel=4, expand=1))
    inputs, _ = random_case(2, 5, seed=8)
    starts = jnp.zeros((2, 5), bool).at[1, 3].set(True)
    carry, _ = call(model, inputs, starts, model.initialize_carry(2))
    x = np.asarray(jnp.split(model.in_proj(inputs), 2, axis=-1)[0])
    np.testing.assert_allclose(np.asarray(carry.conv_state[0]), x[0, 2:], atol=1e-6)
    # Row 1 began an episode at step 3: the slot for step 2 is empty.
    np.testing.assert_allclose(np.asarray(carry.conv_state[1, 0]), 0.0)
    np.testing.assert_allclose(np.asarray(carry.conv_state[1, 1:]), x[1, 3:], atol=1e-6)
    # A chunk shorter than the window shifts the carried inputs along.
    short_carry, _ = call(model, inputs[:, :1], jnp.zeros((2, 1), bool), carry)
    np.testing.assert_allclose(np.asarray(short_carry.conv_state[:, :2]), np.asarray(carry.conv_state[:, 1:]), atol=1e-6)


def test_mamba_default_initialisation():
    model = built(Mamba(hidden_dim=32, state_dim=16), features=6)
    assert model.dt_rank == 2 and model.channels == 64
    np.testing.assert_allclose(np.asarray(model.A_log[...][0]), np.log(np.arange(1, 17)), rtol=1e-6)
    dt = np.asarray(nnx.softplus(model.dt_proj.bias[...]))
    assert dt.min() >= 1e-3 * (1 - 1e-4) and dt.max() <= 1e-1 * (1 + 1e-4)
    assert model.initialize_carry(3).conv_state.shape == (3, 3, 64)
    assert model.initialize_carry(3).ssm_state.shape == (3, 64, 16)


# --- FFM ---------------------------------------------------------------------------------


def test_ffm_time_continues_across_calls():
    model = built(FFM(hidden_dim=3, memory_dim=4, context_dim=2))
    inputs, _ = random_case(2, 12, seed=9)
    no_starts = jnp.zeros((2, 12), bool)
    carry = nonzero_carry(model, 2)
    whole_carry, whole = call(model, inputs, no_starts, carry)
    for cut in (1, 5):
        first_carry, first = call(model, inputs[:, :cut], no_starts[:, :cut], carry)
        second_carry, second = call(model, inputs[:, cut:], no_starts[:, cut:], first_carry)
        close(jnp.concatenate([first, second], axis=1), whole)
        close(second_carry, whole_carry)
    # The state is the closed form over the global time index t = 0..T-1:
    # S_T-1 = gamma^T S_-1 + sum_t gamma^(T-1-t) u_t.
    m, h = model.memory_dim, model.hidden_dim
    y, _, gates = jnp.split(model.pre(inputs), [m, m + h], axis=-1)
    u = y * nnx.sigmoid(gates[..., :m])
    gamma = np.asarray(model.gamma(), np.complex128)
    T = inputs.shape[1]
    powers = np.stack([gamma ** (T - 1 - t) for t in range(T)])  # (T, m, c)
    expected = gamma**T * np.asarray(carry) + np.einsum("tmc,btm->bmc", powers, np.asarray(u, np.float64))
    np.testing.assert_allclose(np.asarray(whole_carry), expected, atol=1e-4, rtol=1e-4)


def test_ffm_reset_equals_a_fresh_call():
    model = built(FFM(hidden_dim=3, memory_dim=4, context_dim=2))
    inputs, _ = random_case(1, 10, seed=10)
    starts = jnp.zeros((1, 10), bool).at[0, 6].set(True)
    _, outputs = call(model, inputs, starts, nonzero_carry(model, 1))
    _, fresh = call(model, inputs[:, 6:], starts[:, 6:], model.initialize_carry(1))
    np.testing.assert_allclose(np.asarray(fresh), np.asarray(outputs[:, 6:]), atol=1e-5, rtol=1e-5)


def test_ffm_initialisation_decays():
    model = built(FFM(hidden_dim=8), features=3)
    magnitude = np.abs(np.asarray(model.gamma()))
    assert magnitude.shape == (32, 4) and magnitude.max() < 1.0
    # The slowest memory keeps 1% of an input after max_period steps.
    np.testing.assert_allclose(magnitude.max() ** 1024, 0.01, rtol=1e-3)


# --- linear attention ------------------------------------------------------------------


def quadratic_linear_attention(model, inputs):
    """Causal attention with weights phi(q_t) . phi(k_s), s <= t, normalised per query."""
    q, k, v = model.features(inputs)
    scores = jnp.einsum("bthd,bshd->bhts", q, k)
    causal = jnp.tril(jnp.ones((inputs.shape[1], inputs.shape[1]), bool))
    scores = jnp.where(causal, scores, 0.0)
    attended = jnp.einsum("bhts,bshd->bthd", scores, v) / (scores.sum(-1).transpose(0, 2, 1)[..., None] + 1e-6)
    return model.out_proj(attended.reshape(inputs.shape[:2] + (-1,)))


@pytest.mark.parametrize("feature_map", ["elu", "relu"])
def test_linear_attention_equals_quadratic_causal_attention(feature_map):
    model = built(LinearAttention(num_heads=2, head_dim=3, feature_map=feature_map))
    inputs, _ = random_case(2, 11, seed=11)
    _, outputs = call(model, inputs, jnp.zeros((2, 11), bool), model.initialize_carry(2))
    np.testing.assert_allclose(np.asarray(outputs), np.asarray(quadratic_linear_attention(model, inputs)), atol=1e-5, rtol=1e-4)


def test_linear_attention_reset_equals_a_fresh_call():
    model = built(LinearAttention(num_heads=2, head_dim=3))
    inputs, _ = random_case(2, 10, seed=12)
    starts = jnp.zeros((2, 10), bool).at[0, 4].set(True).at[1, 7].set(True)
    _, outputs = call(model, inputs, starts, nonzero_carry(model, 2))
    for row, start in ((0, 4), (1, 7)):
        _, fresh = call(model, inputs[row : row + 1, start:], starts[row : row + 1, start:], model.initialize_carry(1))
        np.testing.assert_allclose(np.asarray(fresh[0]), np.asarray(outputs[row, start:]), atol=1e-5, rtol=1e-4)
        np.testing.assert_allclose(
            np.asarray(fresh[0]), np.asarray(quadratic_linear_attention(model, inputs[row : row + 1, start:])[0]), atol=1e-5, rtol=1e-4
        )


def test_linear_attention_carry_is_the_sum_of_key_value_products():
    model = built(LinearAttention(num_heads=2, head_dim=3))
    inputs, _ = random_case(1, 6, seed=13)
    carry, _ = call(model, inputs, jnp.zeros((1, 6), bool), model.initialize_carry(1))
    _, k, v = model.features(inputs)
    close(carry.S, jnp.einsum("bthd,bthe->bhde", k, v))
    close(carry.z, k.sum(axis=1))


# --- construction errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Mamba(hidden_dim=0), "Mamba: hidden_dim"),
        (lambda: Mamba(hidden_dim=4, state_dim=2.0), "Mamba: state_dim"),
        (lambda: Mamba(hidden_dim=4, conv_kernel=0), "Mamba: conv_kernel"),
        (lambda: Mamba(hidden_dim=4, expand=True), "Mamba: expand"),
        (lambda: Mamba(hidden_dim=4, dt_rank=-1), "Mamba: dt_rank"),
        (lambda: Mamba(hidden_dim=4, dt_min=0.2, dt_max=0.1), "Mamba: dt_min"),
        (lambda: FFM(hidden_dim=None), "FFM: hidden_dim"),
        (lambda: FFM(hidden_dim=4, memory_dim=0), "FFM: memory_dim"),
        (lambda: FFM(hidden_dim=4, context_dim=-2), "FFM: context_dim"),
        (lambda: FFM(hidden_dim=4, min_period=10, max_period=5), "FFM: min_period"),
        (lambda: LinearAttention(num_heads=0, head_dim=3), "LinearAttention: num_heads"),
        (lambda: LinearAttention(num_heads=2, head_dim="3"), "LinearAttention: head_dim"),
        (lambda: LinearAttention(num_heads=2, head_dim=3, feature_map="softmax"), "LinearAttention: unknown feature_map"),
    ],
)
def test_constructor_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("name", ["mamba", "ffm", "linear_attention"])
def test_wrong_input_shapes_are_rejected(name):
    module = FACTORIES[name](True)
    with pytest.raises(BuildError, match="vector features"):
        initialize([module], jax.random.key(0), (2, 3))
    module = built(FACTORIES[name](True))
    with pytest.raises(BuildError, match="expects input of shape"):
        module(jnp.zeros((2, 3, FEATURES + 1)), jnp.zeros((2, 3), bool), module.initialize_carry(2))
