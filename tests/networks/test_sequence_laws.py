"""The two laws every torso obeys (SPEC.md), as property tests over random inputs,
reset patterns and chunk splits (sizes drawn once per model by default, and for every
example under HYPOTHESIS_PROFILE=thorough):

- chunk equivalence: one call over a sequence equals any split into chunks, down to one
  step at a time, with the carry passed along;
- reset isolation: after an episode start, outputs do not depend on anything before it
  (earlier inputs, or the carry the sequence began with).
"""

import itertools
import os
import random
import zlib
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import given
from hypothesis import strategies as st

from memorax.networks import MLP, RNN, FeatureExtractor, Network, heads, initialize
from memorax.networks.sequence_models.base import apply_sequence, initial_carry
from tests.networks.models import MODELS


class NetworkAsSequenceModel:
    """A whole Network (done flag as a feature, value head) seen through the law API."""

    def __init__(self, width, hidden):
        self.network = Network(
            FeatureExtractor(MLP(features=(width,)), done_extractor=MLP(features=(2,))),
            RNN(nnx.GRUCell(width + 2, hidden, rngs=nnx.Rngs(0))),
            heads.VNetwork(),
        )

    def build(self, key, width):
        self.network.init(key, (width,))
        self.split = nnx.split(self.network)

    def carry(self, batch):
        return self.network.initialize_carry(batch)

    def __call__(self, inputs, episode_start, carry):
        return host(jitted_call(*self.split, inputs, episode_start, carry))


class TorsoAsSequenceModel:
    def __init__(self, torso):
        self.torso = torso

    def build(self, key, width):
        initialize([self.torso], key, (width,))
        self.split = nnx.split(self.torso)

    def carry(self, batch):
        return initial_carry(self.torso, batch)

    def __call__(self, inputs, episode_start, carry):
        return host(jitted_call(*self.split, inputs, episode_start, carry))


def host(tree):
    """Results as numpy arrays: the tests slice, join and compare them on the host, so
    the only programs compiled are the model's own calls."""
    return jax.tree.map(np.asarray, tree)


@partial(jax.jit, static_argnums=0)
def jitted_call(graphdef, state, inputs, episode_start, carry):
    """Compiled once per shape, so stepping through a sequence reuses one program."""
    module = nnx.merge(graphdef, state)
    if isinstance(module, Network):
        carry, values = module(inputs, episode_start, carry=carry)
        return carry, values[..., None]
    return apply_sequence(module, inputs, episode_start, carry)


MODEL_NAMES = sorted(MODELS) + ["network"]

# The default and CI profiles keep one shape per model, so each model compiles its
# programs once (one per chunk length) and every further example only runs them; the
# `thorough` profile (HYPOTHESIS_PROFILE=thorough) draws new sizes for every example.
SWEEP_SIZES = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
TIME = 8


def fixed_sizes(name):
    """Sizes drawn once per model (from its name, so every run draws the same)."""
    rng = random.Random(zlib.crc32(name.encode()))
    return dict(width=rng.randint(1, 6), hidden=rng.randint(1, 6), batch=rng.randint(2, 3), time=TIME)


@st.composite
def sizes(draw, name):
    if not SWEEP_SIZES:
        return fixed_sizes(name)
    return dict(
        width=draw(st.integers(1, 6)),
        hidden=draw(st.integers(1, 6)),
        batch=draw(st.integers(1, 3)),
        time=draw(st.integers(1, 10)),
    )


@st.composite
def law_cases(draw, name):
    size = draw(sizes(name))
    width, hidden, batch, time = size["width"], size["hidden"], size["batch"], size["time"]
    starts = draw(st.lists(st.lists(st.booleans(), min_size=time, max_size=time), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 2**16))
    if name == "network":
        sequence_model = NetworkAsSequenceModel(width, hidden)
    else:
        sequence_model = TorsoAsSequenceModel(MODELS[name](width, hidden))
    sequence_model.build(jax.random.key(seed), width)
    inputs = np.random.default_rng(seed + 1).standard_normal((batch, time, width), dtype=np.float32)
    return sequence_model, inputs, np.array(starts, dtype=bool).reshape(batch, time), seed


def warm_carry(model, inputs, seed):
    """The carry after a random sequence as long as the inputs: not the initial carry,
    so passing it along matters, yet a carry the model can really produce (valid masks,
    positive normalisers, ...). Same shape as the inputs, so no extra compile."""
    warm_up = np.random.default_rng(seed).standard_normal(inputs.shape, dtype=np.float32)
    starts = np.zeros(inputs.shape[:2], bool)
    starts[:, 0] = True
    carry, _ = model(warm_up, starts, model.carry(inputs.shape[0]))
    return carry


