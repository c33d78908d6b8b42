"""memorax: reinforcement learning with memory, in JAX and flax.nnx."""

__version__ = "0.1.0"
