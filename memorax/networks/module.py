"""The memorax module base: modules written without rngs or input sizes.

A memorax module records its configuration when constructed and creates its
parameters in `build`, once the shape of its input is known. `build` is driven by a
`BuildContext`, which carries the random stream and the environment's action space
and remembers every module it has built: a module object shared by two networks is
built once, so its parameters exist once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from flax import nnx

from memorax.networks.spaces import ActionSpec


class BuildError(ValueError):
    """A network cannot be built for the input or environment it was given."""


class NotBuiltError(RuntimeError):
    """A module was called before `init` created its parameters."""


class BuildContext:
    """One initialisation pass: the parameter random stream and what was built."""

    def __init__(self, rngs: nnx.Rngs, action_spec: ActionSpec | None = None):
        self.rngs = rngs
        self.action_spec = action_spec
        # id(module) -> (module, input shape, output shape); the module is kept so its
        # id stays unique for the life of the pass.
        self._built: dict[int, tuple[Module, tuple[int, ...], Any]] = {}

    def lookup(self, module: Module, input_shape: tuple[int, ...]) -> tuple[bool, Any]:
        """Return (True, output shape) when `module` was already built in this pass."""
        entry = self._built.get(id(module))
        if entry is None:
            return False, None
        _, seen_shape, output_shape = entry
        if seen_shape != input_shape:
            raise BuildError(
                f"{module.describe()} is shared by two networks but receives input of "
                f"shape {seen_shape} in one and {input_shape} in the other; a shared "
                "module needs the same input shape everywhere."
            )
        return True, output_shape

    def record(self, module: Module, input_shape: tuple[int, ...], output_shape: Any) -> None:
        self._built[id(module)] = (module, input_shape, output_shape)


def positive_int(value, owner: str, field: str) -> int:
    """Validate a size given to a constructor; booleans are not sizes."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{owner}: {field} must be a positive int, got {value!r}.")
    return value


def as_shape(shape: Sequence[int] | int) -> tuple[int, ...]:
    if isinstance(shape, int):
        return (shape,)
    return tuple(int(d) for d in shape)


class Module(nnx.Module):
    """Base of every memorax module: configuration now, parameters at `build`.

    Subclasses implement `_build(context, input_shape) -> output_shape`, where shapes
    are per-step feature shapes (no batch or time axes).
    """

    input_shape: tuple[int, ...] | None = None

    def describe(self) -> str:
        return type(self).__name__

    @property
    def is_built(self) -> bool:
        return self.input_shape is not None

    def build(self, context: BuildContext, input_shape: Sequence[int] | int) -> Any:
        """Create this module's parameters for inputs of per-step shape `input_shape`."""
        input_shape = as_shape(input_shape)
        done, output_shape = context.lookup(self, input_shape)
        if done:
            return output_shape
        output_shape = self._build(context, input_shape)
        self.input_shape = input_shape
        context.record(self, input_shape, output_shape)
        return output_shape

    def _build(self, context: BuildContext, input_shape: tuple[int, ...]) -> Any:
        raise NotImplementedError

    def vector_width(self, input_shape: tuple[int, ...]) -> int:
        """The width of vector features, or a clear error for any other shape."""
        if len(input_shape) != 1:
            raise BuildError(f"{self.describe()} expects vector features per step, got shape {input_shape}.")
        return input_shape[0]

    def require_built(self) -> None:
        if not self.is_built:
            raise NotBuiltError(
                f"{self.describe()} has no parameters yet: initialise the network that "
                "holds it first, e.g. `network.init(key, observation_space, action_space)`."
            )

    def check_input(self, x, leading_axes: int | None = None) -> None:
        """Raise a clear error unless `x` ends in this module's input shape."""
        self.require_built()
        rank = len(self.input_shape)
        trailing = tuple(x.shape[x.ndim - rank:]) if x.ndim >= rank else None
        if trailing != self.input_shape or (
            leading_axes is not None and x.ndim != leading_axes + rank
        ):
            lead = "(..., " if leading_axes is None else "(" + "".join(
                f"{name}, " for name in ("batch", "time")[:leading_axes]
            )
            expected = lead + ", ".join(map(str, self.input_shape)) + ")"
            raise BuildError(
                f"{self.describe()} expects input of shape {expected}, got {tuple(x.shape)}."
            )


def flat_size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)
