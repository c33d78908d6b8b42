"""Shared test settings: fast XLA compiles and hypothesis profiles sized for a 2-core
CPU machine."""

import os
import shutil
import tempfile
import time

import jax
import pytest
from hypothesis import HealthCheck, settings

# Most of the suite's time is XLA compiling small programs that then run for
# milliseconds. LLVM's optimisation passes and XLA:CPU's fusion emitters are most of
# that compile time (measured: 17 s -> 5 s over a PPO train call, three env rollouts
# and three torso gradients; the suite 19 -> 8 minutes); they change how fast the
# machine code runs, not what it computes. JAX reads XLA_FLAGS when it starts its
# backend, at the first computation (after this file), in every xdist worker.
# MEMORAX_TEST_FAST_COMPILE=0 compiles as users do.
FAST_COMPILE_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
if os.environ.get("MEMORAX_TEST_FAST_COMPILE", "1") != "0":
    user_flags = os.environ.get("XLA_FLAGS", "")
    if FAST_COMPILE_FLAGS not in user_flags:
        # the user's own flags come last, so they win where both set one
        os.environ["XLA_FLAGS"] = f"{FAST_COMPILE_FLAGS} {user_flags}".strip()

# memorax sets its XLA:CPU deadlock workaround flag when imported, which must happen
# before JAX's backend starts; some test modules import gymnax first, which starts it.
import memorax  # noqa: E402, F401

# JAX compiles a new program for every new shape, so examples are slow-ish and their
# speed varies: no deadline, and few enough examples to keep the suite quick. The CI
# profile is derandomised so a red CI run can be reproduced exactly.
settings.register_profile(
    "default",
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


def pytest_configure(config):
    """Share compiled programs between tests and between xdist workers of this run.

    Many tests build equal agents or rollouts whose programs are identical but are
    compiled again (new closures, or after a module's caches are freed); a compilation
    cache keyed by the program turns those into reads. The directory is made fresh for
    each run (workers inherit it from the controller), so the suite's time never
    depends on a warm cache; MEMORAX_TEST_COMPILATION_CACHE=0 turns it off.
    """
    if os.environ.get("MEMORAX_TEST_COMPILATION_CACHE", "1") == "0":
        return
    if not hasattr(config, "workerinput") and "MEMORAX_TEST_CACHE_DIR" not in os.environ:
        os.environ["MEMORAX_TEST_CACHE_DIR"] = tempfile.mkdtemp(prefix="memorax-jax-cache-")
        config.add_cleanup(lambda: shutil.rmtree(os.environ.pop("MEMORAX_TEST_CACHE_DIR"), ignore_errors=True))
    jax.config.update("jax_compilation_cache_dir", os.environ["MEMORAX_TEST_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Each test module compiles many programs for one-off shapes; free them after it."""
    yield
    jax.clear_caches()


def pytest_report_header(config):
    """In CI, the time the install took (from `.ci/run`'s start to pytest's)."""
    started = os.environ.get("MEMORAX_CI_STARTED")
    if started:
        return f"ci: install took {time.time() - float(started):.0f} s"
    return None
