"""Every torso the law tests check: name -> factory(width, hidden) -> module.

`width` is the input feature width, `hidden` a size the model may use freely. Register
each new sequence model here (with and without blocks where that matters); the law,
long-sequence and transform tests in test_sequence_laws.py then cover it.
"""

from flax import nnx

from memorax.networks import RNN, SequenceModelWrapper
from memorax.networks.blocks import FFN, PostNorm, PreNorm, Residual, Stack
from memorax.networks.sequence_models.attention import SelfAttention
from memorax.networks.sequence_models.lru import LRU
from memorax.networks.sequence_models.mingru import MinGRU
from memorax.networks.sequence_models.s5 import S5


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
    # --- issue 3 models: add entries above this line ---
}
