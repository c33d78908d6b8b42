"""Heads: output shapes and distribution behaviour, through a whole Network, and the
errors for heads that do not fit the environment's action space."""

import math

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces

from memorax.networks import MLP, BuildError, FeatureExtractor, Network, SequenceModelWrapper, heads

B, T, OBS = 3, 4, 5
HALF_LOG_2PI_E = 0.5 * math.log(2 * math.pi * math.e)


def network(head, action_space=None, seed=0):
    net = Network(FeatureExtractor(MLP(features=(8,))), SequenceModelWrapper(MLP(features=(8,))), head)
    return net.init(jax.random.key(seed), (OBS,), action_space)


def normal(shape, seed=1):
    # numpy inputs: a new jax.random shape costs a compilation, numpy costs nothing.
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype=jnp.float32)


def output(net, seed=1, **head_inputs):
    _, out = net(normal((B, T, OBS), seed), **head_inputs)
    return out


BOX2 = spaces.Box(-1.0, 1.0, (2,))
# Asymmetric bounds: [-2, 1] for the first action, [-2, 3] for the second.
LOW, HIGH = np.array([-2.0, -2.0]), np.array([1.0, 3.0])
ASYMMETRIC_BOX = spaces.Box(-2.0, jnp.array([1.0, 3.0]), (2,))


# ------------------------------------------------------------------ discrete heads


@pytest.fixture(scope="module")
def categorical():
    net = network(heads.Categorical(action_dim=4), spaces.Discrete(4))
    return net, output(net)


def test_categorical_is_distrax_categorical_over_batch_and_time(categorical):
    _, dist = categorical
    assert isinstance(dist, distrax.Categorical)
    assert dist.batch_shape == (B, T)
    assert dist.event_shape == ()
    assert dist.logits.shape == (B, T, 4)
    np.testing.assert_allclose(dist.probs.sum(-1), 1.0, rtol=1e-5)


def test_categorical_sample_log_prob_entropy_mode(categorical):
    _, dist = categorical
    actions = dist.sample(seed=jax.random.key(3))
    assert actions.shape == (B, T)
    assert jnp.issubdtype(actions.dtype, jnp.integer)
    assert bool(jnp.all((actions >= 0) & (actions < 4)))

    log_prob = dist.log_prob(actions)
    assert log_prob.shape == (B, T)
    np.testing.assert_allclose(log_prob, jnp.take_along_axis(jax.nn.log_softmax(dist.logits), actions[..., None], -1)[..., 0], rtol=1e-5)

    entropy = dist.entropy()
    assert entropy.shape == (B, T)
    assert bool(jnp.all((entropy > 0) & (entropy <= math.log(4) + 1e-5)))

    mode = dist.mode()
    assert mode.shape == (B, T)
    np.testing.assert_array_equal(mode, jnp.argmax(dist.logits, -1))
    mode_log_prob = dist.log_prob(mode)
    for a in range(4):
        assert bool(jnp.all(mode_log_prob >= dist.log_prob(jnp.full((B, T), a))))


def test_categorical_logits_depend_on_observation(categorical):
    net, dist = categorical
    other = output(net, seed=2)
    assert not np.allclose(dist.logits, other.logits)


def test_discrete_q_network_one_value_per_action():
    net = network(heads.DiscreteQNetwork(action_dim=3), spaces.Discrete(3))
    q = output(net)
    assert q.shape == (B, T, 3)
    assert not np.allclose(q[..., 0], q[..., 1])


def test_v_network_one_value_per_step():
    net = network(heads.VNetwork())  # a value head needs no action space
    v = output(net)
    assert v.shape == (B, T)
    assert not np.allclose(v, output(net, seed=2))


# ---------------------------------------------------------------- Gaussian policies


def test_gaussian_state_independent_std():
    head = heads.Gaussian(action_dim=2, initial_log_std=-0.5)
    net = network(head, BOX2)
    np.testing.assert_array_equal(head.log_std[...], np.full((2,), -0.5, np.float32))

    dist = output(net)
    assert dist.batch_shape == (B, T) and dist.event_shape == (2,)
    assert dist.sample(seed=jax.random.key(3)).shape == (B, T, 2)
    assert dist.log_prob(dist.mode()).shape == (B, T)
    np.testing.assert_allclose(dist.stddev(), np.full((B, T, 2), math.exp(-0.5)), rtol=1e-5)
    # Diagonal Gaussian: H = sum_i (0.5 log(2 pi e) + log sigma_i).
    np.testing.assert_allclose(dist.entropy(), np.full((B, T), 2 * (HALF_LOG_2PI_E - 0.5)), rtol=1e-5)
    # The standard deviation does not depend on the observation, the mean does.
    other = output(net, seed=2)
    np.testing.assert_allclose(other.stddev(), dist.stddev(), rtol=1e-6)
    assert not np.allclose(other.mean(), dist.mean())


