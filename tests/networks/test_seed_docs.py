"""The user's design documents are public API: their python blocks run as written.

Each block runs with `nnx`, `jax`, `env` and `env_params` supplied (the seeds omit
those imports), then every network, torso, feature extractor and head it defines is
initialised for the environment and called on (batch, time, ...) sequences with
episode resets. The algorithm blocks (PPO) run with an `actor`, a `critic`, an
`optimizer` and a `key` supplied as well, and their agent is checked to have trained.
"""

import ast
import functools
import re
from pathlib import Path

import distrax
import gymnax
import jax
import jax.numpy as jnp
import optax
import pytest
from flax import nnx

from memorax.algorithms import PPO, PPOConfig, PPOState, Transition
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
SEED_PAGES = ("building-networks.md", "core-concepts.md")

BATCH, TIME = 3, 5


def seed_path(name: str) -> Path:
    return (
        SHARED_SEEDS / name if (SHARED_SEEDS / name).exists() else VENDORED_SEEDS / name
    )


def python_blocks(name: str) -> list[str]:
    return re.findall(
        r"```python\n(.*?)```", seed_path(name).read_text(), flags=re.DOTALL
    )


def seed_blocks():
    return [
        pytest.param(name, index, id=f"{name}-block{index}")
        for name in SEED_PAGES
        for index in range(len(python_blocks(name)))
    ]


def supplied_names() -> dict:
    """What the seeds use without defining: modules, an environment (FourRooms-misc: 4
    features, 4 actions), and for the algorithm blocks an actor, a critic, an optimizer
    and a key."""
    env, env_params = gymnax.make("FourRooms-misc")
    return {
        "nnx": nnx,
        "jax": jax,
        "jnp": jnp,
        "env": env,
        "env_params": env_params,
        "actor": Network(
            FeatureExtractor(MLP(features=(16,))),
            SequenceModelWrapper(MLP(features=(16,))),
            Categorical(4),
        ),
        "critic": Network(
            FeatureExtractor(MLP(features=(16,))),
            SequenceModelWrapper(MLP(features=(16,))),
            VNetwork(),
        ),
        "optimizer": optax.adam(3e-4),
        "key": jax.random.key(0),
    }


@functools.cache
def page_results(name: str) -> list:
    """Run a page's blocks in order in one namespace (later blocks use earlier names);
    per block, the objects it bound or the exception it raised."""
    namespace, results = supplied_names(), []
    for block in python_blocks(name):
        try:
            results.append(run_statements(block, namespace))
        except Exception as error:
            results.append(error)
    return results


@pytest.mark.parametrize("name", SEED_PAGES)
def test_vendored_copy_matches_the_users_document(name):
    if not (SHARED_SEEDS / name).exists():
        pytest.skip("the user's shared/ folder is not beside this checkout")
    assert (VENDORED_SEEDS / name).read_text() == (SHARED_SEEDS / name).read_text()


CONTINUOUS_HEADS = (
    Gaussian,
    SquashedGaussian,
    ContinuousQNetwork,
    TwinContinuousQNetwork,
)


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
        exec(
            compile(ast.Module([statement], type_ignores=[]), "<seed block>", "exec"),
            namespace,
        )
        defined += [
            v
            for k, v in namespace.items()
            if not k.startswith("__") and before.get(k) is not v
        ]
    return defined


def as_networks(objects: list) -> list[Network]:
    """Every object the block defined, made into a Network if it is only a part."""
    networks, default_extractor = [], lambda: FeatureExtractor(MLP(features=(64,)))
    for value in objects:
        if isinstance(value, Network):
            networks.append(value)
        elif isinstance(value, FeatureExtractor):
            networks.append(
                Network(value, SequenceModelWrapper(MLP(features=(16,))), VNetwork())
            )
        elif isinstance(value, Head):
            networks.append(
                Network(
                    default_extractor(),
                    SequenceModelWrapper(MLP(features=(64,))),
                    value,
                )
            )
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
    observation_space, action_space = (
        env.observation_space(env_params),
        env.action_space(env_params),
    )
    network.init(jax.random.key(0), observation_space, action_space)
    keys = jax.random.split(jax.random.key(1), 4)
    observation = jax.random.uniform(keys[0], (BATCH, TIME, *observation_space.shape))
    episode_start = jax.random.bernoulli(keys[1], 0.3, (BATCH, TIME)).at[:, 0].set(True)
    if hasattr(action_space, "n"):
        action_dim = action_space.n
        previous_action = jax.random.randint(keys[2], (BATCH, TIME), 0, action_dim)
    else:
        action_dim = action_space.shape[0]
        previous_action = jax.random.uniform(
            keys[2], (BATCH, TIME, action_dim), minval=-1, maxval=1
        )
    previous_reward = jax.random.normal(keys[3], (BATCH, TIME))
    head_inputs = (
        {"action": previous_action}
        if isinstance(network.head, (ContinuousQNetwork, TwinContinuousQNetwork))
        else {}
    )

    carry, output = network(
        observation, episode_start, previous_action, previous_reward, **head_inputs
    )
    check_output(network.head, output, action_dim)
    assert all(leaf.shape[0] == BATCH for leaf in jax.tree.leaves(carry))
    _, again = network(
        observation,
        episode_start,
        previous_action,
        previous_reward,
        carry,
        **head_inputs,
    )
    check_output(network.head, again, action_dim)


def check_algorithm_objects(objects: list) -> bool:
    """An algorithm block's objects: a trained state's transitions are real steps."""
    found = False
    for value in objects:
        if isinstance(value, (PPO, PPOConfig, PPOState)):
            found = True
        if isinstance(value, Transition):
            found = True
            assert value.reward.shape[0] == PPOConfig().num_envs
            assert jnp.all(jnp.isfinite(value.info["metrics"]["loss"]))
    return found


@pytest.mark.parametrize(("name", "index"), seed_blocks())
def test_seed_block_runs_and_its_objects_work(name, index):
    result = page_results(name)[index]
    if isinstance(result, Exception):
        raise result
    networks = as_networks(result)
    assert networks or check_algorithm_objects(result), (
        "the block defines something to run"
    )
    for network in networks:
        call_on_sequences(network)
