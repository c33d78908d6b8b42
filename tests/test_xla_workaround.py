"""XLA:CPU deadlocks on some vmapped programs unless `import memorax` turns its
concurrency-optimised scheduler off (see memorax/__init__.py). The program below hung
in about 4 of 5 fresh processes without the flag on this 2-core machine."""

import os
import subprocess
import sys

PROGRAM = """
import jax, optax
import memorax
from memorax.algorithms import PPO, PPOConfig
from memorax.environments import make
from memorax.networks import MLP, FeatureExtractor, Network, SequenceModelWrapper
from memorax.networks.heads import Categorical, VNetwork
env, params = make("MemoryChain-bsuite")
network = lambda head: Network(
    FeatureExtractor(observation_extractor=MLP(features=(64,))), SequenceModelWrapper(MLP(features=(64,))), head
)
agent = PPO(PPOConfig(num_envs=16, rollout_length=64), env, params, network(Categorical(2)), network(VNetwork()),
            optax.adam(1e-3), optax.adam(1e-3))
init = jax.jit(jax.vmap(agent.init))
for seed in range(4):
    jax.block_until_ready(init(jax.random.split(jax.random.key(seed), 3)))
print("finished")
"""


def test_vmapped_programs_finish_with_the_import_time_xla_flag():
    environment = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and "finished" in result.stdout, result.stderr[-2000:]


def test_a_flag_the_user_set_wins():
    environment = {**os.environ, "XLA_FLAGS": "--xla_cpu_enable_concurrency_optimized_scheduler=true"}
    code = "import os, memorax; print(os.environ['XLA_FLAGS'])"
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "--xla_cpu_enable_concurrency_optimized_scheduler=true"


def test_a_backend_started_before_memorax_is_warned_about():
    environment = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    late = "import warnings; warnings.simplefilter('always'); import gymnax, memorax"
    result = subprocess.run([sys.executable, "-c", late], env=environment, capture_output=True, text=True, check=True)
    assert "import memorax first" in result.stderr
    early = "import warnings; warnings.simplefilter('always'); import memorax, gymnax"
    result = subprocess.run([sys.executable, "-c", early], env=environment, capture_output=True, text=True, check=True)
    assert "import memorax first" not in result.stderr
