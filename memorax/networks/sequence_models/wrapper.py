"""`SequenceModelWrapper`: the torso interface for any memorax module."""

from __future__ import annotations

import jax.numpy as jnp

from memorax.networks.module import BuildContext, BuildError, Module
from memorax.networks.sequence_models.base import (
    SequenceModel,
    apply_sequence,
    check_carry,
    initial_carry,
)


class SequenceModelWrapper(SequenceModel):
    """Make `model` a torso: a sequence model runs as is, a feed-forward module (an
    MLP, say) runs on every step with an empty carry.

    The wrapper checks the call at the torso's boundary, so a wrong shape fails with
    the expected shape rather than deep inside a scan, and fills in defaults: no
    `episode_start` means no episode starts inside the sequence, no `carry` means
    every row starts from the initial carry.
    """

    def __init__(self, model: Module):
        if not isinstance(model, Module):
            raise TypeError(
                "SequenceModelWrapper expects a memorax module (RNN(...), MLP(...), ...), "
                f"got {type(model).__name__}. Wrap nnx RNN cells with RNN(cell) first."
            )
        self.model = model

    def describe(self) -> str:
        return f"SequenceModelWrapper({self.model.describe()})"

    def _build(self, context: BuildContext, input_shape):
        return self.model.build(context, input_shape)

    def initialize_carry(self, batch_size: int):
        return initial_carry(self.model, batch_size)

    def __call__(self, inputs, episode_start=None, carry=None):
        """inputs (batch, time, features), episode_start (batch, time) -> (carry, outputs)."""
        self.check_input(inputs, leading_axes=2)
        batch, time = inputs.shape[:2]
        if episode_start is None:
            episode_start = jnp.zeros((batch, time), dtype=bool)
        elif tuple(jnp.shape(episode_start)) != (batch, time):
            raise BuildError(
                f"{self.describe()}: episode_start must have shape (batch, time) = "
                f"{(batch, time)}, got {tuple(jnp.shape(episode_start))}."
            )
        if carry is None:
            carry = self.initialize_carry(batch)
        else:
            check_carry(self.model, carry, batch)
        return apply_sequence(self.model, inputs, jnp.asarray(episode_start, dtype=bool), carry)
