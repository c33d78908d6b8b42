"""memorax's dense layers: nnx.Linear's outputs and gradients, in another layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from memorax.networks.dense import dense, dense_dot_general, linear


@pytest.mark.parametrize("leading", [(7,), (3, 5), (2, 1, 4)])
def test_dense_matches_the_plain_matmul_and_its_gradients(leading):
    x = jax.random.normal(jax.random.key(0), (*leading, 6))
    kernel = jax.random.normal(jax.random.key(1), (6, 3))
    weights = jax.random.normal(jax.random.key(2), (*leading, 3))  # a loss that weighs every output

    def loss(matmul):
        return lambda x, kernel: jnp.sum(weights * jnp.tanh(matmul(x, kernel)))

    plain = lambda x, kernel: jnp.einsum("...i,ij->...j", x, kernel)
    np.testing.assert_allclose(dense(x, kernel), plain(x, kernel), rtol=1e-6)
    ours = jax.grad(loss(dense), argnums=(0, 1))(x, kernel)
    reference = jax.grad(loss(plain), argnums=(0, 1))(x, kernel)
    for got, want in zip(ours, reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_linear_is_nnx_linear_with_the_same_parameters_and_outputs():
    ours = linear(5, 4, rngs=nnx.Rngs(0))
    theirs = nnx.Linear(5, 4, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(3), (2, 3, 5))
    assert isinstance(ours, nnx.Linear)
    np.testing.assert_array_equal(ours.kernel[...], theirs.kernel[...])
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-6)


def test_other_contractions_go_to_lax_dot_general():
    a = jax.random.normal(jax.random.key(4), (4, 3))
    b = jax.random.normal(jax.random.key(5), (4, 2))
    numbers = (((0,), (0,)), ((), ()))
    np.testing.assert_allclose(dense_dot_general(a, b, numbers), jax.lax.dot_general(a, b, numbers), rtol=1e-6)
    c = jax.random.normal(jax.random.key(6), (3, 2))
    own, high = (((1,), (0,)), ((), ())), jax.lax.Precision.HIGHEST
    np.testing.assert_array_equal(
        dense_dot_general(a, c, own, precision=high), jax.lax.dot_general(a, c, own, precision=high)
    )
