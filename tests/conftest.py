"""Shared test settings: hypothesis profiles sized for a 2-core CPU machine."""

import os

import jax
import pytest
from hypothesis import HealthCheck, settings

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


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Each test module compiles many programs for one-off shapes; free them after it."""
    yield
    jax.clear_caches()
