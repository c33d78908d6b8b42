"""Network: initialisation from keys, parameter sharing, carries, transforms, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from gymnax.environments import spaces

import memorax.networks.network as network_module
import memorax.networks.sequence_models.wrapper as wrapper_module
from memorax.networks import (
    MLP,
    RNN,
    BuildError,
    FeatureExtractor,
    Network,
    NotBuiltError,
    SequenceModelWrapper,
    heads,
    initial_state,
    initialize,
)
from memorax.networks.sequence_models import base

OBSERVATION = spaces.Box(-1.0, 1.0, (3,))
ACTIONS = spaces.Discrete(4)


def lstm_network(head, seed=0):
    return Network(
        FeatureExtractor(observation_extractor=MLP(features=(8,))),
        SequenceModelWrapper(RNN(nnx.LSTMCell(8, 8, rngs=nnx.Rngs(seed)))),
        head,
    )


def shared_actor_critic():
    extractor = FeatureExtractor(observation_extractor=MLP(features=(8,)))
    torso = SequenceModelWrapper(RNN(nnx.GRUCell(8, 8, rngs=nnx.Rngs(0))))
    return Network(extractor, torso, heads.Categorical(action_dim=4)), Network(extractor, torso, heads.VNetwork())


def kernels(state):
    """Every weight matrix of a state (biases start at zero whatever the key)."""
    flat = nnx.to_flat_state(state)
    return {path: value.get_value() for path, value in flat if path[-1] == "kernel"}


def test_different_keys_give_different_parameters_everywhere_including_prebuilt_cells():
    network = lstm_network(heads.Categorical(action_dim=4))
    graphdef_a, state_a = initial_state(network, jax.random.key(1), OBSERVATION, ACTIONS)
    graphdef_b, state_b = initial_state(network, jax.random.key(2), OBSERVATION, ACTIONS)
    assert graphdef_a == graphdef_b
    a, b = kernels(state_a), kernels(state_b)
    assert any("cell" in map(str, path) for path in a), "the pre-built cell's kernels are in the state"
    for path in a:
        assert not np.allclose(a[path], b[path]), f"{path} did not change with the key"


def test_same_key_gives_identical_parameters():
    network = lstm_network(heads.VNetwork())
    _, state_a = initial_state(network, jax.random.key(3), OBSERVATION, ACTIONS)
    _, state_b = initial_state(network, jax.random.key(3), OBSERVATION, ACTIONS)
    for x, y in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b)):
        np.testing.assert_array_equal(x, y)


def test_vmap_over_keys_gives_independent_seeds():
    network = lstm_network(heads.VNetwork())
    keys = jax.random.split(jax.random.key(0), 4)
    states = jax.vmap(lambda key: initial_state(network, key, OBSERVATION, ACTIONS)[1])(keys)
    for path, stacked in kernels(states).items():
        assert stacked.shape[0] == 4
        assert len({np.asarray(member).tobytes() for member in stacked}) == 4, path


def test_redrawn_cell_keeps_the_cell_distribution():
    """An LSTM's recurrent kernels are orthogonal by default: redrawing keeps that."""
    network = lstm_network(heads.VNetwork())
    network.init(jax.random.key(5), OBSERVATION, ACTIONS)
    recurrent = network.torso.model.cell.hi.kernel[...]
    np.testing.assert_allclose(recurrent.T @ recurrent, np.eye(8), atol=1e-5)


def test_reinitialize_false_keeps_the_cells_own_parameters():
    cell = nnx.GRUCell(8, 8, rngs=nnx.Rngs(42))
    before = nnx.state(cell, nnx.Param)
    before = jax.tree.map(np.asarray, before)
    network = Network(FeatureExtractor(MLP(features=(8,))), RNN(cell, reinitialize=False), heads.VNetwork())
    network.init(jax.random.key(0), OBSERVATION, ACTIONS)
    for x, y in zip(jax.tree.leaves(before), jax.tree.leaves(nnx.state(cell, nnx.Param))):
        np.testing.assert_array_equal(x, y)


def test_initial_state_leaves_the_users_objects_unbuilt():
    network = lstm_network(heads.VNetwork())
    initial_state(network, jax.random.key(0), OBSERVATION, ACTIONS)
    assert not network.is_built
    with pytest.raises(NotBuiltError, match="init"):
        network(jnp.zeros((1, 1, 3)))


