"""Every torso the law tests check: name -> factory(width, hidden) -> module.

`width` is the input feature width, `hidden` a size the model may use freely. Register
each new sequence model here (with and without blocks where that matters); the law,
long-sequence and transform tests in test_sequence_laws.py then cover it.
"""

from flax import nnx

from memorax.networks import RNN, SequenceModelWrapper
from memorax.networks.blocks import FFN, PostNorm, PreNorm, Residual, Stack
from memorax.networks.sequence_models.attention import SelfAttention
from memorax.networks.sequence_models.ffm import FFM
from memorax.networks.sequence_models.linear_attention import LinearAttention
from memorax.networks.sequence_models.lru import LRU
from memorax.networks.sequence_models.mamba import Mamba
from memorax.networks.sequence_models.mingru import MinGRU
from memorax.networks.sequence_models.s5 import S5
from memorax.networks.sequence_models.xlstm import mLSTM, sLSTM


def rnn(cell):
    return lambda width, hidden: RNN(cell(width, hidden, rngs=nnx.Rngs(0)))


def transformer_like_stack(width, hidden):
    gru = rnn(nnx.GRUCell)
    return Stack(
        blocks=[
            PreNorm(Residual(gru(width, width))),
            PreNorm(Residual(FFN(hidden_dim=2 * width))),
            Residual(PreNorm(gru(width, width))),
            PostNorm(rnn(nnx.LSTMCell)(width, hidden)),
        ]
    )


MODELS = {
    "lstm": rnn(nnx.LSTMCell),
    "optimized_lstm": rnn(nnx.OptimizedLSTMCell),
    "gru": rnn(nnx.GRUCell),
    "simple_rnn": rnn(nnx.SimpleCell),
    "gru_from_class": lambda width, hidden: RNN(nnx.GRUCell, features=hidden),
    "block_stack": transformer_like_stack,
    "wrapped_block_stack": lambda width, hidden: SequenceModelWrapper(transformer_like_stack(width, hidden)),
    "attention_rope": lambda width, hidden: SelfAttention(num_heads=2, head_dim=3, context_length=4),
    "attention_alibi": lambda width, hidden: SelfAttention(
        num_heads=2, head_dim=3, context_length=4, positional_encoding="alibi"
    ),
    "attention_learned": lambda width, hidden: SelfAttention(
        num_heads=2, head_dim=3, context_length=4, positional_encoding="learned"
    ),
    "attention_none": lambda width, hidden: SelfAttention(
        num_heads=2, head_dim=3, context_length=4, positional_encoding="none"
    ),
    "transformer": lambda width, hidden: Stack(
        blocks=[
            PreNorm(Residual(SelfAttention(num_heads=2, head_dim=3, context_length=4))),
            PreNorm(Residual(FFN(hidden_dim=8))),
        ]
    ),
    "lru": lambda width, hidden: LRU(hidden_dim=hidden),
    "lru_small_state": lambda width, hidden: LRU(hidden_dim=width, state_dim=hidden, r_min=0.9, r_max=0.999),
    "s5": lambda width, hidden: S5(hidden_dim=hidden, state_dim=4),
    "mingru": lambda width, hidden: MinGRU(hidden_dim=hidden),
    "s5_block": lambda width, hidden: Stack(blocks=[PreNorm(Residual(S5(hidden_dim=width, state_dim=4)))]),
    "lru_mingru_block": lambda width, hidden: Stack(
        blocks=[Residual(PreNorm(LRU(hidden_dim=width))), PreNorm(Residual(MinGRU(hidden_dim=width)))]
    ),
    "mamba": lambda width, hidden: Mamba(hidden_dim=hidden, state_dim=3, conv_kernel=3),
    "mamba_block": lambda width, hidden: Stack(
        blocks=[PreNorm(Residual(Mamba(hidden_dim=width, state_dim=2, conv_kernel=4, expand=1)))]
    ),
    # FFM ends in a LayerNorm over its outputs; over 2 or 3 features that is so
    # ill-conditioned that float rounding alone can exceed the laws' 1e-5 tolerance.
    "ffm": lambda width, hidden: FFM(hidden_dim=hidden + 3, memory_dim=4, context_dim=3),
    "linear_attention": lambda width, hidden: LinearAttention(num_heads=2, head_dim=3),
    "linear_attention_ffm_stack": lambda width, hidden: Stack(
        blocks=[
            PreNorm(Residual(LinearAttention(num_heads=2, head_dim=3))),
            FFM(hidden_dim=hidden + 3, memory_dim=3, context_dim=2),
        ]
    ),
    "slstm": lambda width, hidden: sLSTM(hidden_dim=4, num_heads=2),
    "mlstm": lambda width, hidden: mLSTM(hidden_dim=4, num_heads=2, conv_kernel=3),
    "mlstm_chunkwise": lambda width, hidden: mLSTM(hidden_dim=4, num_heads=2, conv_kernel=3, chunk_size=3),
    "xlstm_block": lambda width, hidden: Stack(
        blocks=[
            PreNorm(Residual(mLSTM(hidden_dim=width, num_heads=1, conv_kernel=2))),
            Residual(PreNorm(sLSTM(hidden_dim=width, num_heads=1))),
        ]
    ),
    # --- issue 3 models: add entries above this line ---
}
