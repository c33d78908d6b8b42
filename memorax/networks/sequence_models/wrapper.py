"""`SequenceModelWrapper`: the torso interface for any memorax module."""

from __future__ import annotations

from memorax.networks.module import BuildContext, Module
from memorax.networks.sequence_models.base import (
    SequenceModel,
    apply_sequence,
    checked_call_arguments,
    initial_carry,
)


class SequenceModelWrapper(SequenceModel):
    """Make `model` a torso: a sequence model runs as is, a feed-forward module (an
    MLP, say) runs on every step with an empty carry.

    The wrapper checks the call at the torso's boundary, so a wrong shape or a
    non-bool `episode_start` fails with what was expected rather than deep inside a
    scan, and fills in defaults: no `episode_start` means no episode starts inside the
    sequence, no `carry` means every row starts from the initial carry. Inside a
    `Network`, which has checked the call already, the wrapped model runs directly.
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
        """inputs (batch, time, features), episode_start (batch, time) bool -> (carry, outputs)."""
        self.check_input(inputs, leading_axes=2)
        episode_start, carry = checked_call_arguments(self.describe(), self.model, *inputs.shape[:2], episode_start, carry)
        return apply_sequence(self.model, inputs, episode_start, carry)


def unwrapped(module: Module) -> Module:
    """What a call checked already runs: the model of a `SequenceModelWrapper`, or
    `module` itself (so the checks happen once, where the user called)."""
    return module.model if isinstance(module, SequenceModelWrapper) else module
