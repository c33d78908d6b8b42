"""Network state is a plain pytree: orbax saves it and restores it unchanged."""

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx
from gymnax.environments import spaces

from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads, initial_state


def test_orbax_round_trip_of_a_shared_actor_critic(tmp_path):
    observation_space, action_space = spaces.Box(-1.0, 1.0, (3,)), spaces.Discrete(2)
    extractor = FeatureExtractor(MLP(features=(8,)))
    torso = SequenceModelWrapper(RNN(nnx.GRUCell(8, 8, rngs=nnx.Rngs(0))))
    networks = nnx.Dict(actor=Network(extractor, torso, heads.Categorical(2)), critic=Network(extractor, torso, heads.VNetwork()))
    graphdef, state = initial_state(networks, 3, observation_space, action_space)

    checkpointer = ocp.StandardCheckpointer()
    path = (tmp_path / "networks").resolve()  # orbax needs absolute paths
    checkpointer.save(path, state)
    checkpointer.wait_until_finished()
    abstract = jax.eval_shape(lambda: initial_state(networks, 0, observation_space, action_space)[1])
    restored = checkpointer.restore(path, abstract)

    for saved, loaded in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
        np.testing.assert_array_equal(saved, loaded)
    observation = jax.random.normal(jax.random.key(0), (2, 4, 3))
    _, before = nnx.merge(graphdef, state)["critic"](observation)
    _, after = nnx.merge(graphdef, restored)["critic"](observation)
    np.testing.assert_array_equal(before, after)
    assert jnp.all(jnp.isfinite(after))
