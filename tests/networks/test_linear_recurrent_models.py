"""LRU, S5 and MinGRU: parallel scan == sequential scan, carries, construction errors,
and one behaviour check per model against its defining equations."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.networks import BuildError, SequenceModelWrapper, initialize
from memorax.networks.sequence_models import LRU, S5, MinGRU
from tests.networks.recurrence_cases import FEATURES, built, call, nonzero_carry, random_case

FACTORIES = {
    "lru": lambda parallel: LRU(hidden_dim=5, parallel=parallel),
    "lru_state_dim": lambda parallel: LRU(hidden_dim=3, state_dim=6, r_min=0.9, r_max=0.999, parallel=parallel),
    "s5": lambda parallel: S5(hidden_dim=5, state_dim=4, parallel=parallel),
    "s5_square": lambda parallel: S5(hidden_dim=4, state_dim=8, parallel=parallel),
    "mingru": lambda parallel: MinGRU(hidden_dim=6, parallel=parallel),
}
STATE_WIDTH = {"lru": 5, "lru_state_dim": 6, "s5": 4, "s5_square": 8, "mingru": 6}
OUTPUT_WIDTH = {"lru": 5, "lru_state_dim": 3, "s5": 5, "s5_square": 4, "mingru": 6}


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("time", [1, 7, pytest.param(64, marks=pytest.mark.slow)])
def test_parallel_and_sequential_forms_agree(name, time):
    parallel, sequential = built(FACTORIES[name](True)), built(FACTORIES[name](False))
    inputs, starts = random_case(3, time)
    carry = nonzero_carry(parallel, 3)
    # Row 0 never resets, so the incoming carry reaches every one of its outputs.
    starts = starts.at[0].set(False)
    carry_p, out_p = call(parallel, inputs, starts, carry)
    carry_s, out_s = call(sequential, inputs, starts, carry)
    np.testing.assert_allclose(np.asarray(out_p), np.asarray(out_s), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(carry_p), np.asarray(carry_s), atol=1e-5, rtol=1e-4)
    # The incoming carry matters for the row that never resets.
    _, out_zero = call(parallel, inputs, starts, parallel.initialize_carry(3))
    assert not np.allclose(np.asarray(out_zero[0]), np.asarray(out_p[0]), atol=1e-4)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_carry_shapes_and_output_width(name):
    module = built(FACTORIES[name](True))
    carry = module.initialize_carry(2)
    assert carry.shape == (2, STATE_WIDTH[name])
    assert jax.tree.structure(carry) == jax.tree.structure(jnp.zeros(1))
    inputs, starts = random_case(2, 5)
    new_carry, outputs = call(module, inputs, starts, carry)
    assert new_carry.shape == carry.shape and new_carry.dtype == carry.dtype
    assert outputs.shape == (2, 5, OUTPUT_WIDTH[name])
    assert outputs.dtype == jnp.float32
    # Works behind the torso wrapper with its defaults (no starts, no carry).
    wrapper = SequenceModelWrapper(FACTORIES[name](True))
    built(wrapper)
    wrapper_carry, wrapper_outputs = wrapper(inputs)
    assert wrapper_outputs.shape == (2, 5, OUTPUT_WIDTH[name])
    assert wrapper_carry.shape == carry.shape


@pytest.mark.parametrize(
    "make, owner, field",
    [
        (lambda: LRU(hidden_dim=0), "LRU", "hidden_dim"),
        (lambda: LRU(hidden_dim=2.5), "LRU", "hidden_dim"),
        (lambda: LRU(hidden_dim=True), "LRU", "hidden_dim"),
        (lambda: LRU(hidden_dim=4, state_dim=-1), "LRU", "state_dim"),
        (lambda: LRU(hidden_dim=4, r_min=0.5, r_max=0.4), "LRU", "r_min"),
        (lambda: LRU(hidden_dim=4, r_max=1.5), "LRU", "r_max"),
        (lambda: LRU(hidden_dim=4, max_phase=0.0), "LRU", "max_phase"),
        (lambda: S5(hidden_dim=0, state_dim=4), "S5", "hidden_dim"),
        (lambda: S5(hidden_dim=4, state_dim=0), "S5", "state_dim"),
        (lambda: S5(hidden_dim=4, state_dim="8"), "S5", "state_dim"),
        (lambda: S5(hidden_dim=4, state_dim=4, dt_min=0.0), "S5", "dt_min"),
        (lambda: S5(hidden_dim=4, state_dim=4, dt_min=0.5, dt_max=0.1), "S5", "dt_max"),
        (lambda: MinGRU(hidden_dim=0), "MinGRU", "hidden_dim"),
        (lambda: MinGRU(hidden_dim=None), "MinGRU", "hidden_dim"),
    ],
)
def test_bad_sizes_fail_at_construction(make, owner, field):
    with pytest.raises(ValueError, match=rf"^{owner}: .*{field}"):
        make()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_non_vector_features_and_wrong_widths_fail_clearly(name):
    with pytest.raises(BuildError, match="vector features"):
        initialize([FACTORIES[name](True)], jax.random.key(0), (2, 3))
    module = built(FACTORIES[name](True))
    with pytest.raises(BuildError, match=r"expects input of shape \(batch, time, 4\)"):
        module(jnp.zeros((2, 5, 3)), jnp.zeros((2, 5), bool), module.initialize_carry(2))


@pytest.mark.parametrize("r_min, r_max, max_phase", [(0.0, 1.0, 2 * math.pi), (0.9, 0.999, math.pi / 10), (0.4, 0.5, 1.0)])
def test_lru_eigenvalues_start_on_the_ring(r_min, r_max, max_phase):
    module = LRU(hidden_dim=4, state_dim=256, r_min=r_min, r_max=r_max, max_phase=max_phase)
    built(module)
    eigenvalues = np.asarray(module.eigenvalues())
    magnitude = np.abs(eigenvalues)
    assert np.all(magnitude >= r_min - 1e-6) and np.all(magnitude <= r_max + 1e-6)
    assert np.all(magnitude < 1.0)
    phase = np.mod(np.angle(eigenvalues), 2 * np.pi)
    assert np.all(phase <= max_phase + 1e-5)
    # The normalisation gamma = sqrt(1 - |lambda|^2) at initialisation.
    np.testing.assert_allclose(np.exp(np.asarray(module.gamma_log[...])), np.sqrt(1 - magnitude**2), rtol=1e-3, atol=1e-6)
    # Uniform by area on the ring: |lambda|^2 is uniform, so its mean is the midpoint.
    assert abs(np.mean(magnitude**2) - (r_min**2 + r_max**2) / 2) < 0.1 * (r_max**2 - r_min**2)


def test_lru_matches_its_equations_step_by_step():
    module = built(LRU(hidden_dim=FEATURES, state_dim=3))  # elementwise D
    inputs, starts = random_case(2, 6, seed=5)
    carry = nonzero_carry(module, 2)
    _, outputs = call(module, inputs, starts, carry)
    lam = np.asarray(module.eigenvalues())
    gamma = np.exp(np.asarray(module.gamma_log[...]))
    B = np.asarray(module.B_re[...]) + 1j * np.asarray(module.B_im[...])
    C = np.asarray(module.C_re[...]) + 1j * np.asarray(module.C_im[...])
    D = np.asarray(module.D[...])
    x, h = np.asarray(inputs), np.asarray(carry)
    for t in range(6):
        h = np.where(np.asarray(starts[:, t])[:, None], 0, h)
        h = lam * h + gamma * (x[:, t] @ B.T)
        expected = (h @ C.T).real + D * x[:, t]
        np.testing.assert_allclose(np.asarray(outputs[:, t]), expected, atol=1e-5, rtol=1e-4)


def test_s5_output_after_a_reset_equals_a_fresh_start():
    module = built(S5(hidden_dim=FEATURES, state_dim=6))
    inputs, _ = random_case(2, 12, seed=9)
    starts = jnp.zeros((2, 12), bool).at[:, 5].set(True)
    _, outputs = call(module, inputs, starts, nonzero_carry(module, 2))
    _, fresh = call(module, inputs[:, 5:], jnp.zeros((2, 7), bool), module.initialize_carry(2))
    np.testing.assert_allclose(np.asarray(outputs[:, 5:]), np.asarray(fresh), atol=1e-5, rtol=1e-5)


def test_s5_initialisation_is_hippo_n_and_discretisation_is_zero_order_hold():
    module = built(S5(hidden_dim=3, state_dim=8))
    np.testing.assert_allclose(np.asarray(module.Lambda_re[...]), -0.5, atol=1e-6)
    imag = np.sort(np.asarray(module.Lambda_im[...]))
    np.testing.assert_allclose(imag, -imag[::-1], atol=1e-4)  # eigenvalues come in conjugate pairs
    step = np.exp(np.asarray(module.log_step[...]))
    assert np.all(step >= 0.001 - 1e-7) and np.all(step <= 0.1 + 1e-7)
    lam_bar, B_bar = module.discretize()
    lam = np.asarray(module.Lambda_re[...]) + 1j * np.asarray(module.Lambda_im[...])
    np.testing.assert_allclose(np.asarray(lam_bar), np.exp(lam * step), rtol=1e-5)
    assert np.all(np.abs(np.asarray(lam_bar)) < 1.0)
    # ZOH of a constant input u over one step: h = (exp(L dt) - 1) / L * B u exactly.
    B = np.asarray(module.B_re[...]) + 1j * np.asarray(module.B_im[...])
    np.testing.assert_allclose(np.asarray(B_bar), ((np.exp(lam * step) - 1) / lam)[:, None] * B, rtol=1e-4, atol=1e-7)


def test_mingru_matches_its_equations_and_interpolates_towards_the_candidate():
    module = built(MinGRU(hidden_dim=3))
    inputs, starts = random_case(2, 6, seed=11)
    carry = nonzero_carry(module, 2)
    _, outputs = call(module, inputs, starts, carry)
    z = np.asarray(jax.nn.sigmoid(module.gate(inputs)))
    candidate = np.asarray(module.candidate(inputs))
    h = np.asarray(carry)
    for t in range(6):
        h = np.where(np.asarray(starts[:, t])[:, None], 0, h)
        h = (1 - z[:, t]) * h + z[:, t] * candidate[:, t]
        np.testing.assert_allclose(np.asarray(outputs[:, t]), h, atol=1e-5, rtol=1e-4)
    # Each state is a convex combination of the previous state and the candidate.
    previous = np.concatenate([np.asarray(carry)[:, None], np.asarray(outputs[:, :-1])], axis=1)
    previous = np.where(np.asarray(starts)[..., None], 0, previous)
    low, high = np.minimum(previous, candidate), np.maximum(previous, candidate)
    assert np.all(np.asarray(outputs) >= low - 1e-5) and np.all(np.asarray(outputs) <= high + 1e-5)


@pytest.mark.parametrize("name", ["lru", "s5", "mingru"])
def test_long_sequences_agree_between_forms_and_stay_finite(name):
    parallel, sequential = built(FACTORIES[name](True)), built(FACTORIES[name](False))
    inputs, starts = random_case(1, 2048, seed=13, reset_probability=0.001)
    carry = parallel.initialize_carry(1)
    _, out_p = call(parallel, inputs, starts, carry)
    _, out_s = call(sequential, inputs, starts, carry)
    assert np.all(np.isfinite(np.asarray(out_p)))
    np.testing.assert_allclose(np.asarray(out_p), np.asarray(out_s), atol=1e-3, rtol=1e-3)
