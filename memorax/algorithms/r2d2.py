"""Recurrent Replay Distributed DQN (Kapturowski et al., 2019), on one machine.

DQN (this package's, whose acting, evaluation and update loop it reuses) with the
changes that make recurrent Q-learning from replay work:
- stored state: the buffer keeps the network's carry at every step, and a window
  starts from the carry stored at its first row; its first `burn_in` steps then
  refresh that (stale) carry without a loss;
- prioritised replay of sequences: a window's priority is
  `eta max_t |delta_t| + (1 - eta) mean_t |delta_t|` over its trained steps, sampling
  follows priority^`priority_exponent`, and importance weights
  (N P)^-`importance_exponent` correct the bias;
- n-step double-Q targets with value rescaling
  `h(sum_k gamma^k r_{t+k} + gamma^n h^-1(Q_target(s_{t+n}, argmax Q_online)))`;
- a squared TD loss (as in the paper) and a target network copied every
  `target_update_period` updates.

A window has `burn_in + sequence_length + n_step` rows, so every trained step has its
full n-step return (unless its episode ends earlier).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from memorax.algorithms import config as checks
from memorax.algorithms.dqn import DQN, DQNState, check_q_learning_fields
from memorax.algorithms.replay import (
    ReplayBuffer,
    add,
    sample_prioritised,
    update_priorities,
)
from memorax.algorithms.returns import n_step_returns, rescale_value, unrescale_value

R2D2State = DQNState
WINDOW_ROWS = "burn-in, trained and n-step rows"  # for error messages


@dataclass(frozen=True)
class R2D2Config:
    """R2D2's hyper-parameters, scaled down for CartPole-size tasks.

    The paper's Atari values are sequence_length 80, burn_in 40, n_step 5,
    priority_exponent 0.9, importance_exponent 0.6, priority_eta 0.9, gamma 0.997
    and a target update every 2500 updates; here shorter sequences, gamma 0.99 and
    more frequent target updates suit short episodes and a small budget. Exploration
    uses DQN's linear epsilon schedule (not the paper's fixed per-actor epsilons).
    `buffer_size` counts env steps over all environments; `train_frequency` is the
    steps each environment takes per iteration; `rescale_epsilon` is h's epsilon.
    """

    num_envs: int = 8
    buffer_size: int = 50_000
    batch_size: int = 32
    sequence_length: int = 20
    burn_in: int = 10
    n_step: int = 5
    learning_starts: int = 2_000
    train_frequency: int = 4
    updates_per_iteration: int = 1
    gamma: float = 0.99
    double_q: bool = True
    target_update_period: int = 200
    priority_exponent: float = 0.9
    importance_exponent: float = 0.6
    priority_eta: float = 0.9
    rescale_epsilon: float = 1e-3
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 20_000
    max_grad_norm: float | None = 10.0

    def __post_init__(self):
        check_q_learning_fields(self)
        checks.positive(self, "sequence_length", "n_step")
        checks.non_negative(
            self, "priority_exponent", "importance_exponent", "rescale_epsilon"
        )
        checks.in_unit_interval(self, "priority_eta")
        if self.n_step > self.sequence_length:
            checks.fail(
                self,
                "n_step",
                f"must not exceed sequence_length={self.sequence_length}",
            )
        window = self.burn_in + self.sequence_length + self.n_step
        checks.replay_fits(self, window, WINDOW_ROWS)


def sequence_priority(td_error, eta: float):
    """`eta max|delta| + (1 - eta) mean|delta|` over each sequence's steps (axis 1):
    the max keeps rare large errors visible, the mean keeps the scale stable."""
    magnitude = jnp.abs(td_error)
    return eta * jnp.max(magnitude, axis=1) + (1.0 - eta) * jnp.mean(magnitude, axis=1)


def rescaled_n_step_targets(
    reward, next_value, terminated, truncated, gamma, n_step: int, epsilon: float
):
    """`h(n-step return)` with the bootstrap values `next_value` given in h's space;
    all arrays batch-first (batch, T). Returns stop at episode ends (termination does
    not bootstrap) and at the window's end."""
    time_major = lambda x: jnp.swapaxes(x, 0, 1)
    returns = n_step_returns(
        time_major(reward),
        time_major(unrescale_value(next_value, epsilon)),
        time_major(terminated),
        time_major(truncated),
        gamma,
        n_step,
    )
    return rescale_value(time_major(returns), epsilon)


class R2D2(DQN):
    """`R2D2(cfg, env, env_params, q_network, optimizer)`: `q_network` is a Network
    with a DiscreteQNetwork head (normally recurrent), `optimizer` an optax one (the
    paper: Adam, learning rate 1e-4, eps 1e-3)."""

    name = "R2D2"
    config_type = R2D2Config
    window_rows = WINDOW_ROWS

    def _sequence_length(self) -> int:
        return self.cfg.sequence_length

    @property
    def window_length(self) -> int:
        """Burn-in, trained steps, and the n steps their returns look ahead."""
        return self.cfg.burn_in + self.cfg.sequence_length + self.cfg.n_step

    def _replay_row(self, transition, loop):
        """DQN's row plus the carry the network had before this step ("stored state")."""
        return {**super()._replay_row(transition, loop), "carry": loop.carry}

    def _store(self, state, transition):
        row = self._replay_row(transition, state.loop)
        return state.replace(buffer=add(state.buffer, row))  # max priority so far

    def _window_carry(self, window, batch_size: int, network):
        return jax.tree.map(lambda c: c[:, 0], window["carry"])

    def _sample(self, buffer: ReplayBuffer, key):
        cfg = self.cfg
        return sample_prioritised(
            buffer,
            key,
            cfg.batch_size,
            self.window_length,
            cfg.priority_exponent,
            cfg.importance_exponent,
        )

    def _reprioritise(self, buffer: ReplayBuffer, index, td_error):
        priority = sequence_priority(td_error, self.cfg.priority_eta)
        return update_priorities(buffer, index, priority)

    def _targets(self, window, next_value):
        cfg = self.cfg
        steps = self._trained(window)
        targets = rescaled_n_step_targets(
            steps["reward"][:, :-1],
            next_value,
            steps["terminated"][:, :-1],
            steps["truncated"][:, :-1],
            cfg.gamma,
            cfg.n_step,
            cfg.rescale_epsilon,
        )
        return targets[:, : cfg.sequence_length]

    def _step_loss(self, td_error):
        return 0.5 * td_error**2
