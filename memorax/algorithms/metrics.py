"""Training metrics reduced as they are produced, so memory does not grow with steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.algorithms.transition import Transition


@struct.dataclass
class EpisodeTally:
    """Sums over the episodes that finished during one `train` call."""

    episodes: jax.Array
    return_sum: jax.Array
    length_sum: jax.Array

    @classmethod
    def empty(cls) -> EpisodeTally:
        return cls(jnp.int32(0), jnp.float32(0), jnp.int32(0))

    def add(self, transitions: Transition) -> EpisodeTally:
        info = transitions.info
        return EpisodeTally(
            self.episodes + jnp.sum(info["returned_episode"]).astype(jnp.int32),
            self.return_sum + jnp.sum(info["episode_return"]),
            self.length_sum + jnp.sum(info["episode_length"]).astype(jnp.int32),
        )

    def summary(self) -> dict[str, jax.Array]:
        """Mean return and length of the finished episodes (NaN when none finished)."""
        count = self.episodes.astype(jnp.float32)
        nan_if_none = lambda total: jnp.where(
            count > 0, total / jnp.maximum(count, 1), jnp.nan
        )
        return {
            "episode_return": nan_if_none(self.return_sum),
            "episode_length": nan_if_none(self.length_sum.astype(jnp.float32)),
            "episodes": self.episodes,
        }


def over_applied_updates(metrics: dict, unweighted: tuple[str, ...] = ()) -> dict:
    """A call's learning metrics as means over the updates actually made.

    Update slots skipped before `learning_starts` report zeros and `updates_applied`
    0, so the call's mean of a metric divided by its mean of `updates_applied` is the
    mean over the updates made (NaN when none were). Keys in `unweighted` (acting
    values such as epsilon or the temperature) are plain means and stay as they are.
    """
    applied = metrics["updates_applied"]
    keep = set(unweighted) | {"updates_applied"}
    return {k: v if k in keep else v / applied for k, v in metrics.items()}


def mean_over_leading_axes(metrics: dict, axes: int) -> dict:
    """Average stacked per-update metrics (epochs x minibatches, ...) to scalars."""
    return jax.tree.map(lambda x: jnp.mean(x, axis=tuple(range(axes))), metrics)
