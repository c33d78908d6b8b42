"""Hide parts of the observation, turning a fully observed task into a POMDP."""

from __future__ import annotations

import numbers

import numpy as np
from gymnax.environments import spaces

from memorax.environments.wrappers.base import (
    ObservationWrapper,
    bounds,
    box_observation_space,
)


class MaskObservation(ObservationWrapper):
    """Remove the entries `indices` from a 1-D Box observation.

    E.g. `MaskObservation(cartpole, indices=(1, 3))` drops CartPole's two
    velocities, so the agent must infer them from successive positions. The
    observation space keeps the bounds of the entries that remain.
    """

    def __init__(self, env, indices):
        super().__init__(env)
        space = box_observation_space(env)
        if len(space.shape) != 1:
            raise ValueError(
                f"env must have a 1-D observation to mask, got shape {space.shape}"
            )
        size = space.shape[0]
        removed = _validated_indices(indices, size)
        self.indices = removed
        self.kept_indices = tuple(i for i in range(size) if i not in removed)

    def transform(self, key, observation):
        return observation[np.asarray(self.kept_indices)]

    def observation_space(self, params):
        space = self._env.observation_space(params)
        low, high = bounds(space)
        kept = np.asarray(self.kept_indices)
        return spaces.Box(
            low=low[kept].astype(space.dtype),
            high=high[kept].astype(space.dtype),
            shape=(len(kept),),
            dtype=space.dtype,
        )


def _validated_indices(indices, size: int) -> tuple[int, ...]:
    """The indices as sorted ints in [0, size), or a ValueError naming `indices`."""
    try:
        indices = tuple(indices)
    except TypeError as error:
        raise ValueError(
            f"indices must be a sequence of ints, got {indices!r}"
        ) from error
    if not indices:
        raise ValueError("indices must name at least one entry to remove")
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise ValueError(f"indices must be ints, got {index!r}")
        if not 0 <= index < size:
            raise ValueError(
                f"indices: {index} is out of range for an observation of size {size}"
            )
    if len(set(indices)) != len(indices):
        raise ValueError(f"indices must not repeat, got {indices}")
    if len(indices) == size:
        raise ValueError(f"indices would remove all {size} entries of the observation")
    return tuple(sorted(int(i) for i in indices))
