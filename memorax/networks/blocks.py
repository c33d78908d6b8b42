"""Blocks that compose sequence models: stacks, normalisation, residuals, feed-forward.

Each block is itself a sequence model, so blocks nest freely:
`Stack(blocks=[PreNorm(Residual(attention)), PreNorm(Residual(FFN(256)))])`.
A block's carry is its inner module's carry (a `Stack`'s is the tuple of its blocks').
Composition is literal: `PreNorm(Residual(f))` computes `norm(x) + f(norm(x))`, while
`Residual(PreNorm(f))` computes `x + f(norm(x))`, the usual pre-LN transformer block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flax import nnx

from memorax.networks.activations import resolve_activation
from memorax.networks.dense import linear
from memorax.networks.module import BuildContext, BuildError, Module, positive_int
from memorax.networks.sequence_models.base import SequenceModel, apply_sequence, initial_carry


def _require_module(value, owner: str) -> Module:
    if not isinstance(value, Module):
        raise TypeError(
            f"{owner} expects a memorax module (RNN(...), FFN(...), a block, ...), got "
            f"{type(value).__name__}."
        )
    return value


class FFN(Module):
    """Position-wise feed-forward block: Linear(hidden_dim), activation, Linear back."""

    def __init__(self, hidden_dim: int, activation: str | Callable = "gelu"):
        self.hidden_dim = positive_int(hidden_dim, "FFN", "hidden_dim")
        self.activation = activation
        self.activation_fn = resolve_activation(activation, "FFN")
        self.up = nnx.data(None)
        self.down = nnx.data(None)

    def _build(self, context: BuildContext, input_shape):
        width = self.vector_width(input_shape)
        self.up = linear(width, self.hidden_dim, rngs=context.rngs)
        self.down = linear(self.hidden_dim, width, rngs=context.rngs)
        return input_shape

    def __call__(self, x):
        self.check_input(x)
        return self.down(self.activation_fn(self.up(x)))


class _Wrapping(SequenceModel):
    """A block around one inner module, whose carry it passes through."""

    def __init__(self, module: Module):
        self.module = _require_module(module, type(self).__name__)

    def describe(self) -> str:
        return f"{type(self).__name__}({self.module.describe()})"

    def initialize_carry(self, batch_size: int):
        return initial_carry(self.module, batch_size)


class _Normalized(_Wrapping):
    def __init__(self, module: Module):
        super().__init__(module)
        self.norm = nnx.data(None)

    def _build_norm(self, context: BuildContext, input_shape):
        width = self.vector_width(input_shape)
        self.norm = nnx.LayerNorm(width, rngs=context.rngs)


class PreNorm(_Normalized):
    """LayerNorm the inputs, then run the inner module."""

    def _build(self, context: BuildContext, input_shape):
        self._build_norm(context, input_shape)
        return self.module.build(context, input_shape)

    def __call__(self, inputs, episode_start, carry):
        return apply_sequence(self.module, self.norm(inputs), episode_start, carry)


class PostNorm(_Normalized):
    """Run the inner module, then LayerNorm its outputs."""

    def _build(self, context: BuildContext, input_shape):
        output_shape = self.module.build(context, input_shape)
        self._build_norm(context, output_shape)
        return output_shape

    def __call__(self, inputs, episode_start, carry):
        carry, outputs = apply_sequence(self.module, inputs, episode_start, carry)
        return carry, self.norm(outputs)


class Residual(_Wrapping):
    """Add the inner module's outputs to its inputs (shapes must agree)."""

    def _build(self, context: BuildContext, input_shape):
        output_shape = self.module.build(context, input_shape)
        if tuple(output_shape) != tuple(input_shape):
            raise BuildError(
                f"{self.describe()}: the inner module maps shape {input_shape} to "
                f"{output_shape}; a residual connection needs them equal."
            )
        return input_shape

    def __call__(self, inputs, episode_start, carry):
        carry, outputs = apply_sequence(self.module, inputs, episode_start, carry)
        return carry, inputs + outputs


class Stack(SequenceModel):
    """Run blocks one after another; the carry is the tuple of the blocks' carries."""

    def __init__(self, blocks: Sequence[Module]):
        blocks = list(blocks)
        if not blocks:
            raise ValueError("Stack: blocks must hold at least one module.")
        self.blocks = nnx.List(_require_module(b, "Stack") for b in blocks)

    def describe(self) -> str:
        return f"Stack({len(self.blocks)} blocks)"

    def _build(self, context: BuildContext, input_shape):
        shape = input_shape
        for block in self.blocks:
            shape = block.build(context, shape)
        return shape

    def initialize_carry(self, batch_size: int):
        return tuple(initial_carry(block, batch_size) for block in self.blocks)

    def __call__(self, inputs, episode_start, carry):
        new_carry = []
        x = inputs
        for block, block_carry in zip(self.blocks, carry):
            block_carry, x = apply_sequence(block, x, episode_start, block_carry)
            new_carry.append(block_carry)
        return tuple(new_carry), x


__all__ = ["FFN", "PostNorm", "PreNorm", "Residual", "Stack"]

