"""The user's design documents are public API: their python blocks run as written.

Each block runs with `nnx`, `jax`, `env` and `env_params` supplied (the seeds omit
those imports), then every network, torso, feature extractor and head it defines is
initialised for the environment and called on (batch, time, ...) sequences with
episode resets. Blocks that need the algorithms of issue 5 (PPO) are counted, not run,
until those land; the count is checked so that no block can silently drop out.
"""

import ast
import re
from pathlib import Path

import distrax
import gymnax
import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from memorax.networks import CNN, MLP, FeatureExtractor, Network, SequenceModelWrapper
from memorax.networks.heads import (
    Categorical,
    ContinuousQNetwork,
    DiscreteQNetwork,
    Gaussian,
    Head,
    SquashedGaussian,
    TwinContinuousQNetwork,
    VNetwork,
)
from memorax.networks.module import Module

REPO = Path(__file__).resolve().parents[2]
SHARED_SEEDS = REPO.parent / "shared" / "seeds"
VENDORED_SEEDS = REPO / "docs" / "seeds"
NEEDS_SEQUENCE_MODELS: tuple[str, ...] = ()  # issue 3 has landed them all
NEEDS_ALGORITHMS = ("PPO", "agent.")  # issue 5
EXPECTED_DEFERRED = {"building-networks.md": 0, "core-concepts.md": 3}

BATCH, TIME = 3, 5


def seed_path(name: str) -> Path:
    return SHARED_SEEDS / name if (SHARED_SEEDS / name).exists() else VENDORED_SEEDS / name


def python_blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", seed_path(name).read_text(), flags=re.S)


def is_deferred(block: str) -> bool:
    return any(marker in block for marker in NEEDS_SEQUENCE_MODELS + NEEDS_ALGORITHMS)


def runnable_blocks():
    """(earlier runnable blocks of the page, the block): a page's blocks share imports."""
    cases = []
    for name in EXPECTED_DEFERRED:
        earlier = []
        for index, block in enumerate(python_blocks(name)):
            if not is_deferred(block):
                cases.append(pytest.param("\n".join(earlier), block, id=f"{name}-block{index}"))
                earlier.append(block)
    return cases


@pytest.mark.parametrize("name", sorted(EXPECTED_DEFERRED))
def test_only_the_known_blocks_wait_for_later_issues(name):
    deferred = [b for b in python_blocks(name) if is_deferred(b)]
    assert len(deferred) == EXPECTED_DEFERRED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_DEFERRED))
def test_vendored_copy_matches_the_users_document(name):
    if not (SHARED_SEEDS / name).exists():
        pytest.skip("the user's shared/ folder is not beside this checkout")
    assert (VENDORED_SEEDS / name).read_text() == (SHARED_SEEDS / name).read_text()


CONTINUOUS_HEADS = (Gaussian, SquashedGaussian, ContinuousQNetwork, TwinContinuousQNetwork)


def environment_for(network: Network):
    """An environment whose spaces fit the network: images for a CNN, a continuous
    action space for continuous heads, else a vector task with 4 actions."""
    if any(isinstance(module, CNN) for _, module in nnx.iter_modules(network)):
        return gymnax.make("SpaceInvaders-MinAtar")  # 10x10x6 images, 4 actions
    if isinstance(network.head, CONTINUOUS_HEADS):
        return gymnax.make("Reacher-misc")  # 8 features, 2-d continuous actions
    return gymnax.make("FourRooms-misc")  # 4 features, 4 actions


def run_statements(source: str, namespace: dict) -> list:
    """Run `source` one top-level statement at a time; return every object a statement
    bound to a name, so a name assigned several times (`torso = ...`) counts each time."""
    defined = []
    for statement in ast.parse(source).body:
        before = dict(namespace)
        exec(compile(ast.Module([statement], type_ignores=[]), "<seed block>", "exec"), namespace)
        defined += [v for k, v in namespace.items() if not k.startswith("__") and before.get(k) is not v]
    return defined


