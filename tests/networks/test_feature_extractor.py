"""FeatureExtractor: what each input contributes to the features, and the errors for
inputs that are missing or shaped wrongly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from gymnax.environments import spaces

from memorax.networks import MLP, BuildError, FeatureExtractor, Network, SequenceModelWrapper, heads, initialize

B, T, OBS = 3, 4, 5


def init(module, action_space=None, observation_shape=(OBS,), seed=0):
    initialize([module], jax.random.key(seed), observation_shape, action_space)
    return module


def normal(shape, seed=1):
    # numpy inputs: a new jax.random shape costs a compilation, numpy costs nothing.
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype=jnp.float32)


def linear(width):
    """An extractor that is one affine map, so its output can be predicted exactly."""
    return MLP(features=(width,), activation="identity", activate_final=False)


def affine(mlp, x):
    (layer,) = mlp.layers
    return x @ layer.kernel[...] + layer.bias[...]


def full_extractor():
    return FeatureExtractor(
        MLP(features=(8,)),
        action_extractor=MLP(features=(4,)),
        reward_extractor=MLP(features=(3,)),
        done_extractor=MLP(features=(2,)),
    )


def inputs(seed=1):
    rng = np.random.default_rng(seed)
    observation = normal((B, T, OBS), seed)
    previous_action = jnp.asarray(rng.integers(0, 3, (B, T)))
    previous_reward = jnp.asarray(rng.standard_normal((B, T)), dtype=jnp.float32)
    episode_start = jnp.asarray(rng.random((B, T)) < 0.5)
    return observation, previous_action, previous_reward, episode_start


def test_concatenation_widths_and_order():
    fe = init(full_extractor(), spaces.Discrete(3))
    assert fe.observation_extractor.input_shape == (OBS,)
    assert fe.action_extractor.input_shape == (3,)  # one-hot of Discrete(3)
    assert fe.reward_extractor.input_shape == (1,)
    assert fe.done_extractor.input_shape == (1,)

    observation, action, reward, start = inputs()
    out = fe(observation, action, reward, start)
    assert out.shape == (B, T, 8 + 4 + 3 + 2)

    np.testing.assert_allclose(out[..., :8], fe.observation_extractor(observation), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        out[..., 8:12], fe.action_extractor(jax.nn.one_hot(action, 3)), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(out[..., 12:15], fe.reward_extractor(reward[..., None]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        out[..., 15:], fe.done_extractor(start[..., None].astype(jnp.float32)), rtol=1e-5, atol=1e-6
    )


def test_network_sizes_torso_from_concatenated_width():
    torso = SequenceModelWrapper(MLP(features=(8,)))
    network = Network(full_extractor(), torso, heads.VNetwork())
    network.init(jax.random.key(0), (OBS,), spaces.Discrete(3))
    assert torso.model.layers[0].in_features == 17

    observation, action, reward, start = inputs()
    _, value = network(observation, start, action, reward)
    assert value.shape == (B, T)
    # episode_start reaches the done extractor through the network.
    _, value_no_starts = network(observation, jnp.zeros((B, T), bool), action, reward)
    assert not np.allclose(value, value_no_starts)


def test_observation_only_extractor_ignores_other_inputs():
    fe = init(FeatureExtractor(MLP(features=(8,))))
    observation, action, reward, start = inputs()
    out = fe(observation)
    assert out.shape == (B, T, 8)
    np.testing.assert_array_equal(out, fe(observation, action, reward, start))


def test_discrete_previous_action_is_one_hot():
    fe = init(FeatureExtractor(MLP(features=(8,)), action_extractor=linear(4)), spaces.Discrete(3))
    (layer,) = fe.action_extractor.layers
    assert layer.in_features == 3

    observation = normal((B, T, OBS))
    features = [fe(observation, jnp.full((B, T), a)) for a in range(3)]
    for a in range(3):
        # One-hot of a times the kernel picks row a of the kernel.
        expected = layer.kernel[...][a] + layer.bias[...]
        np.testing.assert_allclose(features[a][..., 8:], jnp.broadcast_to(expected, (B, T, 4)), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(features[a][..., :8], features[0][..., :8])
    assert not np.allclose(features[0][..., 8:], features[1][..., 8:])
    assert not np.allclose(features[1][..., 8:], features[2][..., 8:])


def test_discrete_previous_action_mixed_per_step():
    fe = init(FeatureExtractor(MLP(features=(8,)), action_extractor=linear(4)), spaces.Discrete(3))
    observation, action, _, _ = inputs()
    out = fe(observation, action)
    expected = affine(fe.action_extractor, jax.nn.one_hot(action, 3))
    np.testing.assert_allclose(out[..., 8:], expected, rtol=1e-5, atol=1e-6)


def test_continuous_previous_action_is_used_as_is():
    fe = init(FeatureExtractor(MLP(features=(8,)), action_extractor=linear(4)), spaces.Box(-1.0, 1.0, (2,)))
    assert fe.action_extractor.input_shape == (2,)
    observation = normal((B, T, OBS))
    action = normal((B, T, 2), seed=2)
    out = fe(observation, action)
    assert out.shape == (B, T, 12)
    np.testing.assert_allclose(out[..., 8:], affine(fe.action_extractor, action), rtol=1e-5, atol=1e-6)
    assert not np.allclose(out[..., 8:], fe(observation, 0.5 * action)[..., 8:])


def test_multi_dim_box_previous_action_is_flattened():
    fe = init(FeatureExtractor(MLP(features=(8,)), action_extractor=linear(4)), spaces.Box(-1.0, 1.0, (2, 2)))
    assert fe.action_extractor.input_shape == (4,)
    action = normal((B, T, 2, 2), seed=2)
    out = fe(normal((B, T, OBS)), action)
    np.testing.assert_allclose(out[..., 8:], affine(fe.action_extractor, action.reshape(B, T, 4)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "space, action, expected",
    [
        (spaces.Box(-1.0, 1.0, (2,)), np.zeros((B, T, 3), np.float32), "(3, 4, 2)"),
        (spaces.Box(-1.0, 1.0, (2,)), np.zeros((B, T), np.float32), "(3, 4, 2)"),
        (spaces.Discrete(3), np.zeros((B, T, 1), np.int32), "(3, 4)"),
        (spaces.Discrete(3), np.zeros((B,), np.int32), "(3, 4)"),
    ],
)
def test_wrong_previous_action_shape_raises(space, action, expected):
    fe = init(FeatureExtractor(MLP(features=(8,)), action_extractor=MLP(features=(4,))), space)
    with pytest.raises(BuildError) as info:
        fe(normal((B, T, OBS)), action)
    message = str(info.value)
    assert "previous_action" in message and expected in message
    assert str(tuple(action.shape)) in message


def test_missing_previous_action_raises_naming_it():
    fe = init(FeatureExtractor(MLP(features=(8,)), action_extractor=MLP(features=(4,))), spaces.Discrete(3))
    with pytest.raises(BuildError, match=r"action_extractor.*needs previous_action"):
        fe(normal((B, T, OBS)))

    network = Network(
        FeatureExtractor(MLP(features=(8,)), action_extractor=MLP(features=(4,))),
        SequenceModelWrapper(MLP(features=(8,))),
        heads.VNetwork(),
    ).init(jax.random.key(0), (OBS,), spaces.Discrete(3))
    with pytest.raises(BuildError, match=r"previous_action"):
        network(normal((B, T, OBS)))


@pytest.mark.parametrize("field, argument", [("reward_extractor", "previous_reward"), ("done_extractor", "episode_start")])
def test_missing_reward_or_done_raises_naming_it(field, argument):
    fe = init(FeatureExtractor(MLP(features=(8,)), **{field: MLP(features=(2,))}))
    with pytest.raises(BuildError, match=rf"{field}.*needs {argument}"):
        fe(normal((B, T, OBS)))


def test_action_extractor_without_action_space_raises():
    fe = FeatureExtractor(MLP(features=(8,)), action_extractor=MLP(features=(4,)))
    with pytest.raises(BuildError, match=r"action_extractor.*action_space"):
        init(fe, action_space=None)


@pytest.mark.parametrize("shape", [(B, T, 1), (B,), (T, B), (B, T, 2)])
def test_wrong_previous_reward_shape_raises(shape):
    fe = init(FeatureExtractor(MLP(features=(8,)), reward_extractor=MLP(features=(2,))))
    with pytest.raises(BuildError) as info:
        fe(normal((B, T, OBS)), previous_reward=np.zeros(shape, np.float32))
    message = str(info.value)
    assert "previous_reward" in message and "(3, 4)" in message and str(shape) in message


def test_wrong_episode_start_shape_raises():
    fe = init(FeatureExtractor(MLP(features=(8,)), done_extractor=MLP(features=(2,))))
    with pytest.raises(BuildError, match=r"episode_start must have shape"):
        fe(normal((B, T, OBS)), episode_start=np.zeros((B, T, 1), bool))


def test_integer_reward_is_accepted_as_float_feature():
    fe = init(FeatureExtractor(MLP(features=(8,)), reward_extractor=linear(2)))
    reward = np.arange(B * T).reshape(B, T)
    out = fe(normal((B, T, OBS)), previous_reward=reward)
    np.testing.assert_allclose(
        out[..., 8:], affine(fe.reward_extractor, jnp.asarray(reward, jnp.float32)[..., None]), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("field", ["observation_extractor", "action_extractor", "reward_extractor", "done_extractor"])
def test_non_memorax_extractor_raises_type_error(field):
    kwargs = {"observation_extractor": MLP(features=(8,))}
    kwargs[field] = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError) as info:
        FeatureExtractor(**kwargs)
    assert field in str(info.value) and "Linear" in str(info.value)


def test_observation_extractor_is_required():
    with pytest.raises(ValueError, match=r"observation_extractor is required"):
        FeatureExtractor(None)


def test_extractor_with_non_vector_output_raises():
    # A value head outputs a scalar per step, which cannot be concatenated.
    fe = FeatureExtractor(MLP(features=(8,)), reward_extractor=heads.VNetwork())
    with pytest.raises(BuildError, match=r"must output a vector per step.*\(\)"):
        init(fe)


def test_float_discrete_previous_actions_are_rejected():
    extractor = FeatureExtractor(MLP(features=(4,)), action_extractor=MLP(features=(3,)))
    initialize([extractor], 0, (2,), spaces.Discrete(3))
    with pytest.raises(BuildError, match="integer"):
        extractor(jnp.zeros((1, 2, 2)), previous_action=jnp.zeros((1, 2)))
