"""Soft Actor-Critic (Haarnoja et al., 2018, "Soft Actor-Critic Algorithms and
Applications") for continuous actions, with recurrent or memoryless networks.

One iteration: act for `rollout_length` steps in `num_envs` environments (uniformly
random actions until `learning_starts` env steps), store the steps in the replay
buffer, then make `updates_per_step` gradient updates per env step taken. An update
samples windows of `sequence_length + 1` consecutive steps: the first
`sequence_length` rows are trained on (after `burn_in` rows that only refresh the
carries, which start from the networks' initial carry at the window start) and the
last row supplies the next observation of the row before it. Each update

- regresses both Q networks on `r + gamma (min_i Q'_i(s', a') - alpha log pi(a'|s'))`,
  a' ~ pi(s'), with the target critic's parameters Q' (Polyak averages, rate `tau`);
  a time limit bootstraps from the final observation, a termination does not;
- moves the actor towards `max_a min_i Q_i(s, a) - alpha log pi(a|s)`;
- moves the temperature alpha so that the policy's entropy approaches
  `target_entropy` (learned as log alpha; `optax.set_to_zero()` as the
  `temperature_optimizer` keeps it fixed at `initial_temperature`).

The critic optimizer owns every parameter the critic uses: a module the actor shares
with the critic (e.g. a feature extractor) is trained by the critic loss only, and
the actor uses it as it is (as in SAC-AE / DrQ), so the actor loss never moves the
critic. In the critic targets both networks see the target copy of such a module.
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
from memorax.algorithms.burn_in import after_burn_in, drop_after, drop_burn_in
from memorax.algorithms.environment_loop import LoopState
from memorax.algorithms.final_observations import outputs_with_final_observations
from memorax.algorithms.metrics import over_applied_updates
from memorax.algorithms.network_inputs import NetworkInputs
from memorax.algorithms.policy_acting import PolicyActing
from memorax.algorithms.replay import ReplayBuffer, add, can_sample, create_buffer, sample_sequences
from memorax.algorithms.transition import batch_first, replay_row
from memorax.networks.heads import SquashedGaussian, TwinContinuousQNetwork
from memorax.networks.spaces import action_spec


@dataclass(frozen=True)
class SACConfig:
    """SAC's hyper-parameters; defaults suit Pendulum-v1.

    `buffer_size` counts env steps (over all environments). `rollout_length`: steps
    per environment between two learning phases. `updates_per_step`: gradient
    updates per env step; `updates_per_step x num_envs x rollout_length` must be a
    whole number. No learning happens before `learning_starts` env steps (warmup
    steps count). `target_entropy` None means -action_dim. `sequence_length`: trained
    steps per replayed window (1 suits memoryless networks; networks with memory
    want longer windows and a `burn_in`). `max_grad_norm` None turns gradient
    clipping off.
    """

    num_envs: int = 1
    rollout_length: int = 1
    buffer_size: int = 100_000
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    learning_starts: int = 1000
    updates_per_step: float = 1.0
    target_entropy: float | None = None
    initial_temperature: float = 1.0
    max_grad_norm: float | None = None
    sequence_length: int = 1
    burn_in: int = 0

    def __post_init__(self):
        checks.check_types(self)
        checks.positive(
            self,
            "num_envs",
            "rollout_length",
            "buffer_size",
            "batch_size",
            "updates_per_step",
            "initial_temperature",
            "sequence_length",
        )
        checks.in_unit_interval(self, "gamma", "tau")
        checks.non_negative(self, "learning_starts", "burn_in")
        checks.optional_positive(self, "max_grad_norm")
        if self.burn_in >= self.sequence_length:
            checks.fail(
                self,
                "burn_in",
                f"must be shorter than sequence_length={self.sequence_length}",
            )
        updates = self.updates_per_step * self.num_envs * self.rollout_length
        if abs(updates - round(updates)) > 1e-9:
            checks.fail(
                self,
                "updates_per_step",
                f"times num_envs x rollout_length ({self.num_envs} x "
                f"{self.rollout_length}) must be a whole number of updates",
            )
        checks.replay_fits(
            self, self.sequence_length + 1, "sequence_length rows and a bootstrap row"
        )

    @property
    def updates_per_iteration(self) -> int:
        return round(self.updates_per_step * self.num_envs * self.rollout_length)


@struct.dataclass
class SACState:
    """Everything training changes; a plain pytree (orbax saves and restores it)."""

    step: jax.Array  # env steps taken so far
    critic_params: nnx.State  # every module the critic uses, shared ones included
    actor_params: nnx.State  # the actor's own modules
    target_critic_params: nnx.State
    log_temperature: jax.Array
    critic_optimizer_state: Any
    actor_optimizer_state: Any
    temperature_optimizer_state: Any
    buffer: ReplayBuffer
    loop: LoopState  # carry = the actor's carry


def reparameterized_sample(policy, noise):
    """A squashed-Gaussian action from standard normal `noise` and its log-probability,
    differentiable in the policy's parameters (the reparameterisation trick)."""
    gaussian = policy.distribution
    pre_squash = gaussian.loc + gaussian.scale_diag * noise
    action, log_det = policy.bijector.forward_and_log_det(pre_squash)
    return action, gaussian.log_prob(pre_squash) - log_det


