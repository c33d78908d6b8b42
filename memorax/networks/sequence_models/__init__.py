"""Sequence models (torsos): map (batch, time, features) sequences with a carry."""

from memorax.networks.sequence_models.attention import SelfAttention
from memorax.networks.sequence_models.base import SequenceModel
from memorax.networks.sequence_models.lru import LRU
from memorax.networks.sequence_models.mingru import MinGRU
from memorax.networks.sequence_models.rnn import RNN
from memorax.networks.sequence_models.s5 import S5
from memorax.networks.sequence_models.wrapper import SequenceModelWrapper

__all__ = ["LRU", "MinGRU", "RNN", "S5", "SelfAttention", "SequenceModel", "SequenceModelWrapper"]
