"""`RNN`: any flax.nnx recurrent cell as a memorax torso."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.module import BuildContext, BuildError, positive_int
from memorax.networks.sequence_models.base import SequenceModel, reset_carry, time_major
from memorax.networks.sequence_models.rnn_fused import fused_cell


def redraw_parameters(cell: nnx.Module, rngs: nnx.Rngs) -> None:
    """Give a pre-built nnx module fresh parameters drawn from `rngs`, in place.

    flax keeps a module's configuration as attributes but not its constructor call, so
    the module is constructed again from those attributes (missing ones take the
    class defaults) and its parameters copied over. The object stays the same, so a
    cell shared by two networks stays shared. Initialisers given to the original
    constructor are not recorded by flax: the class defaults are used.
    """
    cls = type(cell)
    kwargs = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "keep_rngs") or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        if name == "rngs":
            kwargs[name] = rngs
        elif name in vars(cell) and getattr(cell, name) is not None:
            kwargs[name] = getattr(cell, name)
        elif parameter.default is parameter.empty:
            raise BuildError(
                f"RNN: cannot redraw the parameters of the pre-built {cls.__name__}: its "
                f"constructor argument {name!r} is not kept as an attribute. Pass "
                "`reinitialize=False` to keep the cell's own parameters."
            )
    fresh = cls(**kwargs)
    old_state, new_state = nnx.state(cell, nnx.Param), nnx.state(fresh, nnx.Param)
    shapes = lambda state: jax.tree.map(lambda x: (x.shape, x.dtype), state)
    if jax.tree.structure(old_state) != jax.tree.structure(new_state) or shapes(old_state) != shapes(new_state):
        raise BuildError(
            f"RNN: rebuilding the pre-built {cls.__name__} from its attributes gave "
            "parameters of other shapes. Pass `reinitialize=False` to keep its own."
        )
    nnx.update(cell, new_state)


def scan_cell(cell: nnx.Module, inputs, episode_start, carry, start_carry, *, hoist: bool = True):
    """Scan `cell` over (batch, time, in) `inputs`, the carry reset to `start_carry` at
    episode starts; returns (carry, (batch, time, hidden) outputs).

    For the flax cells known to `rnn_fused` (and `hoist=True`) the input projection of
    every step is computed in one matmul before the scan and the scan does only the
    recurrent part, which is much faster on CPU; other cells run their own `__call__`
    at each step (the generic path, also the reference the hoisted one is tested against).
    """
    fused = fused_cell(cell) if hoist else None
    xs, episode_start = time_major((inputs, episode_start))
    if fused is None:
        cell_step = cell
    else:
        # One (time, batch, hidden) array per gate: see rnn_fused on why not one array.
        xs = tuple(jnp.split(fused.input_projection(cell, xs), fused.num_gates, axis=-1))
        cell_step = lambda carry, x: fused.recurrent_step(cell, carry, x)

    def step(carry, step_inputs):
        x, starts = step_inputs
        carry = reset_carry(carry, start_carry, starts)
        return cell_step(carry, x)

    carry, outputs = jax.lax.scan(step, carry, (xs, episode_start))
    return carry, time_major(outputs)


HOIST_INPUTS = False  # RNN's default for `hoist_inputs`: see its docstring


class RNN(SequenceModel):
    """Scan an nnx RNN cell (LSTMCell, OptimizedLSTMCell, GRUCell, SimpleCell, ...)
    over time, resetting its carry at episode starts.

    The cell comes pre-built (`nnx.LSTMCell(64, 64, rngs=nnx.Rngs(0))`); when the
    network is initialised its parameters are redrawn from the initialisation key
    (`reinitialize=True`), so different keys give different cells. Its `in_features`
    must equal the width of the features it receives. Or give the cell's class and its
    width, `RNN(nnx.GRUCell, features=64)`: the cell is then made when the network is
    initialised, for the width it receives (what experiment files use).

    `hoist_inputs=True` computes the input projections of the known flax cells for all
    steps before the scan (`scan_cell`, `rnn_fused`); same results to float rounding.
    Off by default: on the 2-core CPU machines this project runs on it measured no faster,
    and slower for larger batches or hidden sizes (the per-step work is dominated by XLA's
    per-op overhead, not by the small input matmuls, and the hoisted projection is a
    memory-bound (time, batch, k*hidden) array instead of cache-resident per-step blocks).
    """

    def __init__(
        self,
        cell: nnx.Module | type[nnx.Module],
        reinitialize: bool = True,
        hoist_inputs: bool = HOIST_INPUTS,
        features: int | None = None,
    ):
        self.cell_type = None
        if isinstance(cell, type):
            takes = inspect.signature(cell.__init__).parameters
            if not issubclass(cell, nnx.Module) or not {"in_features", "hidden_features"} <= set(takes):
                raise TypeError(f"RNN: {cell.__name__} is not an nnx RNN cell class such as nnx.GRUCell.")
            self.cell_type, self.features = cell, positive_int(features, "RNN", "features")
            self.cell = nnx.data(None)  # made in _build, for the width the torso receives
            self.reinitialize, self.hoist_inputs = False, hoist_inputs
            return
        if features is not None:
            raise TypeError("RNN: features= goes with a cell class (RNN(nnx.GRUCell, features=64)), not a built cell.")
        missing = [a for a in ("in_features", "hidden_features", "initialize_carry") if not hasattr(cell, a)]
        if not isinstance(cell, nnx.Module) or missing:
            raise TypeError(
                "RNN expects a flax.nnx RNN cell such as nnx.LSTMCell(64, 64, rngs=nnx.Rngs(0)), "
                f"got {type(cell).__name__}" + (f" (it has no {', '.join(missing)})" if missing else "") + "."
            )
        self.cell = cell
        self.reinitialize = reinitialize
        self.hoist_inputs = hoist_inputs

    def describe(self) -> str:
        return f"RNN({(self.cell_type or type(self.cell)).__name__})"

    def _build(self, context: BuildContext, input_shape):
        if self.cell_type is not None:
            if len(input_shape) != 1:
                raise BuildError(f"{self.describe()}: needs vector features, got features of shape {input_shape}.")
            self.cell = nnx.data(self.cell_type(input_shape[0], self.features, rngs=context.rngs))
        if input_shape != (self.cell.in_features,):
            raise BuildError(
                f"{self.describe()}: the cell takes {self.cell.in_features} input features, "
                f"but it receives features of shape {input_shape}. Build the cell with "
                f"in_features={input_shape[-1] if input_shape else 1}, or change the layer before it."
            )
        if self.reinitialize:
            redraw_parameters(self.cell, context.rngs)
        return (self.cell.hidden_features,)

    def initialize_carry(self, batch_size: int):
        return self.cell.initialize_carry((batch_size, self.cell.in_features), rngs=nnx.Rngs(0))

    def __call__(self, inputs, episode_start, carry):
        """inputs (batch, time, in_features) -> (carry, (batch, time, hidden_features))."""
        self.check_input(inputs, leading_axes=2)
        start_carry = self.initialize_carry(inputs.shape[0])
        return scan_cell(self.cell, inputs, episode_start, carry, start_carry, hoist=self.hoist_inputs)