def test_gaussian_log_std_is_a_trainable_param():
    head = heads.Gaussian(action_dim=2, initial_log_std=0.3)
    net = network(head, BOX2)
    head.log_std[...] = jnp.array([0.0, -1.0])
    dist = output(net)
    np.testing.assert_allclose(dist.stddev()[0, 0], np.exp([0.0, -1.0]), rtol=1e-5)
    np.testing.assert_allclose(dist.entropy(), np.full((B, T), 2 * HALF_LOG_2PI_E - 1.0), rtol=1e-5)


def test_gaussian_state_dependent_std():
    head = heads.Gaussian(action_dim=2, state_dependent_std=True, initial_log_std=-1.0)
    net = network(head, BOX2)
    assert head.log_std is None  # no free parameter: the std is a layer output
    assert head.layer.out_features == 4

    dist = output(net)
    assert dist.sample(seed=jax.random.key(3)).shape == (B, T, 2)
    log_std = jnp.log(dist.stddev())
    # The small policy initialisation keeps log std near initial_log_std ...
    np.testing.assert_allclose(log_std, -1.0, atol=0.1)
    # ... but it varies with the state.
    assert not np.allclose(log_std, log_std[0, 0])
    np.testing.assert_allclose(dist.entropy(), (HALF_LOG_2PI_E + log_std).sum(-1), rtol=1e-5)


# ---------------------------------------------------------------- squashed Gaussian


@pytest.fixture(scope="module")
def squashed():
    net = network(heads.SquashedGaussian(action_dim=2), ASYMMETRIC_BOX)
    return net, output(net)


def test_squashed_gaussian_samples_within_box_bounds(squashed):
    _, dist = squashed
    samples = dist.sample(seed=jax.random.key(3), sample_shape=(256,))
    assert samples.shape == (256, B, T, 2)
    assert bool(jnp.all(samples >= LOW)) and bool(jnp.all(samples <= HIGH))
    # The bounds are used, not [-1, 1]: the second action reaches above 1.
    assert float(samples[..., 1].max()) > 1.0


def test_squashed_gaussian_mode_within_bounds_near_centre(squashed):
    _, dist = squashed
    mode = dist.mode()
    assert mode.shape == (B, T, 2)
    assert bool(jnp.all(mode >= LOW)) and bool(jnp.all(mode <= HIGH))
    # At init the Gaussian mean is near 0, which tanh maps to the middle of the box.
    np.testing.assert_allclose(mode, jnp.broadcast_to((LOW + HIGH) / 2, (B, T, 2)), atol=0.1 * (HIGH - LOW).max())


def test_squashed_gaussian_log_prob_and_entropy(squashed):
    _, dist = squashed
    key = jax.random.key(4)
    actions, log_prob = dist.sample_and_log_prob(seed=key)
    assert log_prob.shape == (B, T)
    assert bool(jnp.all(jnp.isfinite(log_prob)))
    np.testing.assert_allclose(dist.log_prob(actions), log_prob, rtol=1e-3, atol=1e-3)
    assert bool(jnp.all(jnp.isfinite(dist.log_prob(dist.mode()))))

    entropy = dist.entropy(seed=key)
    assert entropy.shape == (B, T)
    assert bool(jnp.all(jnp.isfinite(entropy)))
    # The one-sample estimate is -log p of the action drawn with the same key.
    np.testing.assert_allclose(entropy, -log_prob, rtol=1e-5)

    with pytest.raises(ValueError, match=r"seed"):
        dist.entropy()


def test_squashed_gaussian_without_action_space_uses_unit_box():
    net = network(heads.SquashedGaussian(action_dim=2))
    samples = output(net).sample(seed=jax.random.key(3), sample_shape=(256,))
    assert bool(jnp.all(jnp.abs(samples) <= 1.0))


def test_squashed_gaussian_rejects_bad_log_std_range():
    with pytest.raises(ValueError, match=r"log_std_min"):
        heads.SquashedGaussian(action_dim=2, log_std_min=1.0, log_std_max=1.0)


# ------------------------------------------------------------ continuous Q-networks


@pytest.fixture(scope="module")
def critic():
    return network(heads.ContinuousQNetwork(hidden_features=(16,)), BOX2)


def test_continuous_q_network_output_and_action_dependence(critic):
    action = normal((B, T, 2), seed=5)
    q = output(critic, action=action)
    assert q.shape == (B, T)
    assert critic.head.mlp.layers[0].in_features == 8 + 2
    assert not np.allclose(q, output(critic, action=-action))


