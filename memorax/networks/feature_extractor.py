"""`FeatureExtractor`: per-step features from observation, previous action, previous
reward and the episode-start flag, concatenated."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.networks.module import BuildContext, BuildError, Module


def _extractor(value, field: str) -> Module | None:
    if value is None or isinstance(value, Module):
        return value
    raise TypeError(
        f"FeatureExtractor: {field} must be a memorax module such as MLP(...) or CNN(...), "
        f"got {type(value).__name__}."
    )


class FeatureExtractor(Module):
    """Encode each input with its own extractor and concatenate the results.

    Discrete previous actions are one-hot encoded before `action_extractor`; rewards
    and episode-start flags are given as one feature each. Only the observation
    extractor is required; inputs without an extractor are not used.
    """

    def __init__(
        self,
        observation_extractor: Module,
        action_extractor: Module | None = None,
        reward_extractor: Module | None = None,
        done_extractor: Module | None = None,
    ):
        if observation_extractor is None:
            raise ValueError("FeatureExtractor: observation_extractor is required.")
        self.observation_extractor = _extractor(observation_extractor, "observation_extractor")
        self.action_extractor = _extractor(action_extractor, "action_extractor")
        self.reward_extractor = _extractor(reward_extractor, "reward_extractor")
        self.done_extractor = _extractor(done_extractor, "done_extractor")
        self.action_spec = None

    def _build(self, context: BuildContext, input_shape):
        shapes = [self.observation_extractor.build(context, input_shape)]
        if self.action_extractor is not None:
            if context.action_spec is None:
                raise BuildError(
                    "FeatureExtractor has an action_extractor, so the network must be "
                    "initialised with the environment's action_space."
                )
            self.action_spec = context.action_spec
            shapes.append(self.action_extractor.build(context, (self.action_spec.size,)))
        for extractor in (self.reward_extractor, self.done_extractor):
            if extractor is not None:
                shapes.append(extractor.build(context, (1,)))
        for shape in shapes:
            if len(shape) != 1:
                raise BuildError(
                    f"FeatureExtractor: every extractor must output a vector per step to be "
                    f"concatenated, got shape {shape}."
                )
        return (sum(shape[0] for shape in shapes),)

    def _encode_action(self, previous_action, leading):
        spec = self.action_spec
        if spec.discrete:
            if tuple(previous_action.shape) != leading or not jnp.issubdtype(previous_action.dtype, jnp.integer):
                raise BuildError(
                    f"FeatureExtractor: previous_action for {spec.describe()} must be integer "
                    f"indices of shape {leading}, got {previous_action.dtype} of shape {tuple(previous_action.shape)}."
                )
            return jax.nn.one_hot(previous_action, spec.num_actions)
        expected = leading + spec.shape
        if tuple(previous_action.shape) != expected:
            raise BuildError(
                f"FeatureExtractor: previous_action must have shape {expected}, got "
                f"{tuple(previous_action.shape)}."
            )
        return previous_action.reshape(leading + (-1,)).astype(jnp.float32)

    def __call__(self, observation, previous_action=None, previous_reward=None, episode_start=None):
        """observation (batch, time, *obs_shape), the rest (batch, time[, ...]) ->
        (batch, time, features)."""
        leading = tuple(observation.shape[:2])
        features = [self.observation_extractor(observation.astype(jnp.float32))]
        optional = (
            ("action_extractor", "previous_action", self.action_extractor, previous_action),
            ("reward_extractor", "previous_reward", self.reward_extractor, previous_reward),
            ("done_extractor", "episode_start", self.done_extractor, episode_start),
        )
        for field, argument, extractor, value in optional:
            if extractor is None:
                continue
            if value is None:
                raise BuildError(f"FeatureExtractor has a {field}, so the network needs {argument}.")
            value = jnp.asarray(value)
            if extractor is self.action_extractor:
                value = self._encode_action(value, leading)
            elif tuple(value.shape) != leading:
                raise BuildError(
                    f"FeatureExtractor: {argument} must have shape (batch, time) = {leading}, "
                    f"got {tuple(value.shape)}."
                )
            else:
                value = value.astype(jnp.float32)[..., None]
            features.append(extractor(value))
        return jnp.concatenate(features, axis=-1)
