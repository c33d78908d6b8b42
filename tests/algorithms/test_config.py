"""The checks every algorithm config shares: finite numbers, `X | None` fields, replay
buffers that hold a batch."""

from __future__ import annotations

import dataclasses

import pytest

from memorax.algorithms import (
    ConfigError,
    DQNConfig,
    PPOConfig,
    PQNConfig,
    R2D2Config,
    SACConfig,
)
from memorax.algorithms.config import declared_type

CONFIGS = (PPOConfig, DQNConfig, R2D2Config, PQNConfig, SACConfig)


def fields_of_kind(kind: str):
    return [
        pytest.param(config, field.name, id=f"{config.__name__}.{field.name}")
        for config in CONFIGS
        for field in dataclasses.fields(config)
        if declared_type(field)[0] == kind
    ]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize(("config", "field"), fields_of_kind("float"))
def test_every_float_field_rejects_infinite_and_nan_values(config, field, value):
    with pytest.raises(ConfigError, match=rf"{config.__name__}\.{field}: must be a finite number"):
        config(**{field: value})


@pytest.mark.parametrize(("config", "field"), fields_of_kind("int"))
def test_every_count_rejects_fractions_and_strings(config, field):
    for value in (2.5, "8"):
        with pytest.raises(ConfigError, match=rf"{config.__name__}\.{field}: must be an integer"):
            config(**{field: value})


def test_optional_fields_take_none_and_only_there():
    assert PPOConfig(max_grad_norm=None, target_kl=None, sequence_length=None).target_kl is None
    assert SACConfig(target_entropy=None, max_grad_norm=None).max_grad_norm is None
    with pytest.raises(ConfigError, match=r"PPOConfig\.gamma: must not be None"):
        PPOConfig(gamma=None)
    with pytest.raises(ConfigError, match=r"DQNConfig\.max_grad_norm: must be positive or None"):
        DQNConfig(max_grad_norm=0.0)


def test_declared_types_read_optional_annotations():
    declared = {field.name: declared_type(field) for field in dataclasses.fields(PPOConfig)}
    assert declared["target_kl"] == ("float", True)
    assert declared["sequence_length"] == ("int", True)
    assert declared["num_envs"] == ("int", False)
    assert declared["normalize_advantages"] == ("bool", False)


@pytest.mark.parametrize(
    "config",
    [
        lambda: DQNConfig(batch_size=256, buffer_size=64),
        lambda: R2D2Config(num_envs=1, buffer_size=40, batch_size=32),  # 6 windows of 35
        lambda: SACConfig(num_envs=2, buffer_size=8, batch_size=8),  # 2 x 3 windows of 2
    ],
)
def test_replay_configs_reject_batches_the_buffer_cannot_hold(config):
    with pytest.raises(ConfigError, match=r"Config\.batch_size: .*Config\.buffer_size="):
        config()
