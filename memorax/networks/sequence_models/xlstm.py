"""`sLSTM` and `mLSTM`: the two xLSTM cells (Beck et al. 2024, "xLSTM: Extended Long
Short-Term Memory") as memorax torsos.

Both use an exponential input gate i_t = exp(i~_t) and a sigmoid forget gate
f_t = sigmoid(f~_t). Exponentials overflow, so the states are kept rescaled by
exp(-m_t), with the stabiliser

    m_t = max(log f_t + m_{t-1}, i~_t),
    i'_t = exp(i~_t - m_t),    f'_t = exp(log f_t + m_{t-1} - m_t),

and i'_t, f'_t used in place of i_t, f_t. Both are at most 1, and the outputs do not
depend on the rescaling (it cancels in the normalised read-out).

sLSTM (scalar memory, recurrent, block-diagonal per head):

    c_t = f_t c_{t-1} + i_t tanh(z~_t),    n_t = f_t n_{t-1} + i_t,    h_t = o_t c_t / n_t,

with the pre-activations i~, f~, z~, o~ = W x_t + R h_{t-1} + b.

mLSTM (matrix memory per head, no hidden-to-hidden recurrence):

    C_t = f_t C_{t-1} + i_t v_t k_t^T,    n_t = f_t n_{t-1} + i_t k_t,
    h_t = o_t * (C_t q_t) / max(|n_t^T q_t|, 1),

where q and k are read from a causal depthwise convolution of the (projected) input,
as in the paper's mLSTM block. (In float32 the scaled floor exp(-m) is clipped to
[1e-6, e^40]; see `_read_floor`.) The convolution's last `conv_kernel - 1` inputs travel
in the carry and are zeroed at episode starts, so the window never sees steps from
before an episode start, within a call or across calls.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.module import BuildContext, positive_int
from memorax.networks.sequence_models.base import SequenceModel, reset_carry, time_major
from memorax.networks.sequence_models.causal_conv import causal_depthwise_conv

# "Minus infinity", kept finite so that sums, `where`s and gradients stay finite: the
# stabiliser of an empty sLSTM state (so its first step takes m = i~) and the input
# gate of the mLSTM's padding steps.
_MINUS_INFINITY = -1e30


# Bounds on log of the read-out floor exp(-m) of the mLSTM, see `_read_floor`.
_MIN_LOG_FLOOR = math.log(1e-6)
_MAX_LOG_FLOOR = 40.0


def _read_floor(m):
    """exp(-m), the scaled form of the read-out's lower bound 1, clipped to [1e-6, e^40].

    Below: once m > 13.8 the exact floor is so small that a query nearly orthogonal to
    the normaliser gives a near-zero denominator, an exploding read-out and infinite
    gradients (1 / den^2); 1e-6 bounds them (the xLSTM reference kernels add the same
    eps). It binds only where |n' q| < 1e-6, with n' of the size of a key. Above: for
    m < -40 the memory is below e^-40 of its values, the read-out is 0 to float32
    either way, and exp(-m) would overflow to inf (and inf * 0 = NaN in gradients).
    """
    return jnp.exp(jnp.clip(-m, _MIN_LOG_FLOOR, _MAX_LOG_FLOOR))



def _divisible(hidden_dim: int, num_heads: int, owner: str) -> None:
    if hidden_dim % num_heads:
        raise ValueError(
            f"{owner}: hidden_dim must be divisible by num_heads, got hidden_dim={hidden_dim}, num_heads={num_heads}."
        )


def _forget_bias(size: int):
    """Forget-gate bias spread over [3, 6]: f = sigmoid(b) in 0.95..0.998, so memories
    of tens to hundreds of steps at initialisation (the xLSTM reference init)."""
    return jnp.linspace(3.0, 6.0, size, dtype=jnp.float32)


class sLSTMState(NamedTuple):
    c: jax.Array  # (batch, hidden_dim) cell state, scaled by exp(-m)
    n: jax.Array  # (batch, hidden_dim) normaliser state, scaled by exp(-m)
    m: jax.Array  # (batch, hidden_dim) stabiliser (log scale of c and n)
    h: jax.Array  # (batch, hidden_dim) previous output, fed back through R


class mLSTMState(NamedTuple):
    conv: jax.Array  # (batch, conv_kernel - 1, hidden_dim) last conv inputs, oldest first
    C: jax.Array  # (batch, heads, head_dim, head_dim) matrix memory (value x key), scaled by exp(-m)
    n: jax.Array  # (batch, heads, head_dim) normaliser, scaled by exp(-m)
    m: jax.Array  # (batch, heads) stabiliser


class sLSTM(SequenceModel):
    """sLSTM: an LSTM with exponential input gating, a normaliser state and
    block-diagonal (per head) recurrent weights.

    `hidden_dim` is the state and output width, split into `num_heads` heads whose
    recurrent connections do not mix. The input weights W map the input to the four
    pre-activations (i~, f~, z~, o~); the recurrent weights R (one d x 4d block per head,
    d = hidden_dim / num_heads) add the previous output. Runs as a `lax.scan` over time.
    """

    def __init__(self, hidden_dim: int, num_heads: int = 1):
        self.hidden_dim = positive_int(hidden_dim, "sLSTM", "hidden_dim")
        self.num_heads = positive_int(num_heads, "sLSTM", "num_heads")
        _divisible(hidden_dim, num_heads, "sLSTM")
        self.head_dim = hidden_dim // num_heads
        self.input_proj = nnx.data(None)
        self.recurrent = nnx.data(None)

    def describe(self) -> str:
        return f"sLSTM(hidden_dim={self.hidden_dim}, num_heads={self.num_heads})"

    def _build(self, context: BuildContext, input_shape):
        features = self.vector_width(input_shape)
        h, H, d = self.hidden_dim, self.num_heads, self.head_dim
        # Output layout (gate, unit): gates i, f, z, o, each hidden_dim wide.
        self.input_proj = nnx.Linear(features, 4 * h, rngs=context.rngs)
        self.input_proj.bias[...] = self.input_proj.bias[...].at[h : 2 * h].set(_forget_bias(h))
        # R[head]: (d, 4 * d), output layout (gate, unit within the head).
        init = nnx.initializers.normal(stddev=1.0 / math.sqrt(d))
        self.recurrent = nnx.Param(init(context.rngs.params(), (H, d, 4 * d)))
        return (h,)

    def initialize_carry(self, batch_size: int) -> sLSTMState:
        zeros = jnp.zeros((batch_size, self.hidden_dim), jnp.float32)
        return sLSTMState(c=zeros, n=zeros, m=jnp.full_like(zeros, _MINUS_INFINITY), h=zeros)

    def __call__(self, inputs, episode_start, carry):
        """inputs (batch, time, features) -> (carry, (batch, time, hidden_dim))."""
        self.check_input(inputs, leading_axes=2)
        batch = inputs.shape[0]
        H, d = self.num_heads, self.head_dim
        carry = sLSTMState(*(jnp.asarray(leaf, jnp.float32) for leaf in carry))
        start_carry = self.initialize_carry(batch)
        # The input part of every pre-activation, for all steps at once.
        projected = self.input_proj(inputs).astype(jnp.float32).reshape(batch, inputs.shape[1], 4, H, d)
        R = jnp.asarray(self.recurrent[...], jnp.float32)

        def step(state: sLSTMState, step_inputs):
            x_t, start_t = step_inputs
            state = reset_carry(state, start_carry, start_t)
            c, n, m, h = state
            recurrent = jnp.einsum("bhd,hde->bhe", h.reshape(batch, H, d), R).reshape(batch, H, 4, d)
            pre = (x_t + jnp.swapaxes(recurrent, 1, 2)).reshape(batch, 4, H * d)
            i_tilde, f_tilde, z_tilde, o_tilde = pre[:, 0], pre[:, 1], pre[:, 2], pre[:, 3]
            log_f = jax.nn.log_sigmoid(f_tilde)
            m_new = jnp.maximum(log_f + m, i_tilde)
            i_gate = jnp.exp(i_tilde - m_new)
            f_gate = jnp.exp(log_f + m - m_new)
            c = f_gate * c + i_gate * jnp.tanh(z_tilde)
            n = f_gate * n + i_gate
            # n >= 1 on every reachable state (one of i', f' is exactly 1 at each step and
            # the first step has i' = 1), so the floor changes nothing there; it only keeps
            # a hand-made carry with n near 0 from blowing up.
            h = jax.nn.sigmoid(o_tilde) * c / jnp.maximum(n, 1.0)
            return sLSTMState(c, n, m_new, h), h

        carry, outputs = jax.lax.scan(step, carry, time_major((projected, episode_start)))
        return carry, time_major(outputs).astype(inputs.dtype)


def mlstm_sequential(q, k, v, i_tilde, log_f, episode_start, memory):
    """The stabilised mLSTM recurrence, one step at a time.

    q, k, v (batch, time, heads, d); i_tilde, log_f (batch, time, heads); memory
    (C, n, m) as in `mLSTMState`. Returns ((C, n, m), h (batch, time, heads, d)).
    """
    start_memory = tuple(jnp.zeros_like(leaf) for leaf in memory)

    def step(memory, step_inputs):
        q_t, k_t, v_t, i_t, log_f_t, start_t = step_inputs
        C, n, m = reset_carry(memory, start_memory, start_t)
        m_new = jnp.maximum(log_f_t + m, i_t)
        i_gate = jnp.exp(i_t - m_new)[..., None]
        f_gate = jnp.exp(log_f_t + m - m_new)[..., None]
        C = f_gate[..., None] * C + i_gate[..., None] * v_t[..., :, None] * k_t[..., None, :]
        n = f_gate * n + i_gate * k_t
        # max(|n q|, 1) in unscaled terms is max(|n' q|, exp(-m)) in scaled ones.
        denominator = jnp.maximum(jnp.abs(jnp.einsum("bhd,bhd->bh", n, q_t)), _read_floor(m_new))
        h = jnp.einsum("bhvk,bhk->bhv", C, q_t) / denominator[..., None]
        return (C, n, m_new), h

    memory, h = jax.lax.scan(step, memory, time_major((q, k, v, i_tilde, log_f, episode_start)))
    return memory, time_major(h)


def mlstm_chunkwise(q, k, v, i_tilde, log_f, episode_start, memory, chunk_size):
    """The same recurrence as `mlstm_sequential`, `chunk_size` steps at a time in parallel.

    Within a block, step s reaches step t >= s with log weight i~_s + sum_{s<u<=t} log f_u
    when no episode starts in (s, t], and the memory entering the block reaches t with
    m_in + sum_{u<=t} log f_u when none starts in [0, t]. After a start at r the memory
    entering r is the empty one with m = 0, which reaches t with sum_{r<=u<=t} log f_u;
    it holds nothing, but enters the max so that m_t is exactly the stabiliser of the
    step-by-step form. m_t is the max of all these log weights.

    A start cuts the block exactly, as the reset does in `mlstm_sequential`: the sums of
    log f are taken over (s, t] directly, not as differences of sums over the block
    (which cancel badly once large values precede the start), and everything from
    before the latest start is dropped with `where`, never multiplied by a zero weight,
    so values that overflowed there cannot turn into NaN after it.
    """
    batch, time, H, d = q.shape
    L = max(1, min(chunk_size, time))
    blocks = -(-time // L)
    pad = blocks * L - time
    # Padding steps leave the memory unchanged: f = 1 (log f = 0) and no input
    # (i~ = "minus infinity"), so the last block's end state is that of step time-1.
    padded = lambda x, value=0.0: jnp.pad(
        x, [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2), constant_values=value
    )
    in_blocks = lambda x: jnp.swapaxes(x.reshape((batch, blocks, L) + x.shape[2:]), 0, 1)
    xs = (
        in_blocks(padded(q)),
        in_blocks(padded(k)),
        in_blocks(padded(v)),
        in_blocks(padded(i_tilde, _MINUS_INFINITY)),
        in_blocks(padded(log_f)),
        in_blocks(padded(episode_start, False)),
    )
    steps = jnp.arange(L)
    causal = steps[None, :, None] >= steps[None, None, :]  # (1, t, s): s <= t
    after = (steps[:, None] > steps[None, :])[None, :, :, None]  # (1, u, s, 1): u > s

    def block(memory, block_inputs):
        C0, n0, m0 = memory
        q_b, k_b, v_b, i_b, log_f_b, start_b = block_inputs
        last_start = jax.lax.cummax(jnp.where(start_b, steps, -1), axis=1)  # (batch, L)
        fresh = (last_start >= 0)[..., None]  # (batch, L, 1): an episode started in the block by t
        visible = (causal & (steps[None, None, :] >= last_start[:, :, None]))[..., None]  # (batch, t, s, 1)
        # decay[t, s] = sum of log f over s < u <= t, each entry its own sum.
        decay = jnp.cumsum(jnp.where(after, log_f_b[:, :, None], 0.0), axis=1)  # (batch, t, s, H)
        at_start = jnp.clip(last_start, 0)[:, :, None]
        # log weight of the memory entering the block (or the empty one after a start)
        since_start = jnp.take_along_axis(decay, at_start[..., None], axis=2)[:, :, 0] + jnp.take_along_axis(
            log_f_b, at_start, axis=1
        )
        carry_log = jnp.where(fresh, since_start, m0[:, None] + jnp.cumsum(log_f_b, axis=1))
        log_weights = jnp.where(visible, i_b[:, None] + decay, -jnp.inf)  # (batch, t, s, H)
        m = jnp.maximum(carry_log, jnp.max(log_weights, axis=2))  # (batch, L, H)
        weights = jnp.exp(log_weights - m[:, :, None])
        scores = jnp.where(visible, weights * jnp.einsum("bthd,bshd->btsh", q_b, k_b), 0.0)
        # A zero score times a value that overflowed is still NaN: values are read with
        # the non-finite ones as 0, and a step that sees one of its own episode reads
        # NaN there, as it does in the step-by-step form.
        finite = jnp.isfinite(v_b)
        values = jnp.einsum("btsh,bshd->bthd", scores, jnp.where(finite, v_b, 0.0))
        seen = jnp.einsum("bts,bshd->bthd", visible[..., 0].astype(v_b.dtype), (~finite).astype(v_b.dtype))
        values = jnp.where(seen > 0, jnp.nan, values)
        # The entering memory counts only until the first start in the block.
        carry_weight = jnp.exp(carry_log - m)  # (batch, L, H)
        from_carry = lambda read, cut: jnp.where(cut, 0.0, read)
        numerator = values + from_carry(carry_weight[..., None] * jnp.einsum("bhvk,bthk->bthv", C0, q_b), fresh[..., None])
        normaliser = scores.sum(axis=2) + from_carry(carry_weight * jnp.einsum("bhd,bthd->bth", n0, q_b), fresh)
        denominator = jnp.maximum(jnp.abs(normaliser), _read_floor(m))
        h = numerator / denominator[..., None]
        # The memory after the block's last step, from the steps of its last episode.
        w_end, c_end, cut_end = weights[:, -1], carry_weight[:, -1], fresh[:, -1]  # (batch, s, H), (batch, H), (batch, 1)
        seen_end = visible[:, -1][..., None]  # (batch, s, 1, 1)
        k_end, v_end = jnp.where(seen_end, k_b, 0.0), jnp.where(seen_end, v_b, 0.0)
        C = jnp.einsum("bsh,bshv,bshk->bhvk", w_end, v_end, k_end) + from_carry(c_end[..., None, None] * C0, cut_end[..., None, None])
        n = jnp.einsum("bsh,bshk->bhk", w_end, k_end) + from_carry(c_end[..., None] * n0, cut_end[..., None])
        return (C, n, m[:, -1]), h

    memory, h = jax.lax.scan(block, memory, xs)
    h = jnp.swapaxes(h, 0, 1).reshape(batch, blocks * L, H, d)[:, :time]
    return memory, h


class mLSTM(SequenceModel):
    """mLSTM: a per-head matrix memory written with exponentially gated outer products
    v k^T and read with queries, q and k coming from a causal convolution.

    The input is projected to `hidden_dim` channels x; a depthwise causal convolution
    of width `conv_kernel` followed by SiLU gives x_conv. Per head (d = hidden_dim /
    num_heads): q = W_q x_conv, k = W_k x_conv / sqrt(d), v = W_v x, scalar gates
    i~, f~ from x, and the output gate o = sigmoid(W_o x). The output is o * h~,
    `hidden_dim` wide.

    `chunk_size=None` steps through time with `lax.scan`. An int runs the chunkwise
    parallel form: blocks of `chunk_size` steps are computed at once (attention-like,
    cost chunk_size^2 per block) and the memory is passed from block to block; the
    results agree with the step-by-step form up to float32 rounding.
    """

    def __init__(
        self, hidden_dim: int, num_heads: int = 4, conv_kernel: int = 4, chunk_size: int | None = None
    ):
        self.hidden_dim = positive_int(hidden_dim, "mLSTM", "hidden_dim")
        self.num_heads = positive_int(num_heads, "mLSTM", "num_heads")
        self.conv_kernel = positive_int(conv_kernel, "mLSTM", "conv_kernel")
        self.chunk_size = None if chunk_size is None else positive_int(chunk_size, "mLSTM", "chunk_size")
        _divisible(hidden_dim, num_heads, "mLSTM")
        self.head_dim = hidden_dim // num_heads
        self.input_proj = nnx.data(None)
        self.conv_weight = nnx.data(None)
        self.conv_bias = nnx.data(None)
        self.query = nnx.data(None)
        self.key = nnx.data(None)
        self.value = nnx.data(None)
        self.gates = nnx.data(None)
        self.output_gate = nnx.data(None)

    def describe(self) -> str:
        chunk = "" if self.chunk_size is None else f", chunk_size={self.chunk_size}"
        return f"mLSTM(hidden_dim={self.hidden_dim}, num_heads={self.num_heads}, conv_kernel={self.conv_kernel}{chunk})"

    def _build(self, context: BuildContext, input_shape):
        features = self.vector_width(input_shape)
        h, H, K = self.hidden_dim, self.num_heads, self.conv_kernel
        rngs = context.rngs
        self.input_proj = nnx.Linear(features, h, rngs=rngs)
        # Depthwise kernel, fan-in K per channel.
        self.conv_weight = nnx.Param(nnx.initializers.normal(1.0 / math.sqrt(K))(rngs.params(), (K, h)))
        self.conv_bias = nnx.Param(jnp.zeros((h,), jnp.float32))
        self.query = nnx.Linear(h, h, use_bias=False, rngs=rngs)
        self.key = nnx.Linear(h, h, use_bias=False, rngs=rngs)
        self.value = nnx.Linear(h, h, use_bias=False, rngs=rngs)
        # Output layout: H input-gate pre-activations, then H forget-gate ones.
        self.gates = nnx.Linear(h, 2 * H, rngs=rngs)
        self.gates.bias[...] = self.gates.bias[...].at[H:].set(_forget_bias(H))
        self.output_gate = nnx.Linear(h, h, rngs=rngs)
        return (h,)

    def initialize_carry(self, batch_size: int) -> mLSTMState:
        H, d = self.num_heads, self.head_dim
        # m = 0 is exact for an empty memory: the read-out divides by max(|n q|, exp(-m)),
        # which is 1 in unscaled terms whatever m is.
        return mLSTMState(
            conv=jnp.zeros((batch_size, self.conv_kernel - 1, self.hidden_dim), jnp.float32),
            C=jnp.zeros((batch_size, H, d, d), jnp.float32),
            n=jnp.zeros((batch_size, H, d), jnp.float32),
            m=jnp.zeros((batch_size, H), jnp.float32),
        )

    def __call__(self, inputs, episode_start, carry):
        """inputs (batch, time, features) -> (carry, (batch, time, hidden_dim))."""
        self.check_input(inputs, leading_axes=2)
        batch, time = inputs.shape[:2]
        H, d = self.num_heads, self.head_dim
        starts = jnp.asarray(episode_start).astype(bool)
        carry = mLSTMState(*(jnp.asarray(leaf, jnp.float32) for leaf in carry))

        x = self.input_proj(inputs).astype(jnp.float32)
        conv, conv_state = causal_depthwise_conv(
            x, carry.conv, starts, jnp.asarray(self.conv_weight[...], jnp.float32), self.conv_bias[...]
        )
        x_conv = jax.nn.silu(conv)
        heads = lambda y: y.reshape(batch, time, H, d)
        q = heads(self.query(x_conv))
        k = heads(self.key(x_conv)) / math.sqrt(d)
        v = heads(self.value(x))
        gates = self.gates(x)
        i_tilde, f_tilde = gates[..., :H], gates[..., H:]
        o = jax.nn.sigmoid(self.output_gate(x))

        log_f = jax.nn.log_sigmoid(f_tilde)
        memory = tuple(carry[1:])
        if self.chunk_size is None:
            (C, n, m), h = mlstm_sequential(q, k, v, i_tilde, log_f, starts, memory)
        else:
            (C, n, m), h = mlstm_chunkwise(q, k, v, i_tilde, log_f, starts, memory, self.chunk_size)
        outputs = o * h.reshape(batch, time, H * d)
        return mLSTMState(conv_state, C, n, m), outputs.astype(inputs.dtype)


__all__ = [
    "mLSTM",
    "mLSTMState",
    "mlstm_chunkwise",
    "mlstm_sequential",
    "sLSTM",
    "sLSTMState",
]
