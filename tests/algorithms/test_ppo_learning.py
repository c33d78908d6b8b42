"""PPO learns: CartPole-v1 with an MLP, and a memory task only with a recurrent torso.

Small enough for 2 CPU cores (each test well under 2 minutes); judged by the
deterministic policy on fresh episodes (`evaluate`).
"""

from __future__ import annotations

import jax
import optax
import pytest

from memorax.algorithms import PPO, PPOConfig
from memorax.environments import make
from memorax.networks.heads import Categorical, VNetwork
from tests.algorithms.agents import gru_network, mlp_network

pytestmark = pytest.mark.slow

CONFIG = PPOConfig(num_envs=16, rollout_length=64)


def trained_return(env_id: str, network, num_steps: int, seed: int = 0) -> float:
    env, env_params = make(env_id)
    actions = env.action_space(env_params).n
    optimizer = optax.adam(1e-3)
    agent = PPO(
        CONFIG,
        env,
        env_params,
        network(Categorical(actions), 64),
        network(VNetwork(), 64),
        optimizer,
        optimizer,
    )
    key, state = agent.init(jax.random.key(seed))
    key, state, _ = agent.train(key, state, num_steps=num_steps)
    _, metrics = agent.evaluate(key, state, num_episodes=64)
    return float(metrics["mean_return"])


def test_ppo_with_an_mlp_balances_cartpole():
    assert trained_return("CartPole-v1", mlp_network, 200_000) >= 400


def test_recurrent_ppo_remembers_where_an_mlp_cannot():
    # MemoryChain-bsuite: the context shown at the first step decides the reward (+1 or
    # -1) at the end; without memory the best policy is a coin flip (expected return 0).
    assert trained_return("MemoryChain-bsuite", gru_network, 40_000) >= 0.9
    assert trained_return("MemoryChain-bsuite", mlp_network, 40_000) <= 0.5
