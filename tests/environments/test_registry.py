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