def test_shared_modules_appear_once_in_the_state_and_in_both_networks():
    actor, critic = shared_actor_critic()
    graphdef, state = initial_state(nnx.Dict(actor=actor, critic=critic), jax.random.key(0), OBSERVATION, ACTIONS)
    assert "torso" in state["actor"] and "feature_extractor" in state["actor"]
    assert "torso" not in state["critic"] and "feature_extractor" not in state["critic"]
    merged = nnx.merge(graphdef, state)
    assert merged["actor"].torso is merged["critic"].torso

    separate_actor, separate_critic = lstm_network(heads.Categorical(4)), lstm_network(heads.VNetwork())
    _, separate = initial_state(nnx.Dict(actor=separate_actor, critic=separate_critic), 0, OBSERVATION, ACTIONS)
    count = lambda s: sum(x.size for x in jax.tree.leaves(s))
    assert count(state) < count(separate)


def test_both_losses_reach_shared_parameters():
    actor, critic = shared_actor_critic()
    graphdef, state = initial_state(nnx.Dict(actor=actor, critic=critic), jax.random.key(0), OBSERVATION, ACTIONS)
    observation = jax.random.normal(jax.random.key(1), (2, 5, 3))

    def loss(state, which):
        networks = nnx.merge(graphdef, state)
        _, output = networks[which](observation)
        return output.entropy().sum() if which == "actor" else output.sum()

    for which in ("actor", "critic"):
        grads = jax.grad(loss)(state, which)
        torso_grads = jax.tree.leaves(grads["actor"]["torso"])
        assert any(float(jnp.abs(g).sum()) > 0 for g in torso_grads), which


def test_in_place_init_of_shared_modules_builds_them_once():
    actor, critic = shared_actor_critic()
    initialize([actor, critic], jax.random.key(0), OBSERVATION, ACTIONS)
    observation = jax.random.normal(jax.random.key(1), (2, 4, 3))
    carry_actor, _ = actor(observation)
    carry_critic, _ = critic(observation)
    np.testing.assert_array_equal(carry_actor, carry_critic)


def test_shared_module_with_two_input_shapes_is_an_error():
    torso = SequenceModelWrapper(MLP(features=(8,)))
    small = Network(FeatureExtractor(MLP(features=(4,))), torso, heads.VNetwork())
    large = Network(FeatureExtractor(MLP(features=(6,))), torso, heads.VNetwork())
    with pytest.raises(BuildError, match="shared by two networks"):
        initialize([small, large], 0, OBSERVATION, ACTIONS)


def test_call_under_jit_vmap_and_grad():
    network = lstm_network(heads.Categorical(action_dim=4))
    graphdef, state = initial_state(network, 0, OBSERVATION, ACTIONS)
    observation = jax.random.normal(jax.random.key(1), (3, 6, 3))
    episode_start = jnp.zeros((3, 6), bool).at[:, 0].set(True)

    @jax.jit
    def log_prob_of_mode(state):
        _, policy = nnx.merge(graphdef, state)(observation, episode_start)
        return policy.log_prob(policy.mode()).mean()

    value = log_prob_of_mode(state)
    eager = nnx.merge(graphdef, state)(observation, episode_start)[1]
    np.testing.assert_allclose(value, eager.log_prob(eager.mode()).mean(), rtol=1e-5)
    grads = jax.grad(log_prob_of_mode)(state)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))

    states = jax.vmap(lambda k: initial_state(network, k, OBSERVATION, ACTIONS)[1])(jax.random.split(jax.random.key(0), 2))
    per_seed = jax.vmap(log_prob_of_mode)(states)
    assert per_seed.shape == (2,) and per_seed[0] != per_seed[1]


def test_carry_convention_and_continuation():
    network = lstm_network(heads.VNetwork()).init(0, OBSERVATION, ACTIONS)
    carry = network.initialize_carry(5)
    assert all(leaf.shape[0] == 5 for leaf in jax.tree.leaves(carry))
    assert all(float(jnp.abs(leaf).sum()) == 0 for leaf in jax.tree.leaves(carry))
    observation = jax.random.normal(jax.random.key(1), (5, 4, 3))
    carry, _ = network(observation, carry=carry)
    _, continued = network(observation, carry=carry)
    _, fresh = network(observation)
    assert not np.allclose(continued, fresh), "the carry carries information across calls"


