"""MLP and CNN: shapes inferred at init, options, and the errors users meet first."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from memorax.networks import CNN, MLP, BuildError, NotBuiltError, initialize
from memorax.networks.module import BuildContext


def init(module, observation_shape, seed=0):
    initialize([module], jax.random.key(seed), observation_shape)
    return module


def normal(shape, seed=1):
    # numpy inputs: a new jax.random shape costs a compilation, numpy costs nothing.
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype=jnp.float32)


def inferred_shape(module, input_shape, seed=0):
    """The output shape `build` reports to the next module (what sizes its layers)."""
    return module.build(BuildContext(nnx.Rngs(params=jax.random.key(seed))), input_shape)


# ----------------------------------------------------------------------------- MLP


def test_mlp_vector_input_shape_and_layer_sizes():
    mlp = init(MLP(features=(16, 8)), (5,))
    assert [(layer.in_features, layer.out_features) for layer in mlp.layers] == [(5, 16), (16, 8)]
    out = mlp(normal((3, 4, 5)))
    assert out.shape == (3, 4, 8)
    assert inferred_shape(MLP(features=(16, 8)), (5,)) == (8,)


def test_mlp_int_features_is_one_layer():
    mlp = init(MLP(features=16), (5,))
    assert len(mlp.layers) == 1
    assert mlp(normal((4, 5))).shape == (4, 16)


def test_mlp_flattens_multi_dim_input():
    mlp = init(MLP(features=(16,), activate_final=False), (3, 4))
    assert mlp.layers[0].in_features == 12
    x = normal((2, 5, 3, 4))
    out = mlp(x)
    assert out.shape == (2, 5, 16)
    expected = mlp.layers[0](x.reshape(2, 5, 12))
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def _manual_forward(mlp, x, activation, activate_final):
    for i, layer in enumerate(mlp.layers):
        x = x @ layer.kernel[...] + layer.bias[...]
        if i < len(mlp.layers) - 1 or activate_final:
            x = activation(x)
    return x


@pytest.mark.parametrize("activate_final", [True, False])
def test_mlp_activate_final_matches_manual_forward(activate_final):
    mlp = init(MLP(features=(16, 8), activate_final=activate_final), (5,))
    x = normal((4, 5))
    out = mlp(x)
    np.testing.assert_allclose(out, _manual_forward(mlp, x, jax.nn.relu, activate_final), rtol=1e-5, atol=1e-5)
    if activate_final:
        assert bool(jnp.all(out >= 0))
    else:
        # Without the final ReLU some of 4 * 8 Gaussian-ish outputs are negative.
        assert bool(jnp.any(out < 0))


def test_mlp_layer_norm_normalises_each_layer():
    mlp = init(MLP(features=(16, 8), layer_norm=True, activate_final=False), (5,))
    assert mlp.norms is not None and len(mlp.norms) == 2
    out = mlp(normal((6, 5)) * 10.0 + 3.0)
    # The last layer's output goes through LayerNorm (scale 1, bias 0 at init) and no
    # activation, so every row has mean 0 and variance 1.
    np.testing.assert_allclose(out.mean(-1), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.var(-1), 1.0, atol=1e-2)

    plain = init(MLP(features=(16, 8), activate_final=False), (5,))
    assert plain.norms is None
    assert not np.allclose(plain(normal((6, 5)) * 10.0 + 3.0).var(-1), 1.0, atol=1e-2)


@pytest.mark.parametrize("name, fn", [("tanh", jnp.tanh), ("identity", lambda x: x)])
def test_mlp_activation_by_name(name, fn):
    mlp = init(MLP(features=(16, 8), activation=name), (5,))
    x = normal((4, 5))
    np.testing.assert_allclose(mlp(x), _manual_forward(mlp, x, fn, True), rtol=1e-5, atol=1e-5)


def test_mlp_activation_callable():
    calls = []

    def shifted(x):
        calls.append(x.shape)
        return x + 100.0

    mlp = init(MLP(features=(16, 8), activation=shifted), (5,))
    x = normal((4, 5))
    out = mlp(x)
    assert calls == [(4, 16), (4, 8)]
    np.testing.assert_allclose(out, _manual_forward(mlp, x, lambda v: v + 100.0, True), rtol=1e-5)


def test_mlp_unknown_activation_raises_at_construction_with_suggestion():
    with pytest.raises(ValueError) as info:
        MLP(features=(8,), activation="rleu")
    message = str(info.value)
    assert "MLP" in message
    assert "'relu'" in message
    assert "Did you mean" in message


def test_mlp_unknown_activation_far_from_any_name_lists_choices():
    with pytest.raises(ValueError) as info:
        MLP(features=(8,), activation="zzzzzz")
    message = str(info.value)
    assert "MLP" in message and "Did you mean" not in message
    assert "relu" in message and "tanh" in message


@pytest.mark.parametrize("features", [(), (0,), (8, -1), (8, 2.5), ("8",), 0])
def test_mlp_bad_features_rejected(features):
    with pytest.raises(ValueError, match=r"MLP: features"):
        MLP(features=features)


def test_mlp_call_before_init_raises_not_built():
    with pytest.raises(NotBuiltError, match=r"MLP has no parameters yet"):
        MLP(features=(8,))(jnp.ones((2, 5)))


def test_mlp_wrong_trailing_shape_names_expected_shape():
    mlp = init(MLP(features=(16, 8)), (5,))
    with pytest.raises(BuildError) as info:
        mlp(jnp.ones((2, 3, 4)))
    assert "MLP" in str(info.value)
    assert "(..., 5)" in str(info.value)
    assert "(2, 3, 4)" in str(info.value)


def test_mlp_wrong_multi_dim_trailing_shape():
    mlp = init(MLP(features=(16,)), (3, 4))
    with pytest.raises(BuildError, match=r"\(\.\.\., 3, 4\)"):
        mlp(jnp.ones((2, 4, 3)))


# ----------------------------------------------------------------------------- CNN


# features, kernel_sizes, strides: Atari-style kernels on MinAtar's 10x10 images.
MINATAR = ((16, 32, 24), (8, 4, 3), (4, 2, 1))


def _same(size, stride):
    return math.ceil(size / stride)


def test_cnn_same_padding_shape_on_minatar_sized_image():
    features, kernels, strides = MINATAR
    # SAME padding: each layer maps size n to ceil(n / stride), whatever the kernel.
    size = 10
    for s in strides:
        size = _same(size, s)
    assert size == 2  # 10 -> 3 -> 2 -> 2
    expected = size * size * features[-1]
    assert expected == 96

    assert inferred_shape(CNN(features, kernels, strides), (10, 10, 6)) == (expected,)
    cnn = init(CNN(features, kernels, strides), (10, 10, 6))
    assert [c.in_features for c in cnn.convs] == [6, 16, 32]
    out = cnn(normal((2, 3, 10, 10, 6)))
    assert out.shape == (2, 3, expected)


def test_cnn_valid_padding_non_square_image():
    features, kernels, strides = (4, 5), (3, (2, 3)), (2, (1, 2))
    # layer 0: h = (12 - 3) // 2 + 1 = 5, w = (9 - 3) // 2 + 1 = 4
    # layer 1: h = (5 - 2) // 1 + 1 = 4, w = (4 - 3) // 2 + 1 = 1
    expected = 4 * 1 * 5
    assert inferred_shape(CNN(features, kernels, strides, padding="VALID"), (12, 9, 3)) == (expected,)
    cnn = init(CNN(features, kernels, strides, padding="VALID"), (12, 9, 3))
    assert cnn(normal((2, 12, 9, 3))).shape == (2, expected)


def test_cnn_default_strides_are_one():
    cnn = init(CNN(features=(4,), kernel_sizes=(3,), padding="VALID"), (12, 9, 3))
    assert cnn.strides == ((1, 1),)
    # (12 - 3) + 1 = 10, (9 - 3) + 1 = 7
    assert cnn(normal((2, 12, 9, 3))).shape == (2, 10 * 7 * 4)


def test_cnn_leading_axes_are_independent():
    cnn = init(CNN(*MINATAR), (10, 10, 6))
    x = normal((2, 3, 10, 10, 6))
    out = cnn(x)
    # Reordering the (batch, time) entries reorders the outputs the same way: every
    # image is encoded on its own.
    flipped = cnn(x[::-1, ::-1])
    np.testing.assert_allclose(flipped, out[::-1, ::-1], rtol=1e-5, atol=1e-5)
    assert not np.allclose(out[0, 0], out[1, 2])
    assert bool(jnp.all(out >= 0))  # ReLU after every convolution


def test_cnn_valid_kernel_too_large_raises_build_error():
    cnn = CNN(*MINATAR, padding="VALID")
    with pytest.raises(BuildError) as info:
        init(cnn, (10, 10, 6))
    message = str(info.value)
    # Layer 0 maps 10 -> 1; layer 1's 4x4 kernel then does not fit.
    assert "CNN layer 1" in message
    assert "VALID" in message and "SAME" in message


@pytest.mark.parametrize("shape", [(4,), (2, 10, 10, 3), (10, 10)])
def test_cnn_wrong_observation_rank_raises_build_error(shape):
    with pytest.raises(BuildError) as info:
        init(CNN((8,), (3,)), shape)
    message = str(info.value)
    assert "CNN" in message
    assert "(height, width, channels)" in message
    assert str(shape) in message


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(features=(8, 8), kernel_sizes=(3,), strides=(1, 1)),
        dict(features=(8,), kernel_sizes=(3,), strides=(1, 1)),
        dict(features=(8, 8, 8), kernel_sizes=(3, 3), strides=None),
    ],
)
def test_cnn_mismatched_layer_lengths_raise_value_error(kwargs):
    with pytest.raises(ValueError, match=r"CNN: features, kernel_sizes and strides"):
        CNN(**kwargs)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(features=(8,), kernel_sizes=(0,)), "kernel_sizes"),
        (dict(features=(8,), kernel_sizes=((3, 3, 3),)), "kernel_sizes"),
        (dict(features=(8,), kernel_sizes=(3,), strides=(-1,)), "strides"),
        (dict(features=(8,), kernel_sizes=(3,), padding="same"), "padding"),
        (dict(features=(8,), kernel_sizes=(3,), activation="rellu"), "relu"),
    ],
)
def test_cnn_bad_configuration_raises_value_error(kwargs, field):
    with pytest.raises(ValueError) as info:
        CNN(**kwargs)
    assert "CNN" in str(info.value) and field in str(info.value)


def test_cnn_call_before_init_raises_not_built():
    with pytest.raises(NotBuiltError, match=r"CNN has no parameters yet"):
        CNN((8,), (3,))(jnp.ones((1, 10, 10, 6)))


def test_cnn_wrong_trailing_shape_names_expected_shape():
    cnn = init(CNN(*MINATAR), (10, 10, 6))
    with pytest.raises(BuildError) as info:
        cnn(jnp.ones((2, 10, 10, 3)))
    assert "CNN" in str(info.value)
    assert "(..., 10, 10, 6)" in str(info.value)
