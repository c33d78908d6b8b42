"""Heads: what a network outputs for its RL objective.

Shape convention, for torso outputs of shape (batch, time, features):
- policies return a distrax distribution with batch shape (batch, time);
- `VNetwork` and `ContinuousQNetwork` return one value per step, (batch, time);
- `DiscreteQNetwork` returns one value per action, (batch, time, action_dim);
- ensembles put the member first: `TwinContinuousQNetwork` returns (2, batch, time).
Each head checks at build time that it fits the environment's action space.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import distrax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from memorax.networks.dense import linear
from memorax.networks.distributions import SquashedNormal
from memorax.networks.mlp import MLP, check_widths
from memorax.networks.module import BuildContext, BuildError, Module, positive_int

# Small policy and unit value initial layers, the PPO implementation details.
POLICY_INIT = nnx.initializers.orthogonal(0.01)
VALUE_INIT = nnx.initializers.orthogonal(1.0)



class Head(Module):
    """A head maps torso outputs (batch, time, features) to the network's output."""


class _ActionHead(Head):
    """A head with one output per action; checks the action space it is built for."""

    needs_discrete: bool

    def __init__(self, action_dim: int):
        self.action_dim = positive_int(action_dim, type(self).__name__, "action_dim")
        self.layer = nnx.data(None)

    def describe(self) -> str:
        return f"{type(self).__name__}(action_dim={self.action_dim})"

    def _build_layer(self, context: BuildContext, input_shape, outputs: int, kernel_init) -> None:
        """Check the action space, then create the output layer."""
        self._check_action_space(context.action_spec)
        self.layer = linear(self.vector_width(input_shape), outputs, kernel_init=kernel_init, rngs=context.rngs)

    def _check_action_space(self, spec):
        if spec is None:
            return
        if spec.discrete != self.needs_discrete:
            kind = "discrete" if self.needs_discrete else "continuous"
            raise BuildError(
                f"{self.describe()} is a {kind}-action head, but the environment's action "
                f"space is {spec.describe()}."
            )
        if not spec.discrete and len(spec.shape) != 1:
            raise BuildError(
                f"{self.describe()} needs a one-dimensional action space, got {spec.describe()}; "
                "flatten the environment's actions first."
            )
        if spec.size != self.action_dim:
            raise BuildError(
                f"{self.describe()} does not fit the environment's action space "
                f"{spec.describe()}: use action_dim={spec.size}."
            )


class Categorical(_ActionHead):
    """Policy over discrete actions: logits -> distrax.Categorical."""

    needs_discrete = True

    def _build(self, context, input_shape):
        self._build_layer(context, input_shape, self.action_dim, POLICY_INIT)
        return (self.action_dim,)

    def __call__(self, x):
        self.check_input(x)
        return distrax.Categorical(logits=self.layer(x))


class DiscreteQNetwork(_ActionHead):
    """One Q-value per discrete action: (batch, time, action_dim)."""

    needs_discrete = True

    def _build(self, context, input_shape):
        self._build_layer(context, input_shape, self.action_dim, VALUE_INIT)
        return (self.action_dim,)

    def __call__(self, x):
        self.check_input(x)
        return self.layer(x)


class Gaussian(_ActionHead):
    """Diagonal Gaussian policy over continuous actions (PPO's).

    The mean is a linear function of the features; the log standard deviation is a
    learned parameter independent of the state (`state_dependent_std=False`, the
    PPO default) or a second linear output.
    """

    needs_discrete = False

    def __init__(self, action_dim: int, state_dependent_std: bool = False, initial_log_std: float = 0.0):
        super().__init__(action_dim)
        self.state_dependent_std = state_dependent_std
        self.initial_log_std = initial_log_std
        self.log_std = nnx.data(None)

    def _build(self, context, input_shape):
        outputs = 2 * self.action_dim if self.state_dependent_std else self.action_dim
        self._build_layer(context, input_shape, outputs, POLICY_INIT)
        if not self.state_dependent_std:
            self.log_std = nnx.Param(jnp.full((self.action_dim,), self.initial_log_std, jnp.float32))
        return (self.action_dim,)

    def __call__(self, x):
        self.check_input(x)
        out = self.layer(x)
        if self.state_dependent_std:
            mean, log_std = jnp.split(out, 2, axis=-1)
            log_std = log_std + self.initial_log_std
        else:
            mean, log_std = out, jnp.broadcast_to(self.log_std[...], out.shape)
        return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std))


