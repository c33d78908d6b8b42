"""Deep Q-Networks (Mnih et al., 2015) with double Q-learning (van Hasselt et al.,
2016) and sequence replay, for memoryless and recurrent Q-networks.

One iteration: every environment takes `train_frequency` epsilon-greedy steps, each
stored in a replay buffer of per-environment columns; then, once `learning_starts`
env steps were taken, `updates_per_iteration` gradient steps on windows of
`burn_in + sequence_length + 1` consecutive steps. A window starts from the network's
initial (zero) carry; its first `burn_in` steps only refresh the carry (no loss, no
gradient), the next `sequence_length` steps are trained and the last row only gives
the bootstrap value of the step before it. The target network is a hard copy of the
online one, refreshed every `target_update_period` updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from memorax.algorithms import config as checks
from memorax.algorithms.arguments import require_network, require_optimizer, require_updates
from memorax.algorithms.base import Algorithm, advance_steps
from memorax.algorithms.burn_in import after_burn_in, drop_burn_in
from memorax.algorithms.environment_loop import LoopState
from memorax.algorithms.final_observations import outputs_with_final_observations
from memorax.algorithms.metrics import mean_over_leading_axes, over_applied_updates
from memorax.algorithms.network_inputs import NetworkInputs
from memorax.algorithms.q_acting import QNetworkActing
from memorax.algorithms.replay import ReplayBuffer, add, can_sample, create_buffer, sample_sequences
from memorax.algorithms.transition import Transition, batch_first, replay_row
from memorax.networks.heads import DiscreteQNetwork
from memorax.networks.spaces import action_spec

WINDOW_ROWS = "burn-in, trained and bootstrap rows"  # for error messages


def check_q_learning_fields(config) -> None:
    """The checks of the fields DQNConfig and R2D2Config share."""
    checks.check_types(config)
    checks.positive(
        config,
        "num_envs",
        "buffer_size",
        "batch_size",
        "train_frequency",
        "updates_per_iteration",
        "target_update_period",
    )
    checks.non_negative(config, "burn_in", "learning_starts", "epsilon_decay_steps")
    checks.in_unit_interval(config, "gamma", "epsilon_start", "epsilon_end")
    checks.optional_positive(config, "max_grad_norm")


@dataclass(frozen=True)
class DQNConfig:
    """DQN's hyper-parameters; defaults suit CartPole-v1 (about 50k env steps).

    `buffer_size` counts env steps over all environments (each keeps
    `buffer_size // num_envs` rows). `sequence_length` None trains single steps for
    memoryless networks and 16-step sequences for networks with memory.
    `learning_starts` env steps are only collected; `train_frequency` is the steps
    each environment takes per iteration. Epsilon decays linearly from
    `epsilon_start` to `epsilon_end` over the first `epsilon_decay_steps` env steps.
    The loss is the Huber loss (delta 1) of the TD errors, robust to the large
    errors of early targets. `max_grad_norm` None does not clip gradients.
    """

    num_envs: int = 8
    buffer_size: int = 50_000
    batch_size: int = 128
    sequence_length: int | None = None
    burn_in: int = 0
    learning_starts: int = 1_000
    train_frequency: int = 2
    updates_per_iteration: int = 1
    gamma: float = 0.99
    double_q: bool = True
    target_update_period: int = 250
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 20_000
    max_grad_norm: float | None = 10.0

    def __post_init__(self):
        check_q_learning_fields(self)
        checks.optional_positive(self, "sequence_length")
        # The shortest window (the memoryless default); DQN checks the real one.
        shortest = self.burn_in + (self.sequence_length or 1) + 1
        checks.replay_fits(self, shortest, WINDOW_ROWS)


@struct.dataclass
class DQNState:
    """Everything training changes; a plain pytree."""

    step: jax.Array  # env steps taken so far
    updates: jax.Array  # gradient updates so far (paces the target network)
    params: nnx.State
    target_params: nnx.State
    optimizer_state: Any
    buffer: ReplayBuffer  # rows of REPLAY_FIELDS (and the carry for R2D2)
    loop: LoopState  # carry = the Q-network's carry


def bootstrap_values(
    q_online, q_target, final_online, final_target, truncated, double_q: bool
):
    """The target value of the observation that followed each step, (batch, T).

    `q_*` are Q-values along the window (batch, T + 1, A); `final_*` those of the
    final observations (batch, T, A). The next observation is row t + 1, except where
    the episode was truncated at t: there it is the final observation (a terminated
    step is not bootstrapped at all, so its value does not matter). Double Q picks
    the action with the online network and values it with the target network.
    """
    cut = truncated[..., None]
    online = jnp.where(cut, final_online, q_online[:, 1:])
    target = jnp.where(cut, final_target, q_target[:, 1:])
    greedy = jnp.argmax(online if double_q else target, axis=-1)
    return jnp.take_along_axis(target, greedy[..., None], axis=-1)[..., 0]


def one_step_targets(reward, next_value, terminated, gamma):
    """`r_t + gamma (1 - terminated_t) V(next_t)`: no bootstrap past a terminal state."""
    return reward + gamma * (1.0 - terminated.astype(reward.dtype)) * next_value


class DQN(QNetworkActing, Algorithm):
    """`DQN(cfg, env, env_params, q_network, optimizer)`: `q_network` is a Network
    with a DiscreteQNetwork head, `optimizer` an optax optimizer."""

    name = "DQN"
    config_type = DQNConfig
    window_rows = WINDOW_ROWS

    def __init__(self, cfg, env, env_params, q_network, optimizer):
        if not isinstance(cfg, self.config_type):
            raise TypeError(
                f"{self.name}: cfg must be a {self.config_type.__name__}, got {type(cfg).__name__}."
            )
        require_network(self.name, "q_network", q_network, (DiscreteQNetwork,))
        require_optimizer(self.name, "optimizer", optimizer)
        spec = action_spec(env.action_space(env_params))
        if not spec.discrete:
            raise TypeError(
                f"{self.name}: q_network's DiscreteQNetwork head needs a discrete action "
                f"space, but the environment's is {spec.describe()}."
            )
        self.cfg = cfg
        self.optimizer = optimizer
        if cfg.max_grad_norm is not None:
            self.optimizer = optax.chain(
                optax.clip_by_global_norm(cfg.max_grad_norm), optimizer
            )
        super().__init__(env, env_params, cfg.num_envs, q_network)
        require_updates(
            self.name,
            "optimizer",
            optimizer,
            self.parameter_shapes,
            "the q_network's parameters",
        )
        self.sequence_length = self._sequence_length()
        self.capacity = cfg.buffer_size // cfg.num_envs
        checks.replay_fits(cfg, self.window_length, self.window_rows)
        self.steps_per_iteration = cfg.num_envs * cfg.train_frequency

    def _sequence_length(self) -> int:
        return self.cfg.sequence_length or (16 if self.recurrent else 1)

    @property
    def window_length(self) -> int:
        """Rows sampled per window: burn-in, trained steps, the bootstrap row."""
        return self.cfg.burn_in + self.sequence_length + 1

    # Acting --------------------------------------------------------------------------

    def _replay_row(self, transition: Transition, loop: LoopState):
        """What the buffer keeps of one step (`loop` is the state it was taken in)."""
        return replay_row(transition)

    def _store(self, state, transition: Transition):
        row = self._replay_row(transition, state.loop)
        return state.replace(buffer=add(state.buffer, row, priority=1.0))

    def _empty_buffer(self, state) -> ReplayBuffer:
        example = self.environment.example_transition(state.loop)
        return create_buffer(self._replay_row(example, state.loop), self.capacity)

    def _initial_state(self, params_key, env_key):
        params = self.fresh_parameters(params_key)
        state = DQNState(
            step=jnp.int32(0),
            updates=jnp.int32(0),
            params=params,
            target_params=params,
            optimizer_state=self.optimizer.init(params),
            buffer=None,
            loop=None,
        )
        carry = self._initial_carry(state, self.cfg.num_envs)
        state = state.replace(loop=self.environment.reset(env_key, carry))
        return state.replace(buffer=self._empty_buffer(state))

    def _act(self, state, key):
        """One epsilon-greedy step in every environment, stored in the buffer."""
        action_key, env_key = jax.random.split(key)
        q, carry = self._q_values(state.params, state.loop)
        action = self._epsilon_greedy(action_key, q, self.epsilon(state.step))
        loop, transition = self.environment.step(env_key, state.loop, action, carry)
        state = self._store(state, transition)
        return state.replace(loop=loop, step=advance_steps(state.step, self.cfg.num_envs)), transition

    # Learning ------------------------------------------------------------------------

    def _window_carry(self, window, batch_size: int, network):
        """The carry a window starts from: the network's initial (zero) carry."""
        return network.initialize_carry(batch_size)

    def _sample(self, buffer: ReplayBuffer, key):
        """Windows, their index and importance weights (uniform replay: ones)."""
        window, index = sample_sequences(
            buffer, key, self.cfg.batch_size, self.window_length
        )
        return window, index, jnp.ones(self.cfg.batch_size, jnp.float32)

    def _reprioritise(self, buffer: ReplayBuffer, index, td_error):
        return buffer

    def _q_along(self, network, window, carry):
        """Q-values after the burn-in along the window, (batch, T + 1, A), and at the
        final observations of its truncated steps, (batch, T + 1, A)."""
        (carry,), inputs = after_burn_in(
            (network,), (carry,), NetworkInputs.of(window), self.cfg.burn_in
        )
        rows = self._trained(window)
        _, q, final_q = outputs_with_final_observations(
            network,
            inputs,
            carry,
            NetworkInputs.at_final_observation(rows, self.environment.action_dtype),
            rows["truncated"],
        )
        return q, final_q

    def _trained(self, window):
        """The window's rows after the burn-in (what the targets are computed over)."""
        return drop_burn_in(window, self.cfg.burn_in)

    def _targets(self, window, next_value):
        """TD targets of the trained steps, (batch, sequence_length)."""
        steps = self._trained(window)
        targets = one_step_targets(
            steps["reward"][:, :-1],
            next_value,
            steps["terminated"][:, :-1],
            self.cfg.gamma,
        )
        return targets[:, : self.sequence_length]

    def _td_errors(self, params, target_params, window):
        """(TD errors (batch, sequence_length), Q of the taken actions)."""
        online, target = self.merged(params), self.merged(target_params)
        batch = window["reward"].shape[0]
        q, final_q = self._q_along(
            online, window, self._window_carry(window, batch, online)
        )
        q_target, final_target = self._q_along(
            target, window, self._window_carry(window, batch, target)
        )
        steps = self._trained(window)
        next_value = bootstrap_values(
            jax.lax.stop_gradient(q),
            q_target,
            jax.lax.stop_gradient(final_q)[:, :-1],
            final_target[:, :-1],
            steps["truncated"][:, :-1],
            self.cfg.double_q,
        )
        targets = jax.lax.stop_gradient(self._targets(window, next_value))
        length = self.sequence_length
        actions = steps["action"][:, :length].astype(jnp.int32)
        chosen = jnp.take_along_axis(q[:, :length], actions[..., None], axis=-1)[..., 0]
        return targets - chosen, chosen

    def _step_loss(self, td_error):
        """Huber loss (delta 1): robust to the large errors of early targets."""
        return optax.huber_loss(td_error)

    def _loss(self, params, target_params, window, weights):
        td_error, chosen = self._td_errors(params, target_params, window)
        per_sequence = jnp.mean(self._step_loss(td_error), axis=1)
        loss = jnp.mean(weights * per_sequence)
        return loss, (td_error, chosen)

    def _learn(self, state: DQNState, key):
        """One gradient step on a sampled batch of windows, and the target refresh."""
        window, index, weights = self._sample(state.buffer, key)
        (loss, (td_error, chosen)), grads = jax.value_and_grad(
            self._loss, has_aux=True
        )(state.params, state.target_params, window, weights)
        updates, optimizer_state = self.optimizer.update(
            grads, state.optimizer_state, state.params
        )
        params = optax.apply_updates(state.params, updates)
        count = state.updates + 1
        refresh = count % self.cfg.target_update_period == 0
        target_params = jax.tree.map(
            lambda new, old: jnp.where(refresh, new, old), params, state.target_params
        )
        state = state.replace(
            params=params,
            target_params=target_params,
            optimizer_state=optimizer_state,
            updates=count,
            buffer=self._reprioritise(state.buffer, index, td_error),
        )
        metrics = {
            "loss": loss,
            "td_error": jnp.mean(jnp.abs(td_error)),
            "q_value": jnp.mean(chosen),
            "grad_norm": optax.tree.norm(grads),
        }
        return state, metrics

    def _call_metrics(self, metrics: dict) -> dict:
        return over_applied_updates(metrics, unweighted=("epsilon",))

    def _maybe_learn(self, state: DQNState, key):
        """Learn once enough steps are collected; otherwise zeros for the metrics."""
        ready = jnp.logical_and(
            state.step >= self.cfg.learning_starts,
            can_sample(state.buffer, self.window_length),
        )

        def skip(state, key):
            _, metrics = jax.eval_shape(self._learn, state, key)
            return state, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metrics)

        state, metrics = jax.lax.cond(ready, self._learn, skip, state, key)
        return state, {**metrics, "updates_applied": ready.astype(jnp.float32)}

    def _iteration(self, key, state: DQNState):
        act_key, learn_key = jax.random.split(key)
        epsilon = self.epsilon(state.step)
        state, transitions = jax.lax.scan(
            self._act, state, jax.random.split(act_key, self.cfg.train_frequency)
        )
        state, metrics = jax.lax.scan(
            self._maybe_learn,
            state,
            jax.random.split(learn_key, self.cfg.updates_per_iteration),
        )
        metrics = {**mean_over_leading_axes(metrics, 1), "epsilon": epsilon}
        return state, batch_first(transitions), metrics
