"""Wrappers that keep the gymnax API: logging, POMDP makers, normalisation, limits.

Each wraps one environment (vmap adds the batch) and can wrap another wrapper.
Order matters where episodes end or statistics are kept; a typical stack is
`NormalizeReward(EpisodeStatistics(TimeLimit(Flicker(MaskObservation(env, ...), ...), ...)))`.
"""

from memorax.environments.wrappers.base import ObservationWrapper, Wrapper
from memorax.environments.wrappers.delay import DelayedObservation
from memorax.environments.wrappers.episode_statistics import EpisodeStatistics
from memorax.environments.wrappers.masking import MaskObservation
from memorax.environments.wrappers.noise import Flicker, ObservationNoise
from memorax.environments.wrappers.normalize import (
    NormalizeObservation,
    NormalizeReward,
)
from memorax.environments.wrappers.time_limit import TimeLimit

__all__ = [
    "DelayedObservation",
    "EpisodeStatistics",
    "Flicker",
    "MaskObservation",
    "NormalizeObservation",
    "NormalizeReward",
    "ObservationNoise",
    "ObservationWrapper",
    "TimeLimit",
    "Wrapper",
]
