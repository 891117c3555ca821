"""Dense (fully connected) autoencoder modules."""

from itertools import pairwise

import torch
from torch import nn
from torch.nn import functional as F

from ._layers import make_activation
from ._output import AutoencoderOutput


class DenseAutoencoderModule(nn.Module):
    """A symmetric dense autoencoder, optionally with tied weights.

    The encoder maps ``n_features -> *hidden_layer_sizes -> n_components``;
    the decoder mirrors it. With ``tied_weights=True`` each decoder layer
    uses the transposed weight matrix of its mirror encoder layer and keeps
    only a bias of its own.

    Parameters
    ----------
    n_features : int
    n_components : int
    hidden_layer_sizes : tuple of int, default=()
    activation : str, default="relu"
        Activation after every hidden layer, in encoder and decoder.
    code_activation : str, default="identity"
        Activation of the coding layer.
    output_activation : str, default="identity"
    tied_weights : bool, default=False
    bias : bool, default=True
    corruption : nn.Module or None, default=None
        Applied to the input of :meth:`forward` only (denoising); it must
        be a no-op in eval mode.
    """

    def __init__(
        self,
        n_features,
        n_components,
        hidden_layer_sizes=(),
        *,
        activation="relu",
        code_activation="identity",
        output_activation="identity",
        tied_weights=False,
        bias=True,
        corruption=None,
    ):
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes, n_components]
        self.tied_weights = tied_weights
        self.encoder_layers = nn.ModuleList(
            nn.Linear(n_in, n_out, bias=bias) for n_in, n_out in pairwise(sizes)
        )
        mirrored = list(pairwise(reversed(sizes)))
        if tied_weights:
            self.decoder_biases = nn.ParameterList(
                nn.Parameter(torch.zeros(n_out)) if bias else None
                for _, n_out in mirrored
            )
        else:
            self.decoder_layers = nn.ModuleList(
                nn.Linear(n_in, n_out, bias=bias) for n_in, n_out in mirrored
            )
        self.hidden_activation = make_activation(activation)
        self.code_activation = make_activation(code_activation)
        self.output_activation = make_activation(output_activation)
        self.corruption = corruption if corruption is not None else nn.Identity()

    def encode_hidden(self, x):
        """The last hidden layer's activations (x itself with no hidden layer)."""
        # Indexing, not slicing: a ModuleList slice builds a new ModuleList.
        for depth in range(len(self.encoder_layers) - 1):
            x = self.hidden_activation(self.encoder_layers[depth](x))
        return x

    def encode(self, x):
        return self.code_activation(self.encoder_layers[-1](self.encode_hidden(x)))

    def _decoder_linear(self, depth, x):
        if not self.tied_weights:
            return self.decoder_layers[depth](x)
        mirror = self.encoder_layers[len(self.encoder_layers) - 1 - depth]
        return F.linear(x, mirror.weight.t(), self.decoder_biases[depth])

    def decode(self, z):
        last = len(self.encoder_layers) - 1
        for depth in range(last + 1):
            z = self._decoder_linear(depth, z)
            z = self.output_activation(z) if depth == last else self.hidden_activation(z)
        return z

    def forward(self, x):
        code = self.encode(self.corruption(x))
        return AutoencoderOutput(self.decode(code), code)


class LinearAutoencoderModule(DenseAutoencoderModule):
    """An undercomplete linear autoencoder on centred data.

    No biases and no activations: the encoder is ``W_e (x - mean)`` and the
    decoder ``W_d z + mean``. Minimising the squared error makes the column
    space of ``W_d`` the principal subspace. ``mean`` is a buffer set from
    the data, not a learned parameter, as PCA's ``mean_`` is.
    """

    def __init__(self, n_features, n_components, *, tied_weights=False):
        super().__init__(
            n_features,
            n_components,
            activation="identity",
            tied_weights=tied_weights,
            bias=False,
        )
        self.register_buffer("mean", torch.zeros(n_features))

    def encode(self, x):
        return super().encode(x - self.mean)

    def decode(self, z):
        return super().decode(z) + self.mean

    def decoder_weight(self):
        """The (n_features, n_components) matrix that maps codes to inputs."""
        if self.tied_weights:
            return self.encoder_layers[0].weight.t()
        return self.decoder_layers[0].weight
