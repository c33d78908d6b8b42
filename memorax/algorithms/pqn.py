"""Parallelised Q-Network, PQN (Gallici et al., 2024, "Simplifying Deep Temporal
Difference Learning"): Q-learning without a replay buffer or a target network.

Many environments stepped in parallel decorrelate the data a replay buffer would
otherwise have to; normalisation in the Q network keeps the bootstrapped targets
stable without a target network. One iteration: act epsilon-greedily for
`rollout_length` steps in `num_envs` environments (storing the carry at the start of
every training sequence), compute Q(lambda) targets from max_a Q of the next
observations, then `num_epochs` passes of `num_minibatches` minibatches of whole
sequences regressing Q(s, a) on them (the first `burn_in` steps of a sequence only
refresh the carry). The structure is PPO's (see ppo.py), with the policy replaced by
the greedy one.

The paper's Q network normalises every hidden layer with LayerNorm; build it with
`MLP(..., layer_norm=True)`:

    Network(FeatureExtractor(MLP((128,), layer_norm=True)),
            SequenceModelWrapper(MLP((128,), layer_norm=True)),
            DiscreteQNetwork(action_dim))
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
from memorax.algorithms.final_observations import at_truncations
from memorax.algorithms.minibatches import minibatch_epochs
from memorax.algorithms.network_inputs import NetworkInputs
from memorax.algorithms.q_acting import QNetworkActing
from memorax.algorithms.returns import lambda_returns, next_values
from memorax.algorithms.sequences import rollout_in_sequences, training_sequences
from memorax.algorithms.transition import batch_first
from memorax.networks.heads import DiscreteQNetwork


@dataclass(frozen=True)
class PQNConfig:
    """PQN's hyper-parameters; defaults follow the paper's CartPole setting.

    `q_lambda`: the lambda of the Q(lambda) targets (0: one-step Q-learning).
    Exploration is epsilon-greedy, epsilon decaying linearly from `epsilon_start` to
    `epsilon_end` over the first `epsilon_decay_steps` env steps (counted over all
    environments). `sequence_length`: steps per training sequence; None means the
    whole rollout for networks with memory and single steps for memoryless ones.
    `burn_in`: leading steps of each sequence that only refresh the carry.
    `max_grad_norm` None turns gradient clipping off.
    """

    num_envs: int = 32
    rollout_length: int = 64
    num_epochs: int = 4
    num_minibatches: int = 16
    gamma: float = 0.99
    q_lambda: float = 0.65
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 100_000
    max_grad_norm: float | None = 10.0
    sequence_length: int | None = None
    burn_in: int = 0

    def __post_init__(self):
        checks.check_types(self)
        checks.positive(
            self, "num_envs", "rollout_length", "num_epochs", "num_minibatches"
        )
        checks.in_unit_interval(
            self, "gamma", "q_lambda", "epsilon_start", "epsilon_end"
        )
        checks.non_negative(self, "epsilon_decay_steps", "burn_in")
        checks.optional_positive(self, "max_grad_norm", "sequence_length")


@struct.dataclass
class PQNState:
    """Everything training changes; a plain pytree (orbax saves and restores it)."""

    step: jax.Array  # env steps taken so far
    params: nnx.State  # of the Q network
    optimizer_state: Any
    loop: LoopState  # carry = the Q network's carry


@struct.dataclass
class _Sequences:
    """One iteration's experience as training sequences, batch-first (sequence, time)."""

    inputs: NetworkInputs
    action: jax.Array
    target: jax.Array
    carry: Any  # at each sequence's first step


