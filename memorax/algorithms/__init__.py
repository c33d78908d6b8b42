"""Algorithms: PPO, DQN, SAC, PQN and R2D2, recurrent-aware, each a frozen Config, a
State pytree and the algorithm class with `init`, `train`, `warmup` and `evaluate`."""

from memorax.algorithms.base import Algorithm
from memorax.algorithms.config import ConfigError
from memorax.algorithms.ppo import PPO, PPOConfig, PPOState
from memorax.algorithms.transition import Transition

__all__ = ["PPO", "Algorithm", "ConfigError", "PPOConfig", "PPOState", "Transition"]
