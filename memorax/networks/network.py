"""`Network`: feature extractor -> torso -> head, over batch-major sequences."""

from __future__ import annotations

from collections.abc import Iterable

import jax
from flax import nnx

from memorax.networks.feature_extractor import FeatureExtractor
from memorax.networks.heads import Head
from memorax.networks.module import BuildContext, Module
from memorax.networks.sequence_models.base import apply_sequence, checked_call_arguments, initial_carry
from memorax.networks.sequence_models.wrapper import unwrapped
from memorax.networks.spaces import action_spec, observation_shape


def _part(value, kind, field: str):
    if not isinstance(value, kind):
        raise TypeError(f"Network: {field} must be a memorax {kind.__name__}, got {type(value).__name__}.")
    return value


class Network(Module):
    """An agent's network: `Network(feature_extractor, torso, head)`.

    Call it on sequences:

        carry, output = network(observation, episode_start, previous_action,
                                previous_reward, carry, **head_inputs)

    with observation (batch, time, *obs_shape), episode_start (batch, time) bools
    marking the first step of an episode (any other dtype is a TypeError),
    previous_action (batch, time) indices or (batch, time, *action_shape),
    previous_reward (batch, time). Only the inputs the feature extractor uses are
    needed. `carry=None` starts every row from `initialize_carry(batch)`. `head_inputs`
    go to the head (e.g. `action=` for a continuous Q head). The returned carry
    continues the sequence in the next call.
    """

    def __init__(self, feature_extractor: FeatureExtractor, torso: Module, head: Head):
        self.feature_extractor = _part(feature_extractor, FeatureExtractor, "feature_extractor")
        self.torso = _part(torso, Module, "torso")
        self.head = _part(head, Head, "head")

    def describe(self) -> str:
        return f"Network({self.torso.describe()} -> {self.head.describe()})"

    def init(self, key, observation_space, action_space=None) -> Network:
        """Create the parameters for an environment's spaces, in place; returns self."""
        initialize([self], key, observation_space, action_space)
        return self

    def _build(self, context: BuildContext, input_shape):
        features = self.feature_extractor.build(context, input_shape)
        hidden = self.torso.build(context, features)
        return self.head.build(context, hidden)

    def initialize_carry(self, batch_size: int):
        """The carry of `batch_size` rows at the start of an episode."""
        self.require_built()
        return initial_carry(self.torso, batch_size)

    def __call__(
        self,
        observation,
        episode_start=None,
        previous_action=None,
        previous_reward=None,
        carry=None,
        **head_inputs,
    ):
        self.check_input(observation, leading_axes=2)
        batch, time = observation.shape[:2]
        episode_start, carry = checked_call_arguments(self.describe(), self.torso, batch, time, episode_start, carry)
        features = self.feature_extractor(observation, previous_action, previous_reward, episode_start)
        carry, hidden = apply_sequence(unwrapped(self.torso), features, episode_start, carry)
        return carry, self.head(hidden, **head_inputs)


def _as_key(key):
    if isinstance(key, int):
        return jax.random.key(key)
    return key


def initialize(networks: Iterable[Module], key, observation_space, action_space=None):
    """Create the parameters of `networks` in place, for one environment's spaces.

    The networks are built in one pass: a module object that several of them hold is
    built once, so its parameters exist once (parameter sharing). Returns the networks.
    """
    networks = list(networks)
    context = BuildContext(nnx.Rngs(params=_as_key(key)), action_spec(action_space))
    shape = observation_shape(observation_space)
    for network in networks:
        network.build(context, shape)
    return networks


def initial_state(networks, key, observation_space, action_space=None):
    """Pure initialisation: `(graphdef, state)` of freshly built copies of `networks`.

    The user's objects are not touched, so this runs under `jax.jit` and `jax.vmap`
    (e.g. over seeds: `jax.vmap(lambda k: initial_state(nets, k, obs, act)[1])(keys)`).
    `networks` is any nnx graph of modules (a Network, a tuple, an `nnx.Dict`, ...);
    shared modules appear once in the state.
    """
    copy = nnx.clone(networks)
    if isinstance(copy, Module):
        modules = [copy]
    elif isinstance(copy, (dict, nnx.Dict)):
        modules = list(copy.values())
    else:
        modules = list(copy)
    initialize(modules, key, observation_space, action_space)
    return nnx.split(copy)
