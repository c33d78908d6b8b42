"""Arguments checked before anything compiles: keys and optimizers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from memorax.algorithms.arguments import require_key, require_updates, unusable_hyperparameters


def test_typed_and_legacy_keys_are_accepted():
    require_key("Agent", "init", jax.random.key(0))
    require_key("Agent", "init", jax.random.PRNGKey(0))
    jax.vmap(lambda key: require_key("Agent", "train", key))(jax.random.split(jax.random.key(0), 2))


@pytest.mark.parametrize(
    ("key", "error", "said"),
    [
        (0, TypeError, "got the int 0"),
        (np.zeros(3, np.int32), TypeError, "got an array of shape (3,) and dtype int32"),
        (jnp.zeros(2, jnp.float32), TypeError, "dtype float32"),
        (jax.random.split(jax.random.key(0), 3), ValueError, "must be a single key"),
    ],
)
def test_other_keys_are_rejected_naming_key(key, error, said):
    with pytest.raises(error, match=r"Agent\.train: key") as raised:
        require_key("Agent", "train", key)
    assert said in str(raised.value)


def test_optimizer_hyperparameters_are_named_where_optax_keeps_them():
    assert unusable_hyperparameters(optax.adam(1e-3, b1="0.9")) == [("b1", "0.9")]
    assert ("learning_rate", "3e-4") in unusable_hyperparameters(
        optax.inject_hyperparams(optax.sgd)(learning_rate="3e-4")
    )
    assert unusable_hyperparameters(optax.adam(1e-3)) == []


def test_a_working_optimizer_passes_and_a_broken_one_is_named():
    parameters = {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}
    require_updates("Agent", "optimizer", optax.adam(3e-4), parameters, "the network")
    with pytest.raises(ValueError, match=r"Agent: optimizer cannot update the network \(eps='1e-8'\)"):
        require_updates("Agent", "optimizer", optax.adam(3e-4, eps="1e-8"), parameters, "the network")