@pytest.mark.parametrize("action_shape", [None, (B, T, 3), (B, T), (B, 2)])
def test_continuous_q_network_needs_action_of_shape(critic, action_shape):
    kwargs = {} if action_shape is None else {"action": np.zeros(action_shape, np.float32)}
    with pytest.raises(BuildError) as info:
        output(critic, **kwargs)
    message = str(info.value)
    assert "ContinuousQNetwork" in message and "action=" in message
    assert "(3, 4, 2)" in message
    assert str(action_shape) in message


def test_continuous_q_network_without_hidden_layers():
    net = network(heads.ContinuousQNetwork(hidden_features=()), BOX2)
    assert net.head.mlp is None
    action = normal((B, T, 2), seed=5)
    assert output(net, action=action).shape == (B, T)


def test_continuous_q_network_needs_action_space():
    with pytest.raises(BuildError, match=r"ContinuousQNetwork.*action_space"):
        network(heads.ContinuousQNetwork(hidden_features=(16,)), None)


def test_twin_continuous_q_network_members_differ(critic):
    twin = network(heads.TwinContinuousQNetwork(hidden_features=(16,)), BOX2)
    action = normal((B, T, 2), seed=5)
    q = output(twin, action=action)
    assert q.shape == (2, B, T)
    assert not np.allclose(q[0], q[1])
    first, second = twin.head.critics
    assert not np.allclose(first.output.kernel[...], second.output.kernel[...])
    moved = output(twin, action=-action)
    assert not np.allclose(q[0], moved[0]) and not np.allclose(q[1], moved[1])
    with pytest.raises(BuildError, match=r"needs action="):
        output(twin)


# ------------------------------------------------------- head / action-space checks


def build_error(head, action_space):
    with pytest.raises(BuildError) as info:
        network(head, action_space)
    return str(info.value)


def test_categorical_wrong_action_count_suggests_action_dim():
    message = build_error(heads.Categorical(action_dim=4), spaces.Discrete(2))
    assert "Categorical(action_dim=4)" in message
    assert "Discrete(2)" in message
    assert "action_dim=2" in message


def test_categorical_on_box_raises():
    message = build_error(heads.Categorical(action_dim=4), spaces.Box(-1.0, 1.0, (4,)))
    assert "Categorical" in message and "discrete" in message
    assert "Box(shape=(4,))" in message


@pytest.mark.parametrize("head", [heads.Gaussian(action_dim=2), heads.SquashedGaussian(action_dim=2)])
def test_continuous_policy_on_discrete_raises(head):
    message = build_error(head, spaces.Discrete(2))
    assert type(head).__name__ in message and "continuous" in message
    assert "Discrete(2)" in message


def test_gaussian_wrong_action_dim_suggests_size():
    message = build_error(heads.Gaussian(action_dim=3), spaces.Box(-1.0, 1.0, (2,)))
    assert "Gaussian(action_dim=3)" in message and "action_dim=2" in message


def test_discrete_q_network_on_box_raises():
    message = build_error(heads.DiscreteQNetwork(action_dim=2), BOX2)
    assert "DiscreteQNetwork" in message and "Box(shape=(2,))" in message


@pytest.mark.parametrize("head_class", [heads.ContinuousQNetwork, heads.TwinContinuousQNetwork])
def test_continuous_q_network_on_discrete_raises(head_class):
    message = build_error(head_class(hidden_features=(16,)), spaces.Discrete(3))
    assert "ContinuousQNetwork" in message
    assert "Discrete(3)" in message
    assert "DiscreteQNetwork" in message  # the suggested alternative


@pytest.mark.parametrize(
    "head_class", [heads.Categorical, heads.DiscreteQNetwork, heads.Gaussian, heads.SquashedGaussian]
)
@pytest.mark.parametrize("action_dim", [0, -1, 2.0])
def test_bad_action_dim_raises_value_error(head_class, action_dim):
    with pytest.raises(ValueError) as info:
        head_class(action_dim=action_dim)
    assert head_class.__name__ in str(info.value) and "action_dim" in str(info.value)


def test_squashed_gaussian_rejects_unbounded_action_spaces():
    with pytest.raises(BuildError, match="unbounded"):
        network(heads.SquashedGaussian(action_dim=2), spaces.Box(-jnp.inf, jnp.inf, (2,)))


@pytest.mark.parametrize("head", [heads.Gaussian(action_dim=4), heads.ContinuousQNetwork()])
def test_continuous_heads_need_one_dimensional_action_spaces(head):
    with pytest.raises(BuildError, match="one-dimensional action space"):
        network(head, spaces.Box(-1.0, 1.0, (2, 2)))


def test_boolean_sizes_are_rejected():
    with pytest.raises(ValueError, match="action_dim"):
        heads.Categorical(action_dim=True)
    with pytest.raises(ValueError, match="ContinuousQNetwork: hidden_features"):
        heads.ContinuousQNetwork(hidden_features=(0,))
