"""Proximal Policy Optimisation (Schulman et al., 2017) for recurrent and memoryless
networks, discrete and continuous actions.

Shape of one iteration (PureJaxRL's, with recurrent sequences): act `rollout_length`
steps in `num_envs` environments, storing the networks' carry at the start of every
training sequence; compute GAE advantages; then `num_epochs` passes over the rollout
in `num_minibatches` minibatches of whole sequences, each replayed from its stored
carry (its first `burn_in` steps only refresh the carry and carry no loss).

Two optimizers, one per network: `actor_optimizer` updates every parameter the actor
uses, parameters it shares with the critic included (they receive the gradient of the
whole loss, policy + value + entropy); `critic_optimizer` updates the critic's own
parameters. Gradients are clipped jointly to `max_grad_norm` before either step.
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
from memorax.algorithms.optimizers import per_network_optimizer
from memorax.algorithms.policy_acting import PolicyActing
from memorax.algorithms.returns import generalized_advantage_estimation, next_values
from memorax.algorithms.sequences import rollout_in_sequences, training_sequences
from memorax.algorithms.transition import batch_first
from memorax.networks.distributions import SquashedNormal
from memorax.networks.heads import Categorical, Gaussian, SquashedGaussian, VNetwork


@dataclass(frozen=True)
class PPOConfig:
    """PPO's hyper-parameters; defaults follow PureJaxRL / CleanRL for CartPole.

    `sequence_length`: steps per training sequence; None means the whole rollout for
    networks with memory and single steps for memoryless ones. `burn_in`: leading
    steps of each sequence that only refresh the carry. `value_clip_coef` None turns
    value clipping off; `target_kl` None never stops an update early, otherwise the
    rest of the iteration's minibatches are skipped once a minibatch's approximate
    KL divergence exceeds it.
    """

    num_envs: int = 8
    rollout_length: int = 128
    num_epochs: int = 4
    num_minibatches: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    value_clip_coef: float | None = 0.2
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float | None = 0.5
    normalize_advantages: bool = True
    target_kl: float | None = None
    sequence_length: int | None = None
    burn_in: int = 0

    def __post_init__(self):
        checks.check_types(self)
        checks.positive(
            self,
            "num_envs",
            "rollout_length",
            "num_epochs",
            "num_minibatches",
            "clip_coef",
        )
        checks.in_unit_interval(self, "gamma", "gae_lambda")
        checks.non_negative(
            self, "value_coef", "entropy_coef", "burn_in", "value_clip_coef"
        )
        checks.optional_positive(self, "max_grad_norm", "target_kl", "sequence_length")


@struct.dataclass
class PPOState:
    """Everything training changes; a plain pytree (orbax saves and restores it)."""

    step: jax.Array  # env steps taken so far
    params: nnx.State  # of (actor, critic): shared modules once, under the actor
    optimizer_state: Any  # actor's and critic's optimizers (see per_network_optimizer)
    loop: LoopState  # carry = (actor carry, critic carry)


def tree_select(condition, on_true, on_false):
    """`on_true` where `condition`, else `on_false` (a skipped update keeps the state)."""
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), on_true, on_false)


@struct.dataclass
class _Rollout:
    """One iteration's experience as training sequences, batch-first (sequence, time)."""

    inputs: NetworkInputs
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantage: jax.Array
    target: jax.Array
    carry: Any  # at each sequence's first step


