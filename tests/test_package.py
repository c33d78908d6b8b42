"""`import memorax` is cheap and still gives `memorax.environments.make(...)` & co."""

import subprocess
import sys

import pytest


def run_fresh(code: str) -> str:
    """Run `code` in a fresh interpreter (nothing of memorax imported yet); its stdout."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_memorax_does_not_import_jax():
    code = "import sys, memorax; print(sorted(m for m in ('jax', 'flax', 'gymnax') if m in sys.modules))"
    assert run_fresh(code).strip() == "[]"


def test_subpackages_resolve_as_attributes_on_first_use():
    code = (
        "import memorax\n"
        "env, env_params = memorax.environments.make('CartPole-v1')\n"
        "print(env.action_space(env_params).n)\n"
        "print(memorax.networks.MLP.__name__, memorax.algorithms.PPO.__name__)\n"
        "print(all(name in dir(memorax) for name in ('algorithms', 'environments', 'networks')))\n"
    )
    assert run_fresh(code).split() == ["2", "MLP", "PPO", "True"]


def test_unknown_attribute_is_an_attribute_error():
    import memorax

    with pytest.raises(AttributeError, match="module 'memorax' has no attribute 'environment'"):
        memorax.environment  # noqa: B018
    assert not hasattr(memorax, "utils")