def as_networks(objects: list) -> list[Network]:
    """Every object the block defined, made into a Network if it is only a part."""
    networks, default_extractor = [], lambda: FeatureExtractor(MLP(features=(64,)))
    for value in objects:
        if isinstance(value, Network):
            networks.append(value)
        elif isinstance(value, FeatureExtractor):
            networks.append(Network(value, SequenceModelWrapper(MLP(features=(16,))), VNetwork()))
        elif isinstance(value, Head):
            networks.append(Network(default_extractor(), SequenceModelWrapper(MLP(features=(64,))), value))
        elif isinstance(value, Module) and not isinstance(value, (MLP, CNN)):
            networks.append(Network(default_extractor(), value, VNetwork()))
    return networks


def check_output(head: Head, output, action_dim: int):
    if isinstance(head, Categorical):
        assert isinstance(output, distrax.Categorical)
        assert output.logits.shape == (BATCH, TIME, action_dim)
        assert jnp.allclose(output.probs.sum(-1), 1.0, atol=1e-5)
    elif isinstance(head, (Gaussian, SquashedGaussian)):
        sample = output.sample(seed=jax.random.key(0))
        assert sample.shape == (BATCH, TIME, action_dim)
        assert output.log_prob(sample).shape == (BATCH, TIME)
    elif isinstance(head, DiscreteQNetwork):
        assert output.shape == (BATCH, TIME, action_dim)
    elif isinstance(head, TwinContinuousQNetwork):
        assert output.shape == (2, BATCH, TIME)
    else:
        assert isinstance(head, (VNetwork, ContinuousQNetwork))
        assert output.shape == (BATCH, TIME)
    for leaf in jax.tree.leaves(output):
        assert jnp.all(jnp.isfinite(leaf))


def call_on_sequences(network: Network):
    """Initialise `network` for a fitting environment; call it twice, carrying over."""
    env, env_params = environment_for(network)
    observation_space, action_space = env.observation_space(env_params), env.action_space(env_params)
    network.init(jax.random.key(0), observation_space, action_space)
    keys = jax.random.split(jax.random.key(1), 4)
    observation = jax.random.uniform(keys[0], (BATCH, TIME, *observation_space.shape))
    episode_start = jax.random.bernoulli(keys[1], 0.3, (BATCH, TIME)).at[:, 0].set(True)
    if hasattr(action_space, "n"):
        action_dim = action_space.n
        previous_action = jax.random.randint(keys[2], (BATCH, TIME), 0, action_dim)
    else:
        action_dim = action_space.shape[0]
        previous_action = jax.random.uniform(keys[2], (BATCH, TIME, action_dim), minval=-1, maxval=1)
    previous_reward = jax.random.normal(keys[3], (BATCH, TIME))
    head_inputs = {"action": previous_action} if isinstance(network.head, (ContinuousQNetwork, TwinContinuousQNetwork)) else {}

    carry, output = network(observation, episode_start, previous_action, previous_reward, **head_inputs)
    check_output(network.head, output, action_dim)
    assert all(leaf.shape[0] == BATCH for leaf in jax.tree.leaves(carry))
    _, again = network(observation, episode_start, previous_action, previous_reward, carry, **head_inputs)
    check_output(network.head, again, action_dim)


@pytest.mark.parametrize(("earlier", "block"), runnable_blocks())
def test_seed_block_runs_and_its_networks_work_on_sequences(earlier, block):
    env, env_params = gymnax.make("FourRooms-misc")
    namespace = {"nnx": nnx, "jax": jax, "jnp": jnp, "env": env, "env_params": env_params}
    exec(compile(earlier, "<earlier seed blocks>", "exec"), namespace)
    networks = as_networks(run_statements(block, namespace))
    assert networks, "the block defines something to run"
    for network in networks:
        call_on_sequences(network)
