"""Sequence models (torsos): map (batch, time, features) sequences with a carry."""

from memorax.networks.sequence_models.attention import SelfAttention
from memorax.networks.sequence_models.base import SequenceModel
from memorax.networks.sequence_models.ffm import FFM
from memorax.networks.sequence_models.linear_attention import LinearAttention
from memorax.networks.sequence_models.lru import LRU
from memorax.networks.sequence_models.mamba import Mamba
from memorax.networks.sequence_models.mingru import MinGRU
from memorax.networks.sequence_models.rnn import RNN
from memorax.networks.sequence_models.s5 import S5
from memorax.networks.sequence_models.wrapper import SequenceModelWrapper
from memorax.networks.sequence_models.xlstm import mLSTM, sLSTM

__all__ = ["FFM", "LRU", "RNN", "S5", "LinearAttention", "Mamba", "MinGRU", "SelfAttention", "SequenceModel", "SequenceModelWrapper", "mLSTM", "sLSTM"]
