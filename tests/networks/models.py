"""Every torso the law tests check: name -> factory(width, hidden) -> module.

`width` is the input feature width, `hidden` a size the model may use freely. Register
each new sequence model here (with and without blocks where that matters); the law,
long-sequence and transform tests in test_sequence_laws.py then cover it.
"""

from flax import nnx

from memorax.networks import RNN, SequenceModelWrapper
from memorax.networks.blocks import FFN, PostNorm, PreNorm, Residual, Stack


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
    # --- issue 3 models: add entries above this line ---
}
