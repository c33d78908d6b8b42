"""Action distributions beyond what distrax offers directly."""

from __future__ import annotations

import distrax
import jax.numpy as jnp


class SquashedNormal(distrax.Transformed):
    """A diagonal Gaussian squashed by tanh into the box [low, high] (SAC's policy).

    `mode()` is the squashed Gaussian mean. The entropy of a squashed Gaussian has no
    closed form: `entropy(seed=key)` returns the one-sample estimate -log p(a) with a
    drawn from the distribution, which is what SAC's objective uses.
    """

    def __init__(self, loc, scale, low, high):
        low, high = jnp.asarray(low, loc.dtype), jnp.asarray(high, loc.dtype)
        squash = distrax.Chain(
            [distrax.ScalarAffine(shift=(high + low) / 2, scale=(high - low) / 2), distrax.Tanh()]
        )
        super().__init__(distrax.MultivariateNormalDiag(loc, scale), distrax.Block(squash, ndims=1))

    def mode(self):
        return self.bijector.forward(self.distribution.mode())

    def entropy(self, seed=None):
        if seed is None:
            raise ValueError(
                "SquashedNormal.entropy has no closed form: pass seed=key for a one-sample "
                "estimate, or use -log_prob of sampled actions."
            )
        _, log_prob = self.sample_and_log_prob(seed=seed)
        return -log_prob
