"""memorax networks: FeatureExtractor -> Torso -> Head, as flax.nnx modules.

Modules are written without rngs or input sizes; `Network.init(key, observation_space,
action_space)` (or `initialize` / `initial_state` for several networks) infers the
shapes and creates the parameters.
"""

from memorax.networks import blocks, heads
from memorax.networks.cnn import CNN
from memorax.networks.feature_extractor import FeatureExtractor
from memorax.networks.mlp import MLP
from memorax.networks.module import BuildError, Module, NotBuiltError
from memorax.networks.network import Network, initial_state, initialize
from memorax.networks.sequence_models import RNN, SequenceModel, SequenceModelWrapper

__all__ = [
    "CNN",
    "MLP",
    "RNN",
    "BuildError",
    "FeatureExtractor",
    "Module",
    "Network",
    "NotBuiltError",
    "SequenceModel",
    "SequenceModelWrapper",
    "blocks",
    "heads",
    "initial_state",
    "initialize",
]
