"""`cheap_uniforms`: many numbers from one threefry block must still look like
independent uniforms in [0, 1)."""

import jax
import jax.numpy as jnp
import numpy as np

from memorax.environments.memory.uniforms import cheap_uniforms, uniform_integer

NUM_KEYS = 50_000
COUNT = 8  # numbers per key, as a task draws them in one reset


def draws(seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), NUM_KEYS)
    return np.asarray(
        jax.vmap(lambda key: cheap_uniforms(key, COUNT))(keys), np.float64
    )


def test_shape_dtype_range_and_determinism():
    key = jax.random.PRNGKey(1)
    numbers = cheap_uniforms(key, 5)
    assert numbers.shape == (5,) and numbers.dtype == np.float32
    np.testing.assert_array_equal(numbers, cheap_uniforms(key, 5))
    # The first numbers do not depend on how many are drawn.
    np.testing.assert_array_equal(numbers[:3], cheap_uniforms(key, 3))
    sample = draws()
    assert sample.min() >= 0.0 and sample.max() < 1.0


def test_every_counter_has_the_uniform_mean_and_variance():
    sample = draws()
    # Standard errors: mean 1/sqrt(12 n) = 0.0013, variance about 0.0004.
    np.testing.assert_allclose(sample.mean(0), 0.5, atol=0.006)
    np.testing.assert_allclose(sample.var(0), 1 / 12, atol=0.002)


def test_counts_over_bins_pass_a_chi_square_test():
    sample = draws(seed=2)
    bins = 20
    for counter in range(COUNT):
        counts = np.bincount((sample[:, counter] * bins).astype(int), minlength=bins)
        expected = NUM_KEYS / bins
        chi_square = ((counts - expected) ** 2 / expected).sum()
        # 19 degrees of freedom: the 99.99th percentile is 50.8.
        assert chi_square < 50.8, (counter, chi_square)


def test_counters_and_keys_are_uncorrelated():
    sample = draws(seed=3)
    # Across counters of one key, including the pair (u_i, u_j) in every order.
    correlations = np.corrcoef(sample, rowvar=False)
    off_diagonal = correlations[~np.eye(COUNT, dtype=bool)]
    # Standard error 1/sqrt(n) = 0.0045.
    assert np.abs(off_diagonal).max() < 0.02
    # Across neighbouring keys, for the same counter.
    neighbours = [
        np.corrcoef(sample[:-1, c], sample[1:, c])[0, 1] for c in range(COUNT)
    ]
    assert np.abs(neighbours).max() < 0.02


def test_pairs_of_counters_fill_the_unit_square_evenly():
    sample = draws(seed=4)
    bins = 8
    cells = (sample[:, 0] * bins).astype(int) * bins + (sample[:, 1] * bins).astype(int)
    counts = np.bincount(cells, minlength=bins * bins)
    expected = NUM_KEYS / bins**2
    chi_square = ((counts - expected) ** 2 / expected).sum()
    # 63 degrees of freedom: the 99.99th percentile is 113.5.
    assert chi_square < 113.5, chi_square


def test_uniform_integer_stays_below_size_even_for_the_largest_uniform():
    largest = jnp.float32(1.0 - 2.0**-24)
    assert int(uniform_integer(largest, 156)) == 155
    assert int(uniform_integer(jnp.float32(0.0), 156)) == 0
