"""Environments: every gymnax id, a native JAX memory suite and POMDP wrappers."""

from memorax.environments import wrappers
from memorax.environments.registry import make, memory_ids, registered_ids

__all__ = ["make", "memory_ids", "registered_ids", "wrappers"]
