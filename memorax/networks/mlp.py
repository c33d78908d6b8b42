"""Multi-layer perceptron over the trailing feature axes of its input."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

from flax import nnx

from memorax.networks.activations import resolve_activation
from memorax.networks.dense import linear
from memorax.networks.module import BuildContext, Module, flat_size


def check_widths(widths: Sequence[int], owner: str, field: str) -> tuple[int, ...]:
    """Validate a sequence of layer widths at construction time."""
    if isinstance(widths, int) and not isinstance(widths, bool):
        widths = (widths,)
    widths = tuple(widths)
    if not widths or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
        raise ValueError(f"{owner}: {field} must be a non-empty sequence of positive ints, got {widths!r}.")
    return widths


class MLP(Module):
    """Dense layers with an activation between them.

    Inputs of any per-step shape are flattened, so `MLP` takes vector observations,
    flattened images or torso outputs alike. Orthogonal initialisation with gain
    sqrt(2) follows the PPO implementation details most RL code uses.
    """

    def __init__(
        self,
        features: Sequence[int],
        activation: str | Callable = "relu",
        activate_final: bool = True,
        layer_norm: bool = False,
        kernel_init: Callable = nnx.initializers.orthogonal(math.sqrt(2)),
    ):
        self.features = check_widths(features, "MLP", "features")
        self.activation = activation
        self.activation_fn = resolve_activation(activation, "MLP")
        self.activate_final = activate_final
        self.layer_norm = layer_norm
        self.kernel_init = kernel_init
        self.layers = nnx.data(None)
        self.norms = nnx.data(None)

    def _build(self, context: BuildContext, input_shape):
        widths = (flat_size(input_shape),) + self.features
        self.layers = nnx.List(
            linear(a, b, kernel_init=self.kernel_init, rngs=context.rngs)
            for a, b in itertools.pairwise(widths)
        )
        if self.layer_norm:
            self.norms = nnx.List(nnx.LayerNorm(w, rngs=context.rngs) for w in self.features)
        return (self.features[-1],)

    def __call__(self, x):
        """(..., *input_shape) -> (..., features[-1])."""
        self.check_input(x)
        x = x.reshape(x.shape[: x.ndim - len(self.input_shape)] + (-1,))
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.norms is not None:
                x = self.norms[i](x)
            if i < last or self.activate_final:
                x = self.activation_fn(x)
        return x
