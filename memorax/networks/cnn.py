"""Convolutional feature extractor for image observations (height, width, channels)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from flax import nnx

from memorax.networks.activations import resolve_activation
from memorax.networks.mlp import check_widths
from memorax.networks.module import BuildContext, BuildError, Module


def _pair(value, owner: str, field: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"{owner}: each entry of {field} must be a positive int or a pair of them, got {value!r}.")
    return pair


class CNN(Module):
    """Convolutions with an activation after each, flattened to one feature vector.

    `padding="SAME"` (the default) keeps small images such as MinAtar's 10x10 usable
    with Atari-sized kernels; with "VALID" a kernel larger than its input is an error
    at build time.
    """

    def __init__(
        self,
        features: Sequence[int],
        kernel_sizes: Sequence[int | tuple[int, int]],
        strides: Sequence[int | tuple[int, int]] | None = None,
        padding: str = "SAME",
        activation: str | Callable = "relu",
        kernel_init: Callable = nnx.initializers.orthogonal(math.sqrt(2)),
    ):
        self.features = check_widths(features, "CNN", "features")
        n = len(self.features)
        strides = (1,) * n if strides is None else tuple(strides)
        kernel_sizes = tuple(kernel_sizes)
        if len(kernel_sizes) != n or len(strides) != n:
            raise ValueError(
                f"CNN: features, kernel_sizes and strides need one entry per layer; got "
                f"{n}, {len(kernel_sizes)} and {len(strides)}."
            )
        self.kernel_sizes = tuple(_pair(k, "CNN", "kernel_sizes") for k in kernel_sizes)
        self.strides = tuple(_pair(s, "CNN", "strides") for s in strides)
        if padding not in ("SAME", "VALID"):
            raise ValueError(f"CNN: padding must be 'SAME' or 'VALID', got {padding!r}.")
        self.padding = padding
        self.activation = activation
        self.activation_fn = resolve_activation(activation, "CNN")
        self.kernel_init = kernel_init
        self.convs = nnx.data(None)

    def _build(self, context: BuildContext, input_shape):
        if len(input_shape) != 3:
            raise BuildError(
                f"CNN expects observations of shape (height, width, channels), got per-step "
                f"shape {input_shape} (rank {len(input_shape)}). Use MLP for vector "
                "observations; give a grayscale image a channel axis."
            )
        height, width, channels = input_shape
        convs = []
        for layer, (out, kernel, stride) in enumerate(zip(self.features, self.kernel_sizes, self.strides)):
            if self.padding == "SAME":
                height, width = -(-height // stride[0]), -(-width // stride[1])
            else:
                height = (height - kernel[0]) // stride[0] + 1
                width = (width - kernel[1]) // stride[1] + 1
                if height < 1 or width < 1:
                    raise BuildError(
                        f"CNN layer {layer}: kernel {kernel} with VALID padding does not fit the "
                        f"{input_shape[:2]} image at this depth; use padding='SAME' or smaller kernels."
                    )
            convs.append(
                nnx.Conv(
                    channels, out, kernel_size=kernel, strides=stride, padding=self.padding,
                    kernel_init=self.kernel_init, rngs=context.rngs,
                )
            )
            channels = out
        self.convs = nnx.List(convs)
        return (height * width * channels,)

    def __call__(self, x):
        """(..., height, width, channels) -> (..., flattened features)."""
        self.check_input(x)
        leading = x.shape[:-3]
        x = x.reshape((-1,) + self.input_shape)
        for conv in self.convs:
            x = self.activation_fn(conv(x))
        return x.reshape(leading + (-1,))