class SAC(PolicyActing, Algorithm):
    """`SAC(cfg, env, env_params, actor, critic, actor_optimizer, critic_optimizer,
    temperature_optimizer=None)`.

    `actor` is a Network with a SquashedGaussian head, `critic` one with a
    TwinContinuousQNetwork head; `temperature_optimizer` defaults to adam(3e-4).
    The environment must have continuous (Box) actions. The learning metrics of a
    `train` call are means over the iterations that learned (NaN before
    `learning_starts`); `updates_applied` is the fraction of iterations that did.
    """

    def __init__(
        self,
        cfg: SACConfig,
        env,
        env_params,
        actor,
        critic,
        actor_optimizer,
        critic_optimizer,
        temperature_optimizer=None,
    ):
        if not isinstance(cfg, SACConfig):
            raise TypeError(f"SAC: cfg must be a SACConfig, got {type(cfg).__name__}.")
        spec = action_spec(env.action_space(env_params))
        if spec.discrete:
            raise TypeError(
                f"SAC: env must have continuous (Box) actions, got {spec.describe()}; "
                "use PQN or DQN for discrete actions."
            )
        require_network("SAC", "actor", actor, (SquashedGaussian,))
        require_network("SAC", "critic", critic, (TwinContinuousQNetwork,))
        temperature_optimizer = (
            optax.adam(3e-4) if temperature_optimizer is None else temperature_optimizer
        )
        for name, optimizer in (
            ("actor_optimizer", actor_optimizer),
            ("critic_optimizer", critic_optimizer),
            ("temperature_optimizer", temperature_optimizer),
        ):
            require_optimizer("SAC", name, optimizer)
        clip = lambda optimizer: (
            optimizer
            if cfg.max_grad_norm is None
            else optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optimizer)
        )
        self.cfg = cfg
        self.actor_optimizer = clip(actor_optimizer)
        self.critic_optimizer = clip(critic_optimizer)
        self.temperature_optimizer = temperature_optimizer
        # The critic first: a module both networks hold is stored under the critic.
        super().__init__(env, env_params, cfg.num_envs, (critic, actor))
        for argument, optimizer, parameters, updated in (
            ("critic_optimizer", critic_optimizer, self.parameter_shapes[0], "the critic's parameters"),
            ("actor_optimizer", actor_optimizer, self.parameter_shapes[1], "the actor's parameters"),
            ("temperature_optimizer", temperature_optimizer, jax.ShapeDtypeStruct((), jnp.float32), "the log temperature"),
        ):
            require_updates("SAC", argument, optimizer, parameters, updated)
        self.target_entropy = (
            -float(spec.size) if cfg.target_entropy is None else cfg.target_entropy
        )
        self.window = cfg.sequence_length + 1
        self.steps_per_iteration = cfg.num_envs * cfg.rollout_length

    def _networks(self, critic_params, actor_params):
        """(critic, actor) with the given parameters, inside a traced function."""
        return self.merged(nnx.State({0: critic_params, 1: actor_params}))

    # Acting --------------------------------------------------------------------------

    def _initial_carry(self, state, batch_size: int):
        _, actor = self._networks(state.critic_params, state.actor_params)
        return actor.initialize_carry(batch_size)

    def _initial_state(self, params_key, env_key):
        params = self.fresh_parameters(params_key)
        critic_params, actor_params = params[0], params[1]
        _, actor = self._networks(critic_params, actor_params)
        loop = self.environment.reset(
            env_key, actor.initialize_carry(self.cfg.num_envs)
        )
        log_temperature = jnp.log(jnp.float32(self.cfg.initial_temperature))
        return SACState(
            step=jnp.int32(0),
            critic_params=critic_params,
            actor_params=actor_params,
            target_critic_params=critic_params,
            log_temperature=log_temperature,
            critic_optimizer_state=self.critic_optimizer.init(critic_params),
            actor_optimizer_state=self.actor_optimizer.init(actor_params),
            temperature_optimizer_state=self.temperature_optimizer.init(
                log_temperature
            ),
            buffer=create_buffer(
                replay_row(self.environment.example_transition(loop)),
                self.cfg.buffer_size // self.cfg.num_envs,
            ),
            loop=loop,
        )

    def _acting_policy(self, state, loop: LoopState):
        _, actor = self._networks(state.critic_params, state.actor_params)
        carry, policy = NetworkInputs.of(loop).as_one_step().run(actor, loop.carry)
        return policy, carry

    def _next_carry(self, state, loop, action):
        return self._acting_policy(state, loop)[1]

    def _store(self, state, transition):
        return state.replace(buffer=add(state.buffer, replay_row(transition)))

    def _act(self, state: SACState, key):
        """One env step: random actions before `learning_starts`, the policy's after."""
        action_key, random_key, env_key = jax.random.split(key, 3)
        policy, carry = self._acting_policy(state, state.loop)
        action = jnp.where(
            state.step < self.cfg.learning_starts,
            self.environment.random_actions(random_key),
            policy.sample(seed=action_key)[:, 0],
        )
        loop, transition = self.environment.step(env_key, state.loop, action, carry)
        state = self._store(state, transition)
        return state.replace(loop=loop, step=advance_steps(state.step, self.cfg.num_envs)), transition

    # Learning ------------------------------------------------------------------------

    def critic_targets(self, state: SACState, batch, key):
        """Soft TD targets (batch, sequence_length) for the first rows of the windows:
        `r + gamma (1 - terminated) (min_i Q'_i(s', a') - alpha log pi(a'|s'))`, with
        s' the next row's observation, or the final one where the episode was
        truncated."""
        critic, actor = self._networks(state.target_critic_params, state.actor_params)
        batch_size, action_shape = batch["reward"].shape[0], batch["action"].shape[2:]
        noise_key, final_noise_key = jax.random.split(key)
        noise_shape = (batch_size, self.window) + action_shape

        def sampled_action(*inputs_and_carry, noise):
            carry, policy = actor(*inputs_and_carry)
            return carry, reparameterized_sample(policy, noise)

        inputs = NetworkInputs.of(batch)
        final_inputs = NetworkInputs.at_final_observation(batch, self.environment.action_dtype)
        _, (action, log_prob), (final_action, final_log_prob) = (
            outputs_with_final_observations(
                sampled_action,
                inputs,
                actor.initialize_carry(batch_size),
                final_inputs,
                batch["truncated"],
                head_inputs={"noise": jax.random.normal(noise_key, noise_shape)},
                final_head_inputs={
                    "noise": jax.random.normal(final_noise_key, noise_shape)
                },
            )
        )
        _, q, final_q = outputs_with_final_observations(
            critic,
            inputs,
            critic.initialize_carry(batch_size),
            final_inputs,
            batch["truncated"],
            head_inputs={"action": action},
            final_head_inputs={"action": final_action},
            output_time_axis=2,
        )
        temperature = jnp.exp(state.log_temperature)
        soft_value = jnp.min(q, axis=0) - temperature * log_prob
        final_soft_value = jnp.min(final_q, axis=0) - temperature * final_log_prob
        length = self.cfg.sequence_length
        next_value = jnp.where(
            batch["truncated"][:, :length],
            final_soft_value[:, :length],
            soft_value[:, 1:],
        )
        continues = 1.0 - batch["terminated"][:, :length].astype(jnp.float32)
        return batch["reward"][:, :length] + self.cfg.gamma * continues * next_value

    def _trained_rows(self, batch, networks, takes_action):
        """The trained rows (after the burn-in, up to sequence_length), their network
        inputs and each network's carry at the first of them, burned in from the
        initial carry (a network that `takes_action`, the critic, sees the stored
        actions during the burn-in)."""
        rows = drop_after(batch, self.cfg.sequence_length)
        inputs = NetworkInputs.of(rows)
        batch_size = rows["reward"].shape[0]
        carries = tuple(network.initialize_carry(batch_size) for network in networks)
        head_inputs = tuple({"action": rows["action"]} if q else {} for q in takes_action)
        carries, inputs = after_burn_in(networks, carries, inputs, self.cfg.burn_in, head_inputs)
        return drop_burn_in(rows, self.cfg.burn_in), inputs, carries

    def _critic_loss(self, critic_params, state: SACState, batch, target):
        critic, _ = self._networks(critic_params, state.actor_params)
        rows, inputs, (carry,) = self._trained_rows(batch, (critic,), (True,))
        _, q = inputs.run(critic, carry, action=rows["action"])
        error = (q - drop_burn_in(target, self.cfg.burn_in)[None]) ** 2
        loss = 0.5 * (jnp.mean(error[0]) + jnp.mean(error[1]))
        return loss, {"critic_loss": loss, "q_value": jnp.mean(q)}

    def _actor_loss(self, actor_params, state: SACState, batch, key):
        critic, actor = self._networks(state.critic_params, actor_params)
        rows, inputs, (actor_carry, critic_carry) = self._trained_rows(batch, (actor, critic), (False, True))
        _, policy = inputs.run(actor, actor_carry)
        noise = jax.random.normal(key, rows["action"].shape)
        action, log_prob = reparameterized_sample(policy, noise)
        _, q = inputs.run(critic, critic_carry, action=action)
        temperature = jnp.exp(state.log_temperature)
        loss = jnp.mean(temperature * log_prob - jnp.min(q, axis=0))
        return loss, jnp.mean(log_prob)

    def _update_step(self, state: SACState, key):
        """One gradient update of the critic, the actor and the temperature."""
        cfg = self.cfg
        sample_key, target_key, actor_key = jax.random.split(key, 3)
        batch, _ = sample_sequences(
            state.buffer, sample_key, cfg.batch_size, self.window
        )
        target = jax.lax.stop_gradient(self.critic_targets(state, batch, target_key))

        critic_grads, metrics = jax.grad(self._critic_loss, has_aux=True)(
            state.critic_params, state, batch, target
        )
        updates, critic_optimizer_state = self.critic_optimizer.update(
            critic_grads, state.critic_optimizer_state, state.critic_params
        )
        critic_params = optax.apply_updates(state.critic_params, updates)
        state = state.replace(
            critic_params=critic_params,
            critic_optimizer_state=critic_optimizer_state,
            target_critic_params=optax.incremental_update(
                critic_params, state.target_critic_params, cfg.tau
            ),
        )

        (actor_loss, log_prob), actor_grads = jax.value_and_grad(
            self._actor_loss, has_aux=True
        )(state.actor_params, state, batch, actor_key)
        updates, actor_optimizer_state = self.actor_optimizer.update(
            actor_grads, state.actor_optimizer_state, state.actor_params
        )
        state = state.replace(
            actor_params=optax.apply_updates(state.actor_params, updates),
            actor_optimizer_state=actor_optimizer_state,
        )

        # d/d(log alpha) of -log alpha (log pi + target entropy)
        temperature_grad = -(jax.lax.stop_gradient(log_prob) + self.target_entropy)
        updates, temperature_optimizer_state = self.temperature_optimizer.update(
            temperature_grad, state.temperature_optimizer_state, state.log_temperature
        )
        state = state.replace(
            log_temperature=optax.apply_updates(state.log_temperature, updates),
            temperature_optimizer_state=temperature_optimizer_state,
        )
        metrics = {
            **metrics,
            "actor_loss": actor_loss,
            "entropy": -log_prob,
            "temperature": jnp.exp(state.log_temperature),
        }
        return state, metrics

    def _updates(self, state: SACState, key):
        keys = jax.random.split(key, self.cfg.updates_per_iteration)
        state, metrics = jax.lax.scan(self._update_step, state, keys)
        metrics = jax.tree.map(jnp.mean, metrics)
        return state, {**metrics, "updates_applied": jnp.float32(1.0)}

    def _no_updates(self, state: SACState, key):
        _, shapes = jax.eval_shape(self._updates, state, key)
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        return state, {**zeros, "temperature": jnp.exp(state.log_temperature)}

    def _call_metrics(self, metrics: dict) -> dict:
        return over_applied_updates(metrics, unweighted=("temperature",))

    def _learned_parameters(self, state: SACState):
        return state.critic_params, state.actor_params, state.log_temperature

    def _iteration(self, key, state: SACState):
        act_key, update_key = jax.random.split(key)
        state, transitions = jax.lax.scan(
            self._act, state, jax.random.split(act_key, self.cfg.rollout_length)
        )
        learning = jnp.logical_and(
            state.step >= self.cfg.learning_starts,
            can_sample(state.buffer, self.window),
        )
        state, metrics = jax.lax.cond(
            learning, self._updates, self._no_updates, state, update_key
        )
        return state, batch_first(transitions), metrics
