"""make(): every id, kwargs routed to the constructor or the params, clear errors."""

from __future__ import annotations

import gymnax
import pytest

from memorax.environments import make, memory_ids, registered_ids

FAMILIES = [
    "RepeatFirst", "RepeatPrevious", "CountRecall", "Autoencode", "StatelessCartPole",
    "NoisyStatelessCartPole", "StatelessPendulum", "NoisyStatelessPendulum",
    "HigherLower", "MultiarmedBandit", "Battleship", "Concentration", "MineSweeper",
    "TMaze",
]


def test_every_gymnax_id_and_every_memory_task_difficulty_is_registered():
    ids = registered_ids()
    assert set(gymnax.registered_envs) <= set(ids)
    expected = {f"{f}-{d}" for f in FAMILIES for d in ("Easy", "Medium", "Hard")}
    assert set(memory_ids()) == expected
    assert len(ids) == len(set(ids))


def test_unknown_id_lists_the_closest_ids():
    with pytest.raises(ValueError, match="Closest known ids: RepeatPrevious-Easy"):
        make("RepeatPrevius-Easy")
    with pytest.raises(ValueError, match="CartPole-v1"):
        make("Cartpole-v1")


def test_keywords_go_to_the_constructor_or_replace_params():
    env, params = make("TMaze-Easy", corridor_length=400)
    assert params.corridor_length == 400
    _, params = make("CartPole-v1", max_steps_in_episode=200, gravity=3.0)
    assert (params.max_steps_in_episode, params.gravity) == (200, 3.0)
    env, _ = make("RepeatPrevious-Easy", k=8)
    assert env.k == 8


def test_unknown_keyword_names_itself_and_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown keyword\(s\) \['gravty'\].*gravity"):
        make("CartPole-v1", gravty=3.0)


def test_plain_numbers_take_the_type_of_the_field_they_replace():
    _, params = make("BernoulliBandit-misc", max_steps_in_episode=50)
    assert isinstance(params.max_steps_in_episode, float)
    _, params = make("CartPole-v1", max_steps_in_episode=200.0, gravity=3)
    assert type(params.max_steps_in_episode) is int and type(params.gravity) is float


@pytest.mark.parametrize(
    ("keyword", "value", "reason"),
    [
        ("max_steps_in_episode", -5, "must be a positive integer, got -5"),
        ("max_steps_in_episode", 0, "must be a positive integer, got 0"),
        ("max_steps_in_episode", "abc", "must be a positive integer, got 'abc'"),
        ("max_steps_in_episode", True, "must be a positive integer, got True"),
        ("max_steps_in_episode", 2.5, "must be a positive integer, got 2.5"),
        ("max_steps_in_episode", float("inf"), "must be a positive integer, got inf"),
        ("gravity", float("nan"), "must be a finite number, got nan"),
        ("gravity", "abc", "must be a finite number, got 'abc'"),
        ("gravity", False, "must be a finite number, got False"),
    ],
)
def test_bad_param_values_fail_at_the_call_naming_id_keyword_and_reason(keyword, value, reason):
    with pytest.raises(ValueError) as error:
        make("CartPole-v1", **{keyword: value})
    assert str(error.value) == f"make('CartPole-v1'): {keyword} {reason}"


def test_float_count_fields_and_boolean_fields_are_checked_too():
    with pytest.raises(ValueError, match=r"make\('BernoulliBandit-misc'\): max_steps_in_episode must be a positive integer"):
        make("BernoulliBandit-misc", max_steps_in_episode=-1.0)
    with pytest.raises(ValueError, match=r"make\('PointRobot-misc'\): normalize_time must be True or False, got 1"):
        make("PointRobot-misc", normalize_time=1)


def test_bad_constructor_values_name_the_id():
    with pytest.raises(ValueError, match=r"make\('TMaze-Easy'\): corridor_length must be an integer >= 1"):
        make("TMaze-Easy", corridor_length=-1)


@pytest.mark.parametrize("env_id", [i for i in registered_ids() if i != "MNISTBandit-bsuite"])
def test_every_scalar_default_passes_its_own_check(env_id):
    # The rules hold for what the environments ship: e.g. no integer field defaults to 0.
    _, defaults = make(env_id)
    scalars = {
        name: value
        for name in defaults.__dataclass_fields__
        if isinstance(value := getattr(defaults, name), bool | int | float)
    }
    _, params = make(env_id, **scalars)
    replaced = {name: getattr(params, name) for name in scalars}
    assert replaced == scalars
    assert [type(v) for v in replaced.values()] == [type(v) for v in scalars.values()]
