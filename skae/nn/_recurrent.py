"""The recurrent (sequence-to-sequence) autoencoder module."""

from torch import nn

from ._layers import make_activation
from ._output import AutoencoderOutput

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentAutoencoderModule(nn.Module):
    """Sequence-to-vector encoder, vector-to-sequence decoder.

    The encoder RNN reads the (T, F) sequence; its final hidden state goes
    through a dense layer to the coding. The decoder repeats the coding at
    each of the T steps as the input of a second RNN, whose outputs a
    per-step dense layer maps back to F features.

    Inputs and reconstructions are flat, (n, T*F), like every skae module.

    Attributes
    ----------
    n_features : int
        Width of the input rows, T*F.
    n_components : int
        Width of the codes.
    sequence_shape : tuple (T, F)
        How a row is read as a sequence.
    """

    def __init__(
        self,
        sequence_shape,
        n_components,
        *,
        cell="lstm",
        hidden_size=64,
        output_activation="identity",
        corruption=None,
    ):
        super().__init__()
        self.sequence_shape = tuple(sequence_shape)
        n_steps, step_features = self.sequence_shape
        self.n_features = n_steps * step_features
        self.n_components = n_components
        self.encoder_rnn = CELLS[cell](step_features, hidden_size, batch_first=True)
        self.to_code = nn.Linear(hidden_size, n_components)
        self.decoder_rnn = CELLS[cell](n_components, hidden_size, batch_first=True)
        self.to_features = nn.Linear(hidden_size, step_features)
        self.output_activation = make_activation(output_activation)
        self.corruption = corruption if corruption is not None else nn.Identity()

    def encode(self, x):
        # -1, not len(x): an exported graph must take any number of rows.
        sequences = x.reshape(-1, *self.sequence_shape)
        _, state = self.encoder_rnn(sequences)
        final_hidden = state[0] if isinstance(state, tuple) else state
        return self.to_code(final_hidden[-1])

    def decode(self, z):
        repeated = z.unsqueeze(1).expand(-1, self.sequence_shape[0], -1)
        outputs, _ = self.decoder_rnn(repeated)
        return self.output_activation(self.to_features(outputs)).flatten(1)

    def forward(self, x):
        code = self.encode(self.corruption(x))
        return AutoencoderOutput(self.decode(code), code)
