"""`RNN`: any flax.nnx recurrent cell as a memorax torso."""

from __future__ import annotations

import inspect

import jax
from flax import nnx

from memorax.networks.module import BuildContext, BuildError, positive_int
from memorax.networks.sequence_models.base import SequenceModel, reset_carry, time_major
from memorax.networks.sequence_models.recurrence import cell_sequence


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


def scan_cell(cell: nnx.Module, inputs, episode_start, carry, start_carry, *, step_by_step: bool = False):
    """Scan `cell` over (batch, time, in) `inputs`, the carry reset to `start_carry` at
    episode starts; returns (carry, (batch, time, hidden) outputs).

    flax's GRU and LSTM cells (as configured by default) run as a whole-sequence
    recurrence with hand-written gradients (`recurrence`), which does the same
    arithmetic in far fewer operations per step; any other cell, or `step_by_step=True`,
    runs the cell's own `__call__` at each step under autodiff (the reference the
    recurrence is tested against). A single step (acting) calls the cell once, with no
    loop. `start_carry` is the cell's constant initial carry: no gradient flows into it.
    """
    xs, episode_start = time_major((inputs, episode_start))
    start_carry = jax.lax.stop_gradient(start_carry)
    if xs.shape[0] == 1:  # acting: one step, no loop around it
        carry, output = cell(reset_carry(carry, start_carry, episode_start[0]), xs[0])
        return carry, output[:, None]
    sequence = None if step_by_step else cell_sequence(cell)
    if sequence is not None:
        carry, outputs = sequence(cell, xs, episode_start, carry, start_carry)
        return carry, time_major(outputs)

    def step(carry, step_inputs):
        x, starts = step_inputs
        carry = reset_carry(carry, start_carry, starts)
        return cell(carry, x)

    carry, outputs = jax.lax.scan(step, carry, (xs, episode_start))
    return carry, time_major(outputs)


class RNN(SequenceModel):
    """Scan an nnx RNN cell (LSTMCell, OptimizedLSTMCell, GRUCell, SimpleCell, ...)
    over time, resetting its carry at episode starts.

    The cell comes pre-built (`nnx.LSTMCell(64, 64, rngs=nnx.Rngs(0))`); when the
    network is initialised its parameters are redrawn from the initialisation key
    (`reinitialize=True`), so different keys give different cells. Its `in_features`
    must equal the width of the features it receives. Or give the cell's class and its
    width, `RNN(nnx.GRUCell, features=64)`: the cell is then made when the network is
    initialised, for the width it receives (what experiment files use).

    flax's GRUCell, LSTMCell and OptimizedLSTMCell with their default activations run
    as a whole-sequence recurrence with hand-written gradients (`recurrence`): the same
    parameters, outputs and gradients to float rounding, in a fraction of the time.
    `step_by_step=True` runs the cell's own `__call__` at each step instead (any other
    cell always does), e.g. to time the two or to check a cell's equations.
    """

    def __init__(
        self,
        cell: nnx.Module | type[nnx.Module],
        reinitialize: bool = True,
        step_by_step: bool = False,
        features: int | None = None,
    ):
        self.cell_type = None
        if isinstance(cell, type):
            takes = inspect.signature(cell.__init__).parameters
            if not issubclass(cell, nnx.Module) or not {"in_features", "hidden_features"} <= set(takes):
                raise TypeError(f"RNN: {cell.__name__} is not an nnx RNN cell class such as nnx.GRUCell.")
            self.cell_type, self.features = cell, positive_int(features, "RNN", "features")
            self.cell = nnx.data(None)  # made in _build, for the width the torso receives
            self.reinitialize, self.step_by_step = False, step_by_step
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
        self.step_by_step = step_by_step

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
        return scan_cell(self.cell, inputs, episode_start, carry, start_carry, step_by_step=self.step_by_step)
