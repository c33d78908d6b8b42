"""Return targets shared by the algorithms: the values that follow the steps of a
rollout, lambda-returns, GAE, n-step returns and R2D2's value rescaling.

All functions take time-major arrays `(T, ...)` (the order a rollout scan writes) and
the step contract's flags: `terminated[t]` means no value follows step t (do not
bootstrap), `truncated[t]` means the episode was cut there (bootstrap from the value
of its final observation). `next_values[t]` is the value of the observation that
followed step t: of `info["final_observation"]` where the episode ended, of the next
step's observation otherwise, so truncation bootstraps correctly and a trace never
runs from one episode into the next.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def next_values(values, last_value, truncated, final_values):
    """The value that follows each step of a time-major rollout `(T, ...)`: the next
    step's, `last_value` (after the rollout) for its last step, the final
    observation's where an episode was truncated (where it terminated the returns
    ignore it)."""
    following = jnp.concatenate([values[1:], last_value[None]], axis=0)
    return jnp.where(truncated, final_values, following)


def lambda_returns(rewards, next_values, terminated, truncated, gamma, lambda_):
    """TD(lambda) targets `G_t = r_t + gamma (1 - term_t) [(1 - l_t) v'_t + l_t G_{t+1}]`,
    with `l_t = lambda` inside an episode and 0 where it ended (and after the last
    step, where `G_{t+1}` is unknown). `lambda_=0` gives one-step TD targets,
    `lambda_=1` Monte Carlo returns bootstrapped at the rollout's end. Shape `(T, ...)`.
    """
    ended = jnp.logical_or(terminated, truncated)
    keep_going = jnp.where(ended, 0.0, lambda_)
    continues = 1.0 - terminated.astype(rewards.dtype)

    def backward(next_return, step):
        reward, next_value, continues, keep_going = step
        mixed = (1.0 - keep_going) * next_value + keep_going * next_return
        target = reward + gamma * continues * mixed
        return target, target

    # Past the last step nothing is known: l_{T-1} = 0 makes the carry unused there.
    keep_going = keep_going.at[-1].set(0.0)
    _, targets = jax.lax.scan(
        backward,
        jnp.zeros_like(rewards[0]),
        (rewards, next_values, continues, keep_going),
        reverse=True,
    )
    return targets


def generalized_advantage_estimation(
    rewards, values, next_values, terminated, truncated, gamma, gae_lambda
):
    """GAE advantages and value targets, `(advantages, returns)`, each `(T, ...)`.

    The lambda-return minus the value: the same sum of discounted TD errors
    `delta_t = r_t + gamma (1 - term_t) v'_t - v_t`, cut at every episode end
    (Schulman et al., 2016).
    """
    returns = lambda_returns(
        rewards, next_values, terminated, truncated, gamma, gae_lambda
    )
    return returns - values, returns


def n_step_returns(rewards, next_values, terminated, truncated, gamma, num_steps: int):
    """`G_t = sum_{k<n} gamma^k r_{t+k} + gamma^n v'_{t+n-1}`, stopping early at an
    episode end (no bootstrap after a termination) or at the rollout's last step.
    Shape `(T, ...)`; `num_steps` is static.
    """
    length = rewards.shape[0]
    ended = jnp.logical_or(terminated, truncated)
    time = jnp.arange(length).reshape((length,) + (1,) * (rewards.ndim - 1))
    returns = jnp.zeros_like(rewards)
    discount = jnp.ones_like(rewards)
    running = jnp.ones(rewards.shape, bool)
    for k in range(num_steps):
        shifted = [_ahead(x, k) for x in (rewards, next_values, terminated, ended)]
        reward, next_value, terminal, episode_end = shifted
        included = running & (time + k < length)
        returns = returns + jnp.where(included, discount * reward, 0.0)
        discount = discount * gamma
        last = included & (
            episode_end | (k == num_steps - 1) | (time + k == length - 1)
        )
        bootstrap = discount * jnp.where(terminal, 0.0, next_value)
        returns = returns + jnp.where(last, bootstrap, 0.0)
        running = included & ~last
    return returns


def _ahead(x, k: int):
    """`x[t + k]` at index t (the tail repeats the last entry; callers mask it)."""
    if k == 0:
        return x
    return jnp.concatenate([x[k:], jnp.repeat(x[-1:], k, axis=0)], axis=0)


def rescale_value(x, epsilon: float = 1e-3):
    """R2D2's `h(x) = sign(x) (sqrt(|x| + 1) - 1) + epsilon x` (Pohlen et al., 2018):
    squashes large returns so one network fits rewards of any scale."""
    return jnp.sign(x) * (jnp.sqrt(jnp.abs(x) + 1.0) - 1.0) + epsilon * x


def unrescale_value(x, epsilon: float = 1e-3):
    """The inverse of `rescale_value`."""
    root = (jnp.sqrt(1.0 + 4.0 * epsilon * (jnp.abs(x) + 1.0 + epsilon)) - 1.0) / (
        2.0 * epsilon
    )
    return jnp.sign(x) * (root**2 - 1.0)
