"""Reset isolation at the extremes: huge inputs before an episode start, long mLSTM
chunks, and the sizes the seed documents use, for every registered torso.

Each model runs one compiled program on a few rows that share every input from the
episode start on and differ only before it: the plain inputs, the inputs scaled by
1e2 and 1e4, and inputs near float32's largest value (finite, though they overflow
inside the model). The sequence comes in two calls with the carry passed along and the
start inside the second call, inside an mLSTM block, so the rows' carries differ as
well. From the start on, every row must give the outputs of the plain one, finite.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from memorax.networks import RNN, initialize
from memorax.networks.blocks import FFN, PreNorm, Residual, Stack
from memorax.networks.sequence_models.attention import SelfAttention
from memorax.networks.sequence_models.base import apply_sequence, initial_carry
from memorax.networks.sequence_models.mamba import Mamba
from memorax.networks.sequence_models.s5 import S5
from memorax.networks.sequence_models.xlstm import mLSTM
from tests.networks.models import MODELS

SMALL_WIDTH, SMALL_HIDDEN = 3, 4
SEED_WIDTH = 64  # the seed documents' feature and torso width


def seed_transformer():
    layer = lambda: [
        PreNorm(Residual(SelfAttention(num_heads=4, head_dim=16))),
        PreNorm(Residual(FFN(hidden_dim=256))),
    ]
    return Stack(blocks=layer() + layer())


# The seed documents' torsos (building-networks.md, core-concepts.md), and the mLSTM
# at their width with long chunks.
SEED_MODELS = {
    "seed_lstm": lambda: RNN(nnx.LSTMCell(64, 64, rngs=nnx.Rngs(0))),
    "seed_gru": lambda: RNN(nnx.GRUCell(64, 64, rngs=nnx.Rngs(0))),
    "seed_mamba": lambda: Mamba(hidden_dim=64),
    "seed_s5": lambda: S5(hidden_dim=64, state_dim=64),
    "seed_attention": lambda: SelfAttention(num_heads=4, head_dim=16),
    "seed_transformer": seed_transformer,
    "seed_mlstm": lambda: mLSTM(hidden_dim=64),
    "seed_mlstm_chunk16": lambda: mLSTM(hidden_dim=64, chunk_size=16),
    "seed_mlstm_chunk64": lambda: mLSTM(hidden_dim=64, chunk_size=64),
}

CALL_LENGTH = 80  # two calls: longer than an mLSTM chunk of 64
START = CALL_LENGTH + 30  # in the second call; inside a block of 16 and of 64
PRE_START = ("plain", "x1e2", "x1e4", "near float32 max")


def width_of(name):
    return SEED_WIDTH if name in SEED_MODELS else SMALL_WIDTH


def make(name):
    return SEED_MODELS[name]() if name in SEED_MODELS else MODELS[name](SMALL_WIDTH, SMALL_HIDDEN)


def rows(width):
    """(rows, time, width) inputs equal from START on, extreme before it."""
    plain = jax.random.normal(jax.random.key(1), (2 * CALL_LENGTH, width))
    largest = plain / jnp.abs(plain).max() * 3e38
    before = (jnp.arange(2 * CALL_LENGTH) < START)[:, None]
    return jnp.stack([jnp.where(before, x, plain) for x in (plain, 1e2 * plain, 1e4 * plain, largest)])


@functools.cache
def outputs_of(name):
    """The model's outputs on `rows`, run as two calls with the carry passed along;
    built and run in one compiled program."""

    @jax.jit
    def run(inputs, starts):
        torso = make(name)
        initialize([torso], jax.random.key(0), (width_of(name),))
        calls = lambda x: jnp.swapaxes(x.reshape((x.shape[0], 2, CALL_LENGTH) + x.shape[2:]), 0, 1)
        step = lambda carry, call: apply_sequence(torso, *call, carry)
        _, outputs = jax.lax.scan(step, initial_carry(torso, inputs.shape[0]), (calls(inputs), calls(starts)))
        return jnp.swapaxes(outputs, 0, 1).reshape(inputs.shape[:2] + outputs.shape[3:])

    inputs = rows(width_of(name))
    starts = jnp.zeros(inputs.shape[:2], bool).at[:, 0].set(True).at[:, START].set(True)
    return np.asarray(run(inputs, starts))


# The quick tier (-m "not slow") keeps the models whose leaks these tests found (Mamba's
# parallel scan, mLSTM's chunks, attention near overflow); the whole suite checks all.
QUICK_MODELS = {"mamba", "mlstm_chunkwise", "attention_rope", "seed_mlstm", "seed_mlstm_chunk16"}


def quick_or_slow(names):
    return [pytest.param(name, marks=[] if name in QUICK_MODELS else [pytest.mark.slow]) for name in names]


@pytest.mark.parametrize("name", quick_or_slow(sorted(MODELS) + sorted(SEED_MODELS)))
def test_nothing_before_an_episode_start_reaches_past_it_even_when_huge(name):
    outputs = outputs_of(name)
    after = outputs[:, START:]
    assert np.isfinite(after).all(), [kind for kind, row in zip(PRE_START, after) if not np.isfinite(row).all()]
    for kind, row in zip(PRE_START[1:], after[1:]):
        np.testing.assert_allclose(row, after[0], rtol=1e-6, atol=1e-6, err_msg=f"{name}, inputs {kind} before the start")


@pytest.mark.parametrize("chunked", quick_or_slow(["seed_mlstm_chunk16", "seed_mlstm_chunk64"]))
def test_long_mlstm_chunks_match_the_sequential_form(chunked):
    """Same parameters (same key), so the chunkwise form reproduces the sequential one:
    everywhere for plain and x1e2 inputs (whose large log-gates leave relative float32
    rounding of 1e-4), and from the start on for all rows."""
    sequential, chunkwise = outputs_of("seed_mlstm"), outputs_of(chunked)
    np.testing.assert_allclose(chunkwise[:2], sequential[:2], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(chunkwise[:, START:], sequential[:, START:], rtol=1e-4, atol=1e-5)
