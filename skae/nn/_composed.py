"""Autoencoders made of any encoder and decoder: a user's own networks."""

from itertools import pairwise

from torch import nn

from ._layers import make_activation
from ._output import AutoencoderOutput
from ._variational import GaussianCodings, clamp_log_var


class _DenseStack(nn.Sequential):
    """Linear layers and activations: nothing a captured CUDA graph cannot replay."""

    graph_capturable = True


def dense_stack(sizes, activation, last_activation="identity"):
    """``Linear`` layers through ``sizes``, ``activation`` between them, ``last_activation`` last.

    The encoder or decoder half of a dense autoencoder, as one module, for
    a composed autoencoder whose other half is a user's network.
    """
    layers = []
    last = len(sizes) - 2
    for depth, (n_in, n_out) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        name = last_activation if depth == last else activation
        if name != "identity":
            layers.append(make_activation(name))
    return _DenseStack(*layers)


def _declares_capturable(module):
    return bool(getattr(module, "graph_capturable", False))


class ComposedAutoencoderModule(nn.Module):
    """An autoencoder whose encoder and decoder are any two torch modules.

    ``encode`` is ``code_activation(encoder(x))``, ``decode`` is
    ``output_activation(decoder(z))``; the input corruption, when there is one, is applied by
    ``forward`` in training mode only. It offers the autoencoder module
    contract of :mod:`skae.nn` for networks skae did not build.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps (n_samples, n_features) to (n_samples, n_components).
    decoder : torch.nn.Module
        Maps (n_samples, n_components) to (n_samples, n_features).
    n_features : int
    n_components : int
    code_activation : str, default="identity"
        Activation applied to the encoder's output (a sparse autoencoder's
        codes, for instance, need a range).
    output_activation : str, default="identity"
        Activation applied to the decoder's output ("sigmoid" keeps the
        reconstructions in [0, 1]).
    corruption : nn.Module or None, default=None
        Applied to the input of :meth:`forward` only; a no-op in eval mode.

    Attributes
    ----------
    graph_capturable : bool
        True when both the encoder and the decoder declare
        ``graph_capturable = True``: only their authors know that a step
        through them can be captured in a CUDA graph.
    """

    def __init__(self, encoder, decoder, n_features, n_components, *,
                 code_activation="identity", output_activation="identity", corruption=None):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.n_features = n_features
        self.n_components = n_components
        self.code_activation = make_activation(code_activation)
        self.output_activation = make_activation(output_activation)
        self.corruption = corruption if corruption is not None else nn.Identity()

    @property
    def graph_capturable(self):
        return _declares_capturable(self.encoder) and _declares_capturable(self.decoder)

    def encode(self, x):
        return self.code_activation(self.encoder(x))

    def decode(self, z):
        return self.output_activation(self.decoder(z))

    def forward(self, x):
        code = self.encode(self.corruption(x))
        return AutoencoderOutput(self.decode(code), code)


class ComposedVariationalAutoencoderModule(GaussianCodings, ComposedAutoencoderModule):
    """A variational autoencoder on any encoder and decoder.

    Two linear heads of width ``n_components`` read the encoder's output:
    the mean and the log-variance of the codings. In training mode
    ``forward`` decodes a reparameterised draw, in eval mode the mean;
    ``encode`` always returns the mean.
    """

    def __init__(self, encoder, decoder, n_features, n_components, *,
                 output_activation="identity", corruption=None):
        super().__init__(encoder, decoder, n_features, n_components,
                         output_activation=output_activation, corruption=corruption)
        self.mean_head = nn.Linear(n_components, n_components)
        self.log_var_head = nn.Linear(n_components, n_components)

    def encode_distribution(self, x):
        features = self.encoder(x)
        return self.mean_head(features), clamp_log_var(self.log_var_head(features))
