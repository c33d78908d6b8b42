"""What every algorithm shares: the compiled `init` / `train` / `warmup` / `evaluate`.

An algorithm supplies one training iteration (act for a few steps, then learn) and a
few ways to use its networks; this class turns them into the seed's contract:

    key, state = agent.init(key)
    key, state, transitions = agent.train(key, state, num_steps=1000)
    key, state = agent.warmup(key, state, num_steps=1000)
    key, metrics = agent.evaluate(key, state, num_episodes=10)

Each call is one compiled program (a `lax.scan` over iterations, no python loop per
step), pure in its arguments, so `jax.vmap` over keys and states trains several seeds
at once: `jax.vmap(lambda k, s: agent.train(k, s, num_steps=1000))(keys, states)`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.algorithms.arguments import iterations_for, require_key
from memorax.algorithms.environment_loop import EnvironmentLoop, LoopState
from memorax.algorithms.evaluation import run_episodes
from memorax.algorithms.metrics import EpisodeTally
from memorax.algorithms.transition import Transition
from memorax.networks.network import initial_state


def has_memory(carry) -> bool:
    return bool(jax.tree.leaves(carry))


def all_finite(tree) -> jax.Array:
    """Whether every floating-point number in `tree` is finite (one reduction)."""
    leaves = [
        jnp.all(jnp.isfinite(leaf))
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


STEP_LIMIT = jnp.iinfo(jnp.int32).max


def advance_steps(step: jax.Array, count: int) -> jax.Array:
    """`step + count`, saturating at the int32 maximum instead of wrapping negative.

    `state.step` drives schedules (epsilon, `learning_starts`), which all end long
    before 2.1e9 steps; a wrapped counter would restart them. Callers that need the
    exact count of a longer run keep it themselves (`memorax train` counts on the
    host)."""
    return jnp.where(step > STEP_LIMIT - count, STEP_LIMIT, step + count).astype(step.dtype)


class Algorithm:
    """Base of the algorithms. Subclasses set `self.environment` (an EnvironmentLoop),
    `self.networks` (the nnx graph of their networks), `self.steps_per_iteration` and
    implement `_initial_state`, `_iteration`, `_initial_carry`, `_next_carry`,
    `_deterministic_action` and `_sampled_action`; replay algorithms also `_store`,
    and algorithms whose state keeps its parameters elsewhere than `state.params`
    `_learned_parameters`."""

    def __init__(self, env, env_params, num_envs: int, networks):
        self.environment = EnvironmentLoop(env, env_params, num_envs)
        self.networks = networks
        # Built once here, so bad networks fail at construction; `init` rebuilds them
        # from its own key (pure, so it runs under jit and vmap).
        self.graphdef, params = initial_state(
            networks,
            jax.random.key(0),
            self.environment.observation_space,
            self.environment.action_space,
        )
        built = nnx.merge(self.graphdef, params)
        built = built if isinstance(built, (tuple, list)) else (built,)
        # Whether any network carries memory between steps (the default sequences
        # depend on it).
        self.recurrent = any(has_memory(n.initialize_carry(1)) for n in built)
        # What the optimizers will update, for checks that trace them (abstractly).
        self.parameter_shapes = jax.eval_shape(lambda: params)
        self._init = jax.jit(self._init_impl)
        self._train = jax.jit(self._train_impl, static_argnums=2)
        self._warmup = jax.jit(self._warmup_impl, static_argnums=2)
        self._evaluate = jax.jit(self._evaluate_impl, static_argnums=(2, 3))

    # The seed's contract -------------------------------------------------------------

    def init(self, key):
        """Fresh parameters, optimizer states and environments: `(key, state)`."""
        require_key(type(self).__name__, "init", key)
        return self._init(key)

    def train(self, key, state, num_steps: int):
        """Act and learn for `num_steps` env steps (rounded up to whole iterations of
        `num_envs x rollout` steps): `(key, state, transitions)`. `transitions` are the
        last iteration's, batch-first; `transitions.info["metrics"]` holds the losses,
        diagnostics and episode statistics averaged over the whole call, and
        `nonfinite`: whether a learning metric or a learned parameter was NaN or
        infinite after any iteration of the call (training diverged: stop).
        `transitions.info["iteration_metrics"]` holds the same metrics for each
        iteration alone (a leading axis of iterations; `env_steps` after each), for
        learning curves finer than a call."""
        require_key(type(self).__name__, "train", key)
        iterations = iterations_for(
            type(self).__name__, num_steps, self.steps_per_iteration
        )
        return self._train(key, state, iterations)

    def lower(self, key, state, num_steps: int):
        """`train(key, state, num_steps)` lowered for these arguments' shapes, to compile
        ahead of time: `compiled = agent.lower(key, state, n).compile()` (timing that
        call times the compilation), then `compiled(key, state)` runs `train` for `n`
        steps on any state of the same shapes without compiling again."""
        require_key(type(self).__name__, "lower", key)
        iterations = iterations_for(type(self).__name__, num_steps, self.steps_per_iteration)
        return self._train.lower(key, state, iterations)

    def warmup(self, key, state, num_steps: int):
        """Step the environments with uniformly random actions for `num_steps` env
        steps (rounded up to whole batches of `num_envs`), without learning; replay
        algorithms store these steps. `(key, state)`."""
        require_key(type(self).__name__, "warmup", key)
        steps = iterations_for(
            type(self).__name__, num_steps, self.environment.num_envs
        )
        return self._warmup(key, state, steps)

    def evaluate(self, key, state, num_episodes: int = 10, deterministic: bool = True):
        """Run the policy for one episode on each of `num_episodes` fresh environments:
        `(key, metrics)` with mean_return, std_return, mean_length, std_length and the
        per-episode values. The training state is not touched.

        `deterministic=True` plays the greedy / mean action; `False` plays the policy
        training acts with: actions sampled from the actor (PPO, SAC), epsilon-greedy at
        the state's current epsilon (DQN, R2D2, PQN)."""
        require_key(type(self).__name__, "evaluate", key)
        if not isinstance(deterministic, bool):
            raise TypeError(
                f"{type(self).__name__}: deterministic must be True or False, got {deterministic!r}."
            )
        if (
            isinstance(num_episodes, bool)
            or not isinstance(num_episodes, int)
            or num_episodes < 1
        ):
            raise ValueError(
                f"{type(self).__name__}: num_episodes must be a positive integer, got {num_episodes!r}."
            )
        return self._evaluate(key, state, num_episodes, deterministic)

    # Shared machinery ----------------------------------------------------------------

    def merged(self, params):
        """The networks with `params`, for use inside a traced function."""
        return nnx.merge(self.graphdef, params)

    def fresh_parameters(self, key):
        _, params = initial_state(
            self.networks,
            key,
            self.environment.observation_space,
            self.environment.action_space,
        )
        return params

    def _init_impl(self, key):
        key, params_key, env_key = jax.random.split(key, 3)
        state = self._initial_state(params_key, env_key)
        return key, state

    def _train_impl(self, key, state, iterations: int):
        key, train_key = jax.random.split(key)
        keys = jax.random.split(train_key, max(iterations, 1))
        _, last, metric_shapes = jax.eval_shape(self._iteration, keys[0], state)
        zeros = lambda tree: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), tree)

        def one_iteration(carry, iteration_key):
            state, _, tally, metric_sums, nonfinite = carry
            state, transitions, metrics = self._iteration(iteration_key, state)
            metric_sums = jax.tree.map(jnp.add, metric_sums, metrics)
            # Cheap divergence check (NaN observations, rewards, learning rates...).
            finite = jnp.logical_and(
                all_finite(metrics), all_finite(self._learned_parameters(state))
            )
            nonfinite = jnp.logical_or(nonfinite, jnp.logical_not(finite))
            # The same metrics for this iteration alone: learning curves finer than a call.
            iteration_metrics = {
                **self._call_metrics(metrics),
                **EpisodeTally.empty().add(transitions).summary(),
                "env_steps": state.step,
                "nonfinite": jnp.logical_not(finite),
            }
            return (state, transitions, tally.add(transitions), metric_sums, nonfinite), iteration_metrics

        initial = (
            state,
            zeros(last),
            EpisodeTally.empty(),
            zeros(metric_shapes),
            jnp.bool_(False),
        )
        (state, transitions, tally, metric_sums, nonfinite), iteration_metrics = jax.lax.scan(
            one_iteration, initial, keys[:iterations]
        )
        metrics = jax.tree.map(lambda total: total / max(iterations, 1), metric_sums)
        metrics = {
            **self._call_metrics(metrics),
            **tally.summary(),
            "env_steps": state.step,
            "nonfinite": nonfinite,
        }
        return (
            key,
            state,
            transitions.replace(
                info={**transitions.info, "metrics": metrics, "iteration_metrics": iteration_metrics}
            ),
        )

    def _warmup_impl(self, key, state, steps: int):
        key, warmup_key = jax.random.split(key)

        def one_step(state, step_key):
            action_key, env_key = jax.random.split(step_key)
            action = self.environment.random_actions(action_key)
            carry = self._next_carry(state, state.loop, action)
            loop, transition = self.environment.step(env_key, state.loop, action, carry)
            state = self._store(state, transition)
            return state.replace(
                loop=loop, step=advance_steps(state.step, self.environment.num_envs)
            ), None

        state, _ = jax.lax.scan(one_step, state, jax.random.split(warmup_key, steps))
        return key, state

    def _evaluate_impl(self, key, state, num_episodes: int, deterministic: bool):
        key, evaluation_key = jax.random.split(key)
        carry = self._initial_carry(state, num_episodes)
        if deterministic:
            act = lambda loop, action_key: self._deterministic_action(state, loop)
        else:
            act = lambda loop, action_key: self._sampled_action(state, loop, action_key)
        metrics = run_episodes(self.environment, evaluation_key, num_episodes, carry, act)
        return key, metrics

    def _store(self, state, transition: Transition):
        """Keep a warmup step (replay algorithms); on-policy ones keep nothing."""
        return state

    # Hooks ---------------------------------------------------------------------------

    def _initial_state(self, params_key, env_key):
        raise NotImplementedError

    def _iteration(self, key, state):
        """One round of acting and learning: `(state, transitions, metrics)`."""
        raise NotImplementedError

    def _learned_parameters(self, state):
        """What the optimizers train (checked for NaN after every iteration)."""
        return state.params

    def _call_metrics(self, metrics: dict) -> dict:
        """The iteration metrics averaged over a `train` call, as `train` reports them."""
        return metrics

    def _initial_carry(self, state, batch_size: int):
        raise NotImplementedError

    def _next_carry(self, state, loop: LoopState, action):
        """The carries after the networks saw `loop`'s observation (for warmup)."""
        raise NotImplementedError

    def _deterministic_action(self, state, loop: LoopState):
        """The greedy / mean action and the carries after it: `(action, carry)`."""
        raise NotImplementedError

    def _sampled_action(self, state, loop: LoopState, key):
        """The action training would take (its exploration included) and the carries
        after it: `(action, carry)`."""
        raise NotImplementedError