def test_observation_without_batch_and_time_axes_is_a_clear_error():
    network = lstm_network(heads.VNetwork()).init(0, OBSERVATION, ACTIONS)
    with pytest.raises(BuildError, match=r"\(batch, time, 3\)"):
        network(jnp.zeros((3,)))
    with pytest.raises(BuildError, match="episode_start"):
        network(jnp.zeros((2, 4, 3)), episode_start=jnp.zeros((2,), bool))


def test_wrong_carry_is_a_clear_error():
    network = lstm_network(heads.VNetwork()).init(0, OBSERVATION, ACTIONS)
    with pytest.raises(BuildError, match="carry"):
        network(jnp.zeros((2, 4, 3)), carry=network.initialize_carry(3))
    with pytest.raises(BuildError, match="structure"):
        network(jnp.zeros((2, 4, 3)), carry=jnp.zeros((2, 8)))


def test_cell_input_size_mismatch_names_the_module_and_the_size():
    network = Network(
        FeatureExtractor(observation_extractor=MLP(features=(64,))),
        SequenceModelWrapper(RNN(nnx.LSTMCell(32, 64, rngs=nnx.Rngs(0)))),
        heads.VNetwork(),
    )
    with pytest.raises(BuildError, match=r"RNN\(LSTMCell\).*32 input features.*in_features=64"):
        network.init(0, OBSERVATION, ACTIONS)


def test_rnn_rejects_something_that_is_not_a_cell():
    with pytest.raises(TypeError, match="nnx RNN cell"):
        RNN(nnx.Linear(3, 3, rngs=nnx.Rngs(0)))


def test_network_parts_are_type_checked():
    with pytest.raises(TypeError, match="head"):
        Network(FeatureExtractor(MLP(features=(4,))), SequenceModelWrapper(MLP(features=(4,))), MLP(features=(2,)))


def test_int_seed_and_typed_key_are_both_accepted():
    a = initial_state(lstm_network(heads.VNetwork()), 7, OBSERVATION, ACTIONS)[1]
    b = initial_state(lstm_network(heads.VNetwork()), jax.random.key(7), OBSERVATION, ACTIONS)[1]
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.int32])
def test_episode_start_that_is_not_bool_is_a_clear_error_at_the_call(dtype):
    """Floats or 0/1 ints would silently mean "nonzero starts an episode"; the check is
    on the dtype only, so it also fails while tracing under jit."""
    network = lstm_network(heads.VNetwork()).init(0, OBSERVATION, ACTIONS)
    observation, flags = jnp.zeros((2, 4, 3)), jnp.zeros((2, 4), dtype)
    message = rf"episode_start must be a bool array.*got dtype {jnp.dtype(dtype).name}.*astype\(bool\)"
    with pytest.raises(TypeError, match=message):
        network(observation, flags)
    with pytest.raises(TypeError, match=message):
        jax.jit(lambda flags: network(observation, flags))(flags)
    with pytest.raises(TypeError, match=rf"SequenceModelWrapper.*{message}"):
        network.torso(jnp.zeros((2, 4, 8)), flags)
    jax.jit(lambda flags: network(observation, flags))(flags.astype(bool))


def test_a_network_checks_its_call_once_not_again_in_its_torso_wrapper(monkeypatch):
    checks = []

    def counted(caller, *arguments):
        checks.append(caller)
        return base.checked_call_arguments(caller, *arguments)

    monkeypatch.setattr(network_module, "checked_call_arguments", counted)
    monkeypatch.setattr(wrapper_module, "checked_call_arguments", counted)
    network = lstm_network(heads.VNetwork()).init(0, OBSERVATION, ACTIONS)
    network(jnp.zeros((2, 4, 3)), jnp.zeros((2, 4), bool))
    assert checks == [network.describe()]
    network.torso(jnp.zeros((2, 4, 8)))
    assert checks == [network.describe(), network.torso.describe()]
