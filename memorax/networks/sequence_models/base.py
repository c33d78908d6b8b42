"""The torso contract shared by every sequence model.

A sequence model maps batch-major inputs `(batch, time, features)` and a per-step
`episode_start` flag `(batch, time)` to outputs `(batch, time, features')`, threading a
carry through time. The carry is a pytree whose every leaf has the batch as its first
axis; `initialize_carry(batch_size)` makes the carry a new episode starts from. Where
`episode_start[b, t]` is set, the carry entering step t of row b is replaced by that
initial carry, so nothing before an episode start reaches the outputs after it.

Feed-forward modules (MLP, FFN, ...) take part in sequences with an empty carry `()`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.networks.module import BuildError, Module


class SequenceModel(Module):
    """Base of every torso: `(inputs, episode_start, carry) -> (carry, outputs)`."""

    def initialize_carry(self, batch_size: int):
        raise NotImplementedError

    def __call__(self, inputs, episode_start, carry):
        raise NotImplementedError


def apply_sequence(module: Module, inputs, episode_start, carry):
    """Run any memorax module over a sequence; feed-forward ones keep the carry `()`."""
    if isinstance(module, SequenceModel):
        return module(inputs, episode_start, carry)
    return carry, module(inputs)


def initial_carry(module: Module, batch_size: int):
    """The episode-start carry of any memorax module (`()` for feed-forward ones)."""
    if isinstance(module, SequenceModel):
        return module.initialize_carry(batch_size)
    return ()


def reset_carry(carry, start_carry, episode_start_step):
    """Replace the carry of every row whose episode starts at this step.

    `episode_start_step` has shape (batch,); carry leaves have the batch first.
    """

    def select(start_leaf, leaf):
        flag = episode_start_step.reshape(episode_start_step.shape + (1,) * (leaf.ndim - 1))
        return jnp.where(flag, start_leaf, leaf)

    return jax.tree.map(select, start_carry, carry)


def check_carry(module: Module, carry, batch_size: int) -> None:
    """Fail clearly when `carry` does not have the structure and shapes of the module's."""
    expected = jax.eval_shape(lambda: initial_carry(module, batch_size))
    expected_structure = jax.tree.structure(expected)
    if jax.tree.structure(carry) != expected_structure:
        raise BuildError(
            f"{module.describe()}: the carry passed in has structure "
            f"{jax.tree.structure(carry)}, expected {expected_structure}; make it with "
            "`initialize_carry(batch_size)` or pass the carry the previous call returned."
        )
    for want, got in zip(jax.tree.leaves(expected), jax.tree.leaves(carry)):
        if tuple(want.shape) != tuple(jnp.shape(got)):
            raise BuildError(
                f"{module.describe()}: a carry leaf has shape {tuple(jnp.shape(got))}, "
                f"expected {tuple(want.shape)} for batch size {batch_size}."
            )


def checked_call_arguments(caller: str, torso: Module, batch_size: int, time: int, episode_start, carry):
    """`(episode_start, carry)` for a public call over `(batch_size, time)` steps.

    The one check of a call's flags and carry, made where the user calls (a `Network`
    or a `SequenceModelWrapper`, named by `caller`); what runs inside trusts them.
    `episode_start=None` means no starts, `carry=None` the initial carry of `torso`.
    Only shapes and dtypes are checked, never values, so it runs unchanged under jit.
    """
    if episode_start is None:
        episode_start = jnp.zeros((batch_size, time), bool)
    episode_start = jnp.asarray(episode_start)
    if tuple(episode_start.shape) != (batch_size, time):
        raise BuildError(
            f"{caller}: episode_start must have shape (batch, time) = {(batch_size, time)}, "
            f"got {tuple(episode_start.shape)}."
        )
    if episode_start.dtype != jnp.bool_:
        # A float or int array would be read as "nonzero starts an episode", silently.
        raise TypeError(
            f"{caller}: episode_start must be a bool array (True on the first step of an "
            f"episode), got dtype {episode_start.dtype}; convert it first, e.g. "
            "`episode_start.astype(bool)`."
        )
    if carry is None:
        carry = initial_carry(torso, batch_size)
    else:
        check_carry(torso, carry, batch_size)
    return episode_start, carry


def time_major(tree):
    """Swap the batch and time axes of every leaf: (batch, time, ...) <-> (time, batch, ...)."""
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), tree)
