"""RNN given a cell class and a width: the cell is made for the width the torso
receives, from the initialisation key. (Its laws run in test_sequence_laws.py.)"""

import jax
import numpy as np
import pytest
from flax import nnx

from memorax.networks import MLP, RNN, FeatureExtractor, Network, heads


def test_cell_is_made_for_the_features_it_receives_from_the_init_key():
    def network():
        return Network(FeatureExtractor(MLP(features=(6,))), RNN(nnx.LSTMCell, features=5), heads.VNetwork())

    first, second = network(), network()
    first.init(jax.random.key(0), (3,))
    second.init(jax.random.key(1), (3,))
    assert first.torso.cell.in_features == 6 and first.torso.cell.hidden_features == 5
    assert first.torso.describe() == "RNN(LSTMCell)"
    kernel = lambda net: np.asarray(net.torso.cell.ii.kernel[...])
    assert not np.array_equal(kernel(first), kernel(second))
    carry, values = first(jax.numpy.ones((2, 4, 3)), jax.numpy.zeros((2, 4), bool))
    assert values.shape == (2, 4) and jax.tree.leaves(carry)[0].shape == (2, 5)


@pytest.mark.parametrize(
    "cell, kwargs, error, message",
    [
        (nnx.GRUCell, {}, ValueError, "RNN: features must be a positive int, got None"),
        (nnx.GRUCell, {"features": 0}, ValueError, "RNN: features must be a positive int, got 0"),
        (nnx.Linear, {"features": 3}, TypeError, "Linear is not an nnx RNN cell class"),
        (nnx.GRUCell(2, 3, rngs=nnx.Rngs(0)), {"features": 3}, TypeError, "features= goes with a cell class"),
    ],
)
def test_bad_cells_and_widths_fail_at_construction(cell, kwargs, error, message):
    with pytest.raises(error, match=message):
        RNN(cell, **kwargs)