# float32 rounding differs between programs compiled for different chunk lengths, and a
# LayerNorm over a few nearly equal features magnifies it; a broken carry or a leak
# across an episode start shows up as errors of order 0.1, far above this.
TOLERANCE = 1e-4


def assert_trees_close(a, b, atol=TOLERANCE):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=TOLERANCE)


def run_in_chunks(model, inputs, starts, carry, bounds):
    pieces = []
    for lo, hi in itertools.pairwise(bounds):
        carry, piece = model(inputs[:, lo:hi], starts[:, lo:hi], carry)
        pieces.append(piece)
    return carry, np.concatenate(pieces, axis=1)


def check_chunk_equivalence(data, model, inputs, starts, carry):
    """One call == a random split into chunks == one step at a time."""
    time = starts.shape[1]
    whole_carry, whole = model(inputs, starts, carry)
    cuts = sorted(data.draw(st.sets(st.integers(1, time - 1), max_size=time - 1))) if time > 1 else []
    for bounds in ([0, *cuts, time], list(range(time + 1))):
        chunk_carry, chunked = run_in_chunks(model, inputs, starts, carry, bounds)
        assert_trees_close(chunked, whole)
        assert_trees_close(chunk_carry, whole_carry)


def check_reset_isolation(data, model, inputs, starts, carry, seed):
    """After an episode start, nothing the row saw before it (inputs or the carry it
    began with) reaches its outputs, and other rows are untouched."""
    batch, time = starts.shape
    row = data.draw(st.integers(0, batch - 1))
    reset_at = data.draw(st.integers(0, time - 1))
    starts = starts.copy()
    starts[row, reset_at] = True
    _, outputs = model(inputs, starts, carry)

    noise = 3.0 * np.random.default_rng(seed + 7).standard_normal(inputs.shape, dtype=np.float32)
    before = (np.arange(time) < reset_at)[None, :, None] & (np.arange(batch) == row)[:, None, None]
    changed_inputs = np.where(before, inputs + noise, inputs)
    other_carry = warm_carry(model, inputs, seed + 11)
    is_row = np.arange(batch) == row
    changed_carry = jax.tree.map(
        lambda mine, other: np.where(is_row.reshape((batch,) + (1,) * (mine.ndim - 1)), other, mine),
        carry,
        other_carry,
    )
    _, changed = model(changed_inputs, starts, changed_carry)

    np.testing.assert_allclose(changed[row, reset_at:], outputs[row, reset_at:], atol=TOLERANCE, rtol=TOLERANCE)
    others = np.arange(batch) != row
    np.testing.assert_allclose(changed[others], outputs[others], atol=TOLERANCE, rtol=TOLERANCE)


@pytest.mark.parametrize("name", MODEL_NAMES)
@given(data=st.data())
def test_chunk_equivalence_and_reset_isolation(name, data):
    """Both laws on the same drawn case: they share the model's compiled programs."""
    model, inputs, starts, seed = data.draw(law_cases(name))
    carry = warm_carry(model, inputs, seed)
    check_chunk_equivalence(data, model, inputs, starts, carry)
    check_reset_isolation(data, model, inputs, starts, carry, seed)


def test_laws_can_fail_for_a_model_that_ignores_resets():
    """The reset test above detects a leak: without resets, earlier inputs do matter."""
    model = TorsoAsSequenceModel(MODELS["gru"](3, 4))
    model.build(jax.random.key(0), 3)
    inputs = jax.random.normal(jax.random.key(1), (1, 6, 3))
    no_starts = jnp.zeros((1, 6), bool)
    _, outputs = model(inputs, no_starts, model.carry(1))
    _, changed = model(inputs.at[:, :3].add(1.0), no_starts, model.carry(1))
    assert not np.allclose(changed[:, 3:], outputs[:, 3:], atol=TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_long_sequences_stay_finite_and_differentiable_under_jit_and_vmap(name):
    """T=4096 with default initialisation: no NaN or overflow in outputs or gradients."""
    torso = MODELS[name](8, 8)
    initialize([torso], jax.random.key(0), (8,))
    graphdef, state = nnx.split(torso)
    inputs = jax.random.normal(jax.random.key(1), (2, 2, 4096, 8))
    starts = jnp.zeros((2, 2, 4096), bool).at[:, :, 0].set(True)

    def loss(state, inputs, starts):
        module = nnx.merge(graphdef, state)
        _, outputs = apply_sequence(module, inputs, starts, initial_carry(module, inputs.shape[0]))
        return jnp.mean(outputs**2), outputs

    grad_fn = jax.jit(jax.vmap(jax.grad(loss, has_aux=True), in_axes=(None, 0, 0)))
    grads, outputs = grad_fn(state, inputs, starts)
    assert bool(jnp.all(jnp.isfinite(outputs)))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    assert float(jnp.abs(outputs).max()) < 1e4
