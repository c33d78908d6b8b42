"""Sequence models (torsos): map (batch, time, features) sequences with a carry."""

from memorax.networks.sequence_models.base import SequenceModel
from memorax.networks.sequence_models.rnn import RNN
from memorax.networks.sequence_models.wrapper import SequenceModelWrapper

__all__ = ["RNN", "SequenceModel", "SequenceModelWrapper"]
