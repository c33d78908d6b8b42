"""Algorithms: PPO, DQN, SAC, PQN and R2D2, recurrent-aware, each a frozen Config, a
State pytree and the algorithm class with `init`, `train`, `warmup` and `evaluate`
(see docs/algorithms.md)."""

from memorax.algorithms.base import Algorithm
from memorax.algorithms.config import ConfigError
from memorax.algorithms.dqn import DQN, DQNConfig, DQNState
from memorax.algorithms.ppo import PPO, PPOConfig, PPOState
from memorax.algorithms.pqn import PQN, PQNConfig, PQNState
from memorax.algorithms.r2d2 import R2D2, R2D2Config, R2D2State
from memorax.algorithms.sac import SAC, SACConfig, SACState
from memorax.algorithms.transition import Transition

__all__ = [
    "DQN",
    "PPO",
    "PQN",
    "R2D2",
    "SAC",
    "Algorithm",
    "ConfigError",
    "DQNConfig",
    "DQNState",
    "PPOConfig",
    "PPOState",
    "PQNConfig",
    "PQNState",
    "R2D2Config",
    "R2D2State",
    "SACConfig",
    "SACState",
    "Transition",
]