class SquashedGaussian(_ActionHead):
    """Tanh-squashed Gaussian policy for bounded actions (SAC's).

    Mean and log standard deviation are both functions of the state; the log standard
    deviation is squashed into [log_std_min, log_std_max]. Samples lie inside the
    environment's action bounds (or [-1, 1] when built without an action space).
    """

    needs_discrete = False

    def __init__(self, action_dim: int, log_std_min: float = -5.0, log_std_max: float = 2.0):
        super().__init__(action_dim)
        if not log_std_min < log_std_max:
            raise ValueError(f"SquashedGaussian: log_std_min ({log_std_min}) must be below log_std_max ({log_std_max}).")
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max
        self.low = (-1.0,) * action_dim
        self.high = (1.0,) * action_dim

    def _build(self, context, input_shape):
        self._build_layer(context, input_shape, 2 * self.action_dim, POLICY_INIT)
        spec = context.action_spec
        if spec is not None:
            if not (np.all(np.isfinite(spec.low)) and np.all(np.isfinite(spec.high))):
                raise BuildError(
                    f"{self.describe()} squashes actions into the action space's bounds, but "
                    f"{spec.describe()} is unbounded; use Gaussian for unbounded actions."
                )
            self.low, self.high = spec.low, spec.high
        return (self.action_dim,)

    def __call__(self, x):
        self.check_input(x)
        mean, raw_log_std = jnp.split(self.layer(x), 2, axis=-1)
        span = self.log_std_max - self.log_std_min
        log_std = self.log_std_min + 0.5 * span * (jnp.tanh(raw_log_std) + 1.0)
        return SquashedNormal(mean, jnp.exp(log_std), jnp.array(self.low), jnp.array(self.high))


class VNetwork(Head):
    """State value: one number per step, (batch, time)."""

    def __init__(self):
        self.layer = nnx.data(None)

    def _build(self, context, input_shape):
        self.layer = linear(self.vector_width(input_shape), 1, kernel_init=VALUE_INIT, rngs=context.rngs)
        return ()

    def __call__(self, x):
        self.check_input(x)
        return self.layer(x)[..., 0]


class ContinuousQNetwork(Head):
    """Q(h, a) for continuous actions: the torso output and the action, concatenated,
    through an MLP of `hidden_features`, to one value per step, (batch, time).

    Called as `network(..., action=a)` with `a` of shape (batch, time, action_dim).
    """

    def __init__(self, hidden_features: Sequence[int] = (256,), activation: str | Callable = "relu"):
        self.hidden_features = tuple(hidden_features)
        if self.hidden_features:
            check_widths(self.hidden_features, type(self).__name__, "hidden_features")
        self.mlp = MLP(self.hidden_features, activation=activation) if self.hidden_features else None
        self.output = nnx.data(None)
        self.action_shape = None

    def _build(self, context, input_shape):
        spec = context.action_spec
        if spec is None:
            raise BuildError(f"{self.describe()} needs the environment's action_space to be built.")
        if spec.discrete:
            raise BuildError(
                f"{self.describe()} takes continuous actions, but the environment's action space "
                f"is {spec.describe()}; use DiscreteQNetwork."
            )
        if len(spec.shape) != 1:
            raise BuildError(
                f"{self.describe()} needs a one-dimensional action space, got {spec.describe()}; "
                "flatten the environment's actions first."
            )
        self.action_shape = spec.shape
        width = self.vector_width(input_shape) + spec.size
        if self.mlp is not None:
            (width,) = self.mlp.build(context, (width,))
        self.output = linear(width, 1, kernel_init=VALUE_INIT, rngs=context.rngs)
        return ()

    def __call__(self, x, action=None):
        self.check_input(x)
        expected = tuple(x.shape[:-1]) + self.action_shape
        if action is None or tuple(jnp.shape(action)) != expected:
            got = None if action is None else tuple(jnp.shape(action))
            raise BuildError(f"{self.describe()} needs action= of shape {expected}, got {got}.")
        h = jnp.concatenate([x, action.reshape(x.shape[:-1] + (-1,))], axis=-1)
        if self.mlp is not None:
            h = self.mlp(h)
        return self.output(h)[..., 0]


class TwinContinuousQNetwork(Head):
    """Two independent `ContinuousQNetwork`s (SAC's clipped double Q): (2, batch, time)."""

    def __init__(self, hidden_features: Sequence[int] = (256,), activation: str | Callable = "relu"):
        self.critics = nnx.List(ContinuousQNetwork(hidden_features, activation) for _ in range(2))

    def _build(self, context, input_shape):
        for critic in self.critics:
            critic.build(context, input_shape)
        return ()

    def __call__(self, x, action=None):
        return jnp.stack([critic(x, action) for critic in self.critics])


__all__ = [
    "Categorical",
    "ContinuousQNetwork",
    "DiscreteQNetwork",
    "Gaussian",
    "Head",
    "SquashedGaussian",
    "TwinContinuousQNetwork",
    "VNetwork",
]
