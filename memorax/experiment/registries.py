"""The one place where names in an experiment file become objects: algorithms,
torsos, feature extractors, heads, environment wrappers and optax optimizers."""

from __future__ import annotations

import optax
from flax import nnx

from memorax.algorithms import DQN, PPO, PQN, R2D2, SAC, DQNConfig, PPOConfig, PQNConfig, R2D2Config, SACConfig
from memorax.environments import wrappers
from memorax.networks import CNN, MLP, RNN, SequenceModelWrapper, blocks, heads
from memorax.networks.sequence_models import (
    FFM,
    LRU,
    S5,
    LinearAttention,
    Mamba,
    MinGRU,
    SelfAttention,
    mLSTM,
    sLSTM,
)

# name -> (algorithm class, its config class)
ALGORITHMS = {
    "PPO": (PPO, PPOConfig),
    "DQN": (DQN, DQNConfig),
    "R2D2": (R2D2, R2D2Config),
    "PQN": (PQN, PQNConfig),
    "SAC": (SAC, SACConfig),
}


def _rnn(cell_class):
    def make(features: int, step_by_step: bool = False):
        return RNN(cell_class, features=features, step_by_step=step_by_step)

    return make


def _memoryless_mlp(features: list[int], activation: str = "relu", layer_norm: bool = False):
    return SequenceModelWrapper(MLP(features=tuple(features), activation=activation, layer_norm=layer_norm))


# Torsos by name: factories taking the file's arguments. Blocks take nested torsos
# (`module:` or `blocks:`), which the builder makes first.
TORSOS = {
    "MLP": _memoryless_mlp,
    "GRU": _rnn(nnx.GRUCell),
    "LSTM": _rnn(nnx.LSTMCell),
    "OptimizedLSTM": _rnn(nnx.OptimizedLSTMCell),
    "SimpleRNN": _rnn(nnx.SimpleCell),
    "S5": S5,
    "LRU": LRU,
    "MinGRU": MinGRU,
    "Mamba": Mamba,
    "FFM": FFM,
    "LinearAttention": LinearAttention,
    "SelfAttention": SelfAttention,
    "sLSTM": sLSTM,
    "mLSTM": mLSTM,
    "Stack": blocks.Stack,
    "PreNorm": blocks.PreNorm,
    "PostNorm": blocks.PostNorm,
    "Residual": blocks.Residual,
    "FFN": blocks.FFN,
}
NESTED_TORSO_ARGUMENTS = {"Stack": "blocks", "PreNorm": "module", "PostNorm": "module", "Residual": "module"}


def _mlp(features: list[int], activation: str = "relu", activate_final: bool = True, layer_norm: bool = False):
    return MLP(features=tuple(features), activation=activation, activate_final=activate_final, layer_norm=layer_norm)


def _cnn(features: list[int], kernel_sizes: list[int], strides: list[int] | None = None, activation: str = "relu"):
    return CNN(
        features=tuple(features),
        kernel_sizes=tuple(tuple(k) if isinstance(k, list) else k for k in kernel_sizes),
        **({} if strides is None else {"strides": tuple(tuple(s) if isinstance(s, list) else s for s in strides)}),
        activation=activation,
    )


EXTRACTORS = {"MLP": _mlp, "CNN": _cnn}

# Heads by name; `action_dim` is always the environment's, never written in a file.
HEADS = {
    "Categorical": heads.Categorical,
    "Gaussian": heads.Gaussian,
    "SquashedGaussian": heads.SquashedGaussian,
    "DiscreteQNetwork": heads.DiscreteQNetwork,
    "VNetwork": heads.VNetwork,
    "ContinuousQNetwork": heads.ContinuousQNetwork,
    "TwinContinuousQNetwork": heads.TwinContinuousQNetwork,
}
ACTION_HEADS = {"Categorical", "Gaussian", "SquashedGaussian", "DiscreteQNetwork"}

WRAPPERS = {
    name: getattr(wrappers, name)
    for name in (
        "MaskObservation",
        "ObservationNoise",
        "Flicker",
        "DelayedObservation",
        "NormalizeObservation",
        "NormalizeReward",
        "TimeLimit",
        "EpisodeStatistics",
    )
}

# Optax optimizers a file may name (each takes a learning rate first).
OPTIMIZERS = {
    name: getattr(optax, name)
    for name in (
        "adam",
        "adamw",
        "adamax",
        "adabelief",
        "adagrad",
        "amsgrad",
        "lamb",
        "lion",
        "nadam",
        "radam",
        "rmsprop",
        "sgd",
        "yogi",
    )
}
# Learning-rate schedules by name, with optax's own arguments (counts in optimizer
# updates, as optax counts them).
SCHEDULES = {
    "constant": optax.constant_schedule,
    "linear": optax.linear_schedule,
    "cosine_decay": optax.cosine_decay_schedule,
    "exponential_decay": optax.exponential_decay,
    "warmup_cosine_decay": optax.warmup_cosine_decay_schedule,
}
