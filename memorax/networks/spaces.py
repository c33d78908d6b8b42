"""What a network needs to know of an environment's spaces.

Networks accept gymnax spaces (or anything shaped like them: `n` for a discrete space,
`shape`, `low` and `high` for a box) and reduce them to these small, hashable records,
so that they can live in a module's static configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ActionSpec:
    """A discrete space of `num_actions` actions, or a box of `shape` in [low, high]."""

    discrete: bool
    shape: tuple[int, ...]
    num_actions: int | None = None
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None

    def describe(self) -> str:
        if self.discrete:
            return f"Discrete({self.num_actions})"
        return f"Box(shape={self.shape})"

    @property
    def size(self) -> int:
        """Width of the action as a network input: one-hot for discrete actions."""
        return self.num_actions if self.discrete else int(np.prod(self.shape))


def action_spec(space) -> ActionSpec | None:
    """Reduce a gymnax action space to an `ActionSpec` (None stays None)."""
    if space is None or isinstance(space, ActionSpec):
        return space
    if hasattr(space, "n"):
        return ActionSpec(discrete=True, shape=(), num_actions=int(space.n))
    if hasattr(space, "shape") and hasattr(space, "low") and hasattr(space, "high"):
        shape = tuple(int(d) for d in space.shape)
        low = np.broadcast_to(np.asarray(space.low, dtype=np.float64), shape)
        high = np.broadcast_to(np.asarray(space.high, dtype=np.float64), shape)
        return ActionSpec(
            discrete=False,
            shape=shape,
            low=tuple(low.ravel().tolist()),
            high=tuple(high.ravel().tolist()),
        )
    raise TypeError(
        f"action_space must be a gymnax Discrete or Box space, got {space!r}."
    )


def observation_shape(space) -> tuple[int, ...]:
    """The per-step observation shape of a gymnax space, or of a plain shape tuple."""
    if isinstance(space, (tuple, list)):
        return tuple(int(d) for d in space)
    if isinstance(space, int):
        return (space,)
    if hasattr(space, "n") and not hasattr(space, "low"):
        # A discrete observation is given to the network as its index.
        return ()
    if hasattr(space, "shape"):
        return tuple(int(d) for d in space.shape)
    raise TypeError(
        "observation_space must be a gymnax space or a shape tuple, got "
        f"{space!r}."
    )