class PPO(PolicyActing, Algorithm):
    """`PPO(cfg, env, env_params, actor, critic, actor_optimizer, critic_optimizer)`.

    `actor` is a Network with a Categorical (discrete actions) or Gaussian /
    SquashedGaussian (continuous) head; `critic` a Network with a VNetwork head. The
    two may share modules (seed: "Parameter Sharing").
    """

    def __init__(
        self,
        cfg: PPOConfig,
        env,
        env_params,
        actor,
        critic,
        actor_optimizer,
        critic_optimizer,
    ):
        if not isinstance(cfg, PPOConfig):
            raise TypeError(f"PPO: cfg must be a PPOConfig, got {type(cfg).__name__}.")
        require_network(
            "PPO", "actor", actor, (Categorical, Gaussian, SquashedGaussian)
        )
        require_network("PPO", "critic", critic, (VNetwork,))
        require_optimizer("PPO", "actor_optimizer", actor_optimizer)
        require_optimizer("PPO", "critic_optimizer", critic_optimizer)
        self.cfg = cfg
        self.optimizer = per_network_optimizer(
            (actor_optimizer, critic_optimizer), cfg.max_grad_norm
        )
        super().__init__(env, env_params, cfg.num_envs, (actor, critic))
        require_updates(
            "PPO",
            "actor_optimizer",
            actor_optimizer,
            self.parameter_shapes[0],
            "the actor's parameters",
        )
        require_updates(
            "PPO",
            "critic_optimizer",
            critic_optimizer,
            self.parameter_shapes[1],
            "the critic's parameters",
        )
        self.sequence_length = checks.sequence_length_for(cfg, self.recurrent)
        self.steps_per_iteration = cfg.num_envs * cfg.rollout_length

    # Acting --------------------------------------------------------------------------

    def _initial_carry(self, state, batch_size: int):
        actor, critic = self.merged(state.params)
        return actor.initialize_carry(batch_size), critic.initialize_carry(batch_size)

    def _initial_state(self, params_key, env_key):
        params = self.fresh_parameters(params_key)
        state = PPOState(
            step=jnp.int32(0),
            params=params,
            optimizer_state=self.optimizer.init(params),
            loop=None,
        )
        carry = self._initial_carry(state, self.cfg.num_envs)
        return state.replace(loop=self.environment.reset(env_key, carry))

    def _policy_and_value(self, params, loop: LoopState):
        actor, critic = self.merged(params)
        inputs = NetworkInputs.of(loop).as_one_step()
        actor_carry, policy = inputs.run(actor, loop.carry[0])
        critic_carry, value = inputs.run(critic, loop.carry[1])
        return policy, value[:, 0], (actor_carry, critic_carry)

    def _next_carry(self, state, loop, action):
        return self._policy_and_value(state.params, loop)[2]

    def _acting_policy(self, state, loop):
        """The actor's policy at the loop's observations and the carries after it."""
        actor, _ = self.merged(state.params)
        actor_carry, policy = NetworkInputs.of(loop).as_one_step().run(actor, loop.carry[0])
        return policy, (actor_carry, loop.carry[1])

    def _rollout(self, key, state: PPOState):
        """Act for rollout_length steps: the new loop, the carries at the sequence
        starts and time-major records (transition, log-prob, value, final value)."""

        def env_step(loop, step_key):
            action_key, env_key = jax.random.split(step_key)
            policy, value, carry = self._policy_and_value(state.params, loop)
            action = policy.sample(seed=action_key)
            log_prob = policy.log_prob(action)[:, 0]
            action = action[:, 0]
            loop, transition = self.environment.step(env_key, loop, action, carry)

            def final_value():
                dtype = self.environment.action_dtype
                inputs = NetworkInputs.at_final_observation(transition, dtype).as_one_step()
                return inputs.run(self.merged(state.params)[1], carry[1])[1][:, 0]

            return loop, (
                transition,
                log_prob,
                value,
                at_truncations(transition, final_value),
            )

        return rollout_in_sequences(
            env_step, state.loop, key, self.cfg.rollout_length, self.sequence_length
        )

    # Learning ------------------------------------------------------------------------

    def _training_sequences(
        self, state, loop, start_carries, records
    ) -> tuple[_Rollout, Any]:
        cfg, length = self.cfg, self.sequence_length
        transitions, log_prob, value, final_value = records
        _, last_value, _ = self._policy_and_value(state.params, loop)
        next_value = next_values(value, last_value, transitions.truncated, final_value)
        advantage, target = generalized_advantage_estimation(
            transitions.reward,
            value,
            next_value,
            transitions.terminated,
            transitions.truncated,
            cfg.gamma,
            cfg.gae_lambda,
        )
        rollout = _Rollout(
            **training_sequences(
                transitions,
                start_carries,
                length,
                log_prob=log_prob,
                value=value,
                advantage=advantage,
                target=target,
            )
        )
        return rollout, batch_first(transitions)

    def _loss(self, params, batch: _Rollout):
        cfg = self.cfg
        actor, critic = self.merged(params)
        carries, inputs = after_burn_in(
            (actor, critic), batch.carry, batch.inputs, cfg.burn_in
        )
        _, policy = inputs.run(actor, carries[0])
        _, value = inputs.run(critic, carries[1])
        steps = drop_burn_in(batch.replace(carry=None, inputs=None), cfg.burn_in)
        log_prob = policy.log_prob(steps.action)
        log_ratio = log_prob - steps.log_prob
        ratio = jnp.exp(log_ratio)
        advantage = steps.advantage
        if cfg.normalize_advantages:
            advantage = (advantage - jnp.mean(advantage)) / (jnp.std(advantage) + 1e-8)
        clipped_ratio = jnp.clip(ratio, 1.0 - cfg.clip_coef, 1.0 + cfg.clip_coef)
        policy_loss = jnp.mean(-jnp.minimum(ratio * advantage, clipped_ratio * advantage))
        value_error = (value - steps.target) ** 2
        if cfg.value_clip_coef is not None:
            clipped_value = steps.value + jnp.clip(
                value - steps.value, -cfg.value_clip_coef, cfg.value_clip_coef
            )
            value_error = jnp.maximum(value_error, (clipped_value - steps.target) ** 2)
        value_loss = 0.5 * jnp.mean(value_error)
        if isinstance(
            policy, SquashedNormal
        ):  # no closed form: estimate from the batch's actions
            entropy = jnp.mean(-log_prob)
        else:
            entropy = jnp.mean(policy.entropy())
        loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
        metrics = {
            "loss": loss,
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
            "clip_fraction": jnp.mean(jnp.abs(ratio - 1.0) > cfg.clip_coef),
            "value": jnp.mean(value),
        }
        return loss, metrics

    def _apply_gradients(self, state: PPOState, grads):
        updates, optimizer_state = self.optimizer.update(
            grads, state.optimizer_state, state.params
        )
        params = optax.apply_updates(state.params, updates)
        return state.replace(
            params=params, optimizer_state=optimizer_state
        ), optax.tree.norm(grads)

    def _update(self, state: PPOState, rollout: _Rollout, key):
        cfg = self.cfg
        num_sequences = rollout.action.shape[0]

        def minibatch_step(carry, indices):
            state, stopped = carry
            batch = jax.tree.map(lambda x: x[indices], rollout)
            (_, metrics), grads = jax.value_and_grad(self._loss, has_aux=True)(
                state.params, batch
            )
            updated, grad_norm = self._apply_gradients(state, grads)
            too_far = (
                False if cfg.target_kl is None else metrics["approx_kl"] > cfg.target_kl
            )
            apply = jnp.logical_and(jnp.logical_not(stopped), jnp.logical_not(too_far))
            state = tree_select(apply, updated, state)
            metrics = {
                **metrics,
                "grad_norm": grad_norm,
                "updates_applied": apply.astype(jnp.float32),
            }
            return (state, jnp.logical_or(stopped, too_far)), metrics

        (state, _), metrics = minibatch_epochs(
            minibatch_step,
            (state, jnp.bool_(False)),
            num_sequences,
            key,
            cfg.num_epochs,
            cfg.num_minibatches,
        )
        return state, metrics

    def _iteration(self, key, state: PPOState):
        rollout_key, update_key = jax.random.split(key)
        loop, start_carries, records = self._rollout(rollout_key, state)
        rollout, transitions = self._training_sequences(
            state, loop, start_carries, records
        )
        state = state.replace(loop=loop, step=advance_steps(state.step, self.steps_per_iteration))
        state, metrics = self._update(state, rollout, update_key)
        return state, transitions, metrics