class PQN(QNetworkActing, Algorithm):
    """`PQN(cfg, env, env_params, q_network, optimizer)`.

    `q_network` is a Network with a DiscreteQNetwork head (use LayerNorm in it, see
    the module docstring); `optimizer` an optax optimizer (the paper: adam, 1e-4 to
    3e-4, often with a linearly decaying learning rate).
    """

    def __init__(self, cfg: PQNConfig, env, env_params, q_network, optimizer):
        if not isinstance(cfg, PQNConfig):
            raise TypeError(f"PQN: cfg must be a PQNConfig, got {type(cfg).__name__}.")
        require_network("PQN", "q_network", q_network, (DiscreteQNetwork,))
        require_optimizer("PQN", "optimizer", optimizer)
        self.cfg = cfg
        self.optimizer = (
            optimizer
            if cfg.max_grad_norm is None
            else optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optimizer)
        )
        super().__init__(env, env_params, cfg.num_envs, q_network)
        require_updates(
            "PQN", "optimizer", optimizer, self.parameter_shapes, "the q_network's parameters"
        )
        self.sequence_length = checks.sequence_length_for(cfg, self.recurrent)
        self.steps_per_iteration = cfg.num_envs * cfg.rollout_length

    # Acting --------------------------------------------------------------------------

    def _initial_state(self, params_key, env_key):
        params = self.fresh_parameters(params_key)
        state = PQNState(
            step=jnp.int32(0),
            params=params,
            optimizer_state=self.optimizer.init(params),
            loop=None,
        )
        carry = self._initial_carry(state, self.cfg.num_envs)
        return state.replace(loop=self.environment.reset(env_key, carry))

    def _final_values(self, params, transition, carry):
        """max_a Q of the observations episodes were truncated at (0 elsewhere)."""

        def final_value():
            dtype = self.environment.action_dtype
            inputs = NetworkInputs.at_final_observation(transition, dtype).as_one_step()
            return jnp.max(inputs.run(self.merged(params), carry)[1][:, 0], axis=-1)

        return at_truncations(transition, final_value)

    def _rollout(self, key, state: PQNState, epsilon):
        """Act epsilon-greedily for rollout_length steps: the new loop, the carries at
        the sequence starts and time-major records (transition, max Q, final value)."""

        def env_step(loop, step_key):
            action_key, env_key = jax.random.split(step_key)
            q, carry = self._q_values(state.params, loop)
            action = self._epsilon_greedy(action_key, q, epsilon)
            loop, transition = self.environment.step(env_key, loop, action, carry)
            final_value = self._final_values(state.params, transition, carry)
            return loop, (transition, jnp.max(q, axis=-1), final_value)

        return rollout_in_sequences(
            env_step, state.loop, key, self.cfg.rollout_length, self.sequence_length
        )

    # Learning ------------------------------------------------------------------------

    def q_lambda_targets(self, transitions, max_q, final_value, last_max_q):
        """Q(lambda) targets (T, N) from max_a Q of each step's observation: a step's
        bootstrap is the next step's max Q, the final observation's where the episode
        was truncated, nothing where it terminated."""
        return lambda_returns(
            transitions.reward,
            next_values(max_q, last_max_q, transitions.truncated, final_value),
            transitions.terminated,
            transitions.truncated,
            self.cfg.gamma,
            self.cfg.q_lambda,
        )

    def _training_sequences(self, state, loop, start_carries, records):
        length = self.sequence_length
        transitions, max_q, final_value = records
        last_max_q = jnp.max(self._q_values(state.params, loop)[0], axis=-1)
        target = self.q_lambda_targets(transitions, max_q, final_value, last_max_q)
        sequences = _Sequences(
            **training_sequences(transitions, start_carries, length, target=target)
        )
        return sequences, batch_first(transitions)

    def _loss(self, params, batch: _Sequences):
        network = self.merged(params)
        (carry,), inputs = after_burn_in(
            (network,), (batch.carry,), batch.inputs, self.cfg.burn_in
        )
        _, q = inputs.run(network, carry)
        action, target = drop_burn_in((batch.action, batch.target), self.cfg.burn_in)
        q_taken = jnp.take_along_axis(q, action[..., None], axis=-1)[..., 0]
        td_error = q_taken - target
        loss = 0.5 * jnp.mean(td_error**2)
        metrics = {
            "loss": loss,
            "q_value": jnp.mean(q_taken),
            "td_error": jnp.mean(jnp.abs(td_error)),
        }
        return loss, metrics

    def _update(self, state: PQNState, sequences: _Sequences, key):
        cfg = self.cfg
        num_sequences = sequences.action.shape[0]

        def minibatch_step(state, indices):
            batch = jax.tree.map(lambda x: x[indices], sequences)
            (_, metrics), grads = jax.value_and_grad(self._loss, has_aux=True)(
                state.params, batch
            )
            updates, optimizer_state = self.optimizer.update(
                grads, state.optimizer_state, state.params
            )
            state = state.replace(
                params=optax.apply_updates(state.params, updates),
                optimizer_state=optimizer_state,
            )
            return state, {**metrics, "grad_norm": optax.tree.norm(grads)}

        return minibatch_epochs(
            minibatch_step,
            state,
            num_sequences,
            key,
            cfg.num_epochs,
            cfg.num_minibatches,
        )

    def _iteration(self, key, state: PQNState):
        rollout_key, update_key = jax.random.split(key)
        epsilon = self.epsilon(state.step)
        loop, start_carries, records = self._rollout(rollout_key, state, epsilon)
        sequences, transitions = self._training_sequences(
            state, loop, start_carries, records
        )
        state = state.replace(loop=loop, step=advance_steps(state.step, self.steps_per_iteration))
        state, metrics = self._update(state, sequences, update_key)
        return state, transitions, {**metrics, "epsilon": epsilon}
