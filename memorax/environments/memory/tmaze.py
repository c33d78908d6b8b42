"""The passive T-maze: a memory diagnostic whose memory horizon is the corridor length.

After Bakker (2002) and Ni et al. (2023, "When do transformers shine in RL?"): the
goal's side is shown once, at the start, and must be recalled at the far end of a
corridor. Walking the corridor needs no memory, so the corridor length sets how long
the cue must be held and nothing else.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments.memory.arguments import integer_at_least

UP, DOWN, FORWARD, BACK = 0, 1, 2, 3
# Steps allowed beyond the shortest path (corridor_length moves and one turn).
SPARE_STEPS = 10


@struct.dataclass
class TMazeState(environment.EnvState):
    goal_arm: jax.Array  # UP or DOWN: the side shown by the cue
    position: jax.Array  # cells walked from the start; corridor_length is the junction
    wasted_steps: jax.Array  # steps that neither moved forward nor turned into an arm
    time: int


@struct.dataclass
class TMazeParams(environment.EnvParams):
    corridor_length: int = 10
    max_steps_in_episode: int = 10 + 1 + SPARE_STEPS


class TMaze(environment.Environment[TMazeState, TMazeParams]):
    """Walk a corridor and turn at its end to the side cued at the start; the cue must be remembered for the whole corridor.

    Observation: 3 floats `[cue_up, cue_down, at_junction]`. The first observation of
    an episode shows the cue (one-hot goal side) and nothing else; afterwards the cue
    entries are 0 and `at_junction` is 1 exactly when the agent stands at the junction.
    Action: Discrete(4): up (0), down (1), forward (2), back (3). In the corridor, up
    and down bump into a wall; at the junction, forward bumps into a wall and up or
    down enters that arm, which ends the episode.
    Episode length: corridor_length + 1 steps when walked straight (11 / 51 / 201 for
    Easy / Medium / Hard, corridor_length 10 / 50 / 200); entering an arm terminates;
    the time limit, `max_steps_in_episode = corridor_length + 11`, truncates.
    Reward: each wasted step (one that neither moves forward nor enters an arm) costs
    1 / max_steps_in_episode. The goal arm pays +1; the wrong arm pays what brings the
    episode's return to exactly -1. Returns therefore lie in [-1, 1].
    Maximum return: 1.0 (walk straight, turn to the cued side).
    Best memoryless return: 0.0 (analytic): the junction looks the same whichever the
    goal side, so at best the agent walks straight and guesses, +1 or -1 with equal odds.
    """

    def __init__(self, corridor_length: int = 10):
        super().__init__()
        self.corridor_length = integer_at_least("corridor_length", corridor_length, 1)

    @property
    def name(self) -> str:
        return "TMaze"

    @property
    def default_params(self) -> TMazeParams:
        return TMazeParams(
            corridor_length=self.corridor_length,
            max_steps_in_episode=self.corridor_length + 1 + SPARE_STEPS,
        )

    @property
    def num_actions(self) -> int:
        return 4

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(4)

    def observation_space(self, params: TMazeParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (3,), jnp.float32)

    def get_obs(self, state: TMazeState, params: TMazeParams, key=None) -> jax.Array:
        cue = jax.nn.one_hot(state.goal_arm, 2) * (state.time == 0)
        at_junction = state.position == params.corridor_length
        return jnp.append(cue, at_junction).astype(jnp.float32)

    def reset_env(self, key, params):
        state = TMazeState(
            goal_arm=jax.random.randint(key, (), UP, DOWN + 1),
            position=jnp.int32(0),
            wasted_steps=jnp.int32(0),
            time=0,
        )
        return self.get_obs(state, params), state

    def step_env(self, key, state, action, params):
        at_junction = state.position == params.corridor_length
        enters_arm = at_junction & ((action == UP) | (action == DOWN))
        moves_forward = ~at_junction & (action == FORWARD)
        moves_back = (action == BACK) & (state.position > 0)
        wasted = ~(enters_arm | moves_forward)

        step_cost = 1.0 / params.max_steps_in_episode
        wasted_steps = state.wasted_steps + wasted
        # A wrong arm pays back the step costs so far: its return is exactly -1.
        arm_reward = jnp.where(action == state.goal_arm, 1.0, -1.0 + state.wasted_steps * step_cost)
        reward = jnp.where(enters_arm, arm_reward, -step_cost * wasted)

        state = TMazeState(
            goal_arm=state.goal_arm,
            position=state.position + moves_forward - moves_back,
            wasted_steps=wasted_steps,
            time=state.time + 1,
        )
        return (
            self.get_obs(state, params),
            state,
            reward.astype(jnp.float32),
            enters_arm,
            {},
        )


ENVIRONMENTS = {
    "TMaze-Easy": functools.partial(TMaze, corridor_length=10),
    "TMaze-Medium": functools.partial(TMaze, corridor_length=50),
    "TMaze-Hard": functools.partial(TMaze, corridor_length=200),
}
