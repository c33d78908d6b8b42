"""`S5`: the simplified structured state space sequence model (Smith et al. 2023,
"Simplified State Space Layers for Sequence Modeling") as a memorax torso.

A continuous-time diagonal system x'(t) = Lambda x + B u, y = Re(C x) + D u is
discretised per state with a learned timestep by zero-order hold:

    Lambda_bar = exp(Lambda * dt),    B_bar = (Lambda_bar - 1) / Lambda * B,
    h_t = Lambda_bar * h_{t-1} + B_bar u_t,    y_t = Re(C h_t) + D u_t.

Complex parameters are stored as separate real and imaginary parts.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from memorax.networks.module import BuildContext, positive_int
from memorax.networks.sequence_models.base import SequenceModel
from memorax.networks.sequence_models.linear_recurrence import diagonal_ssm_readout


def hippo_n_diagonalization(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and (unitary) eigenvectors of the normal part of HiPPO-LegS.

    HiPPO-LegS is A = -(tril(sqrt(2i+1) sqrt(2j+1)) - diag(i)); adding the rank-one
    P P^T with P_i = sqrt(i + 1/2) leaves -I/2 plus a skew-symmetric matrix S, which is
    diagonalised stably as the Hermitian -iS (the S5 / S4D "HiPPO-N" initialisation).
    """
    p = np.sqrt(1.0 + 2.0 * np.arange(n))
    hippo = -(np.tril(p[:, None] * p[None, :]) - np.diag(np.arange(n)))
    rank_one = np.sqrt(np.arange(n) + 0.5)
    normal = hippo + rank_one[:, None] * rank_one[None, :]
    real_part = np.mean(np.diagonal(normal))  # = -1/2 for every n
    skew = normal - real_part * np.eye(n)
    imag_part, vectors = np.linalg.eigh(skew * -1j)
    return real_part + 1j * imag_part, vectors


class S5(SequenceModel):
    """S5 state space layer: a diagonal complex linear system with HiPPO-N initialised
    eigenvalues, a learned timestep per state and zero-order-hold discretisation.

    `hidden_dim` is the output width and `state_dim` the number of complex states.
    Initialisation follows S5 with a single block and without the conjugate-symmetry
    halving: Lambda holds the `state_dim` eigenvalues of the HiPPO-N matrix (real parts
    -1/2), B = V^H B~ and C = C~ V for real Gaussian B~ (LeCun scale) and C~ with V the
    eigenvectors, log dt ~ U[log dt_min, log dt_max], D ~ N(0, 1). The real part of
    Lambda is clipped below -1e-4 when used, so the system stays stable in training.

    D is elementwise when the input width equals `hidden_dim`, and a bias-free Linear
    layer otherwise. `parallel=True` runs the recurrence as an associative scan;
    `parallel=False` steps through it with `lax.scan`, with the same results.
    """

    def __init__(
        self,
        hidden_dim: int,
        state_dim: int,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        parallel: bool = True,
    ):
        self.hidden_dim = positive_int(hidden_dim, "S5", "hidden_dim")
        self.state_dim = positive_int(state_dim, "S5", "state_dim")
        if not (isinstance(dt_min, (int, float)) and isinstance(dt_max, (int, float)) and 0.0 < dt_min <= dt_max):
            raise ValueError(f"S5: dt_min and dt_max must satisfy 0 < dt_min <= dt_max, got dt_min={dt_min!r}, dt_max={dt_max!r}.")
        self.dt_min = float(dt_min)
        self.dt_max = float(dt_max)
        self.parallel = bool(parallel)
        self.Lambda_re = nnx.data(None)
        self.Lambda_im = nnx.data(None)
        self.log_step = nnx.data(None)
        self.B_re = nnx.data(None)
        self.B_im = nnx.data(None)
        self.C_re = nnx.data(None)
        self.C_im = nnx.data(None)
        self.D = nnx.data(None)

    def describe(self) -> str:
        return f"S5(hidden_dim={self.hidden_dim}, state_dim={self.state_dim})"

    def _build(self, context: BuildContext, input_shape):
        features = self.vector_width(input_shape)
        n, h = self.state_dim, self.hidden_dim
        k_step, k_b, k_c, k_d = jax.random.split(context.rngs.params(), 4)
        eigenvalues, vectors = hippo_n_diagonalization(n)
        self.Lambda_re = nnx.Param(jnp.asarray(eigenvalues.real, jnp.float32))
        self.Lambda_im = nnx.Param(jnp.asarray(eigenvalues.imag, jnp.float32))
        self.log_step = nnx.Param(
            jax.random.uniform(k_step, (n,), minval=math.log(self.dt_min), maxval=math.log(self.dt_max))
        )
        # B and C are drawn in the original basis and expressed in the eigenbasis, as in
        # S5; V is unitary, so their scale is unchanged.
        vectors = jnp.asarray(vectors, jnp.complex64)
        B = vectors.conj().T @ (jax.random.normal(k_b, (n, features)) / math.sqrt(features))
        C = (jax.random.normal(k_c, (h, n)) / math.sqrt(n)) @ vectors
        self.B_re, self.B_im = nnx.Param(B.real), nnx.Param(B.imag)
        self.C_re, self.C_im = nnx.Param(C.real), nnx.Param(C.imag)
        if features == h:
            self.D = nnx.Param(jax.random.normal(k_d, (h,)))
        else:
            # The skip D u must land in hidden_dim, so it becomes a projection.
            self.D = nnx.Linear(features, h, use_bias=False, rngs=nnx.Rngs(params=k_d))
        return (h,)

    def discretize(self):
        """Zero-order hold: (Lambda_bar (state_dim,), B_bar (state_dim, features))."""
        self.require_built()
        # Clipping the real part keeps |Lambda_bar| < 1 whatever training does to it.
        lam = jnp.minimum(self.Lambda_re[...], -1e-4) + 1j * self.Lambda_im[...]
        step = jnp.exp(self.log_step[...])
        lam_bar = jnp.exp(lam * step)
        B = self.B_re[...] + 1j * self.B_im[...]
        return lam_bar, ((lam_bar - 1.0) / lam)[:, None] * B

    def initialize_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.state_dim), jnp.complex64)

    def __call__(self, inputs, episode_start, carry):
        """inputs (batch, time, features) -> (carry, (batch, time, hidden_dim))."""
        self.check_input(inputs, leading_axes=2)
        lam_bar, B_bar = self.discretize()
        C = self.C_re[...] + 1j * self.C_im[...]
        return diagonal_ssm_readout(inputs, episode_start, carry, lam_bar, B_bar, C, self.D, self.parallel)
