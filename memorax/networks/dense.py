"""Dense layers whose kernel gradient XLA:CPU computes in its fast matmul layout.

Autodiff of `y = x @ W` gives the kernel's gradient as `x^T @ dy`, a matmul that
contracts the leading (batch) axis of both operands. Inside a training step XLA:CPU
runs that layout several times slower than a plain row-major matmul, and PPO-MLP's
update spends much of its time there. `dense` returns the same gradient as
`(dy^T @ x)^T`: the same products and sums (bitwise equal on the benchmark's
networks), a whole PPO-MLP `train` call about 1.2x faster (benchmarks/RESULTS.md).
Forward-mode autodiff (`jax.jvp`, `jax.jacfwd`) does not go through a custom
gradient; memorax differentiates its networks in reverse mode only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


@jax.custom_vjp
def dense(x, kernel):
    """`x @ kernel` over the last axis of `x` (any leading axes)."""
    return jnp.einsum("...i,ij->...j", x, kernel)


def _dense_forward(x, kernel):
    return dense(x, kernel), (x, kernel)


def _dense_backward(residuals, d_out):
    x, kernel = residuals
    rows = lambda a: a.reshape(-1, a.shape[-1])
    d_x = jnp.einsum("...j,ij->...i", d_out, kernel)
    d_kernel = (rows(d_out).T @ rows(x)).T
    return d_x, d_kernel


dense.defvjp(_dense_forward, _dense_backward)


def dense_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None, **kwargs):
    """`jax.lax.dot_general` for `nnx.Linear(dot_general=...)`: the layer's own
    contraction (last axis of the inputs with the kernel's first) in default precision
    goes through `dense`; anything else to `jax.lax.dot_general` unchanged."""
    own = (((jnp.ndim(lhs) - 1,), (0,)), ((), ()))
    plain = precision is None and preferred_element_type is None and kwargs.get("out_sharding") is None
    if jnp.ndim(rhs) == 2 and dimension_numbers == own and plain:
        return dense(lhs, rhs)
    return jax.lax.dot_general(
        lhs, rhs, dimension_numbers, precision=precision, preferred_element_type=preferred_element_type, **kwargs
    )


def linear(in_features: int, out_features: int, **kwargs) -> nnx.Linear:
    """`nnx.Linear` whose matmul is `dense` (same parameters, same outputs)."""
    return nnx.Linear(in_features, out_features, dot_general=dense_dot_general, **kwargs)
