"""The dense variational autoencoder module."""

from torch import nn

from ._dense import DenseAutoencoderModule
from ._output import AutoencoderOutput
from ._random import randn_like

# exp(log_var) overflows float32 beyond ~88; far inside that, a code's
# variance is already meaningless, so clamping costs nothing and keeps the
# loss finite.
_LOG_VAR_RANGE = (-30.0, 20.0)


def clamp_log_var(log_var):
    """The log-variance head's output, kept where its exponential is finite."""
    return log_var.clamp(*_LOG_VAR_RANGE)


class GaussianCodings:
    """``encode`` and ``forward`` of a module whose ``encode_distribution`` gives (mean, log_var).

    In training mode ``forward`` decodes a reparameterised draw
    ``mean + exp(log_var / 2) * eps``; in eval mode it decodes the mean.
    ``encode`` always returns the mean. Mixed in before an autoencoder module.
    """

    def encode(self, x):
        return self.encode_distribution(x)[0]

    def forward(self, x):
        mean, log_var = self.encode_distribution(self.corruption(x))
        code = mean
        if self.training:
            code = mean + (0.5 * log_var).exp() * randn_like(mean)
        return AutoencoderOutput(self.decode(code), code, {"mean": mean, "log_var": log_var})


class VariationalAutoencoderModule(GaussianCodings, DenseAutoencoderModule):
    """Dense VAE: the encoder outputs the mean and log-variance of the codings.

    The coding layer of the parent is the mean head; a second head of the
    same shape gives ``log_var`` (gamma = log sigma^2, the stable
    parametrisation). In training mode ``forward`` decodes a reparameterised
    draw ``mean + exp(log_var / 2) * eps``; in eval mode it decodes the mean.
    ``encode`` always returns the mean.
    """

    def __init__(self, n_features, n_components, hidden_layer_sizes=(), **kwargs):
        super().__init__(n_features, n_components, hidden_layer_sizes, **kwargs)
        last_hidden = hidden_layer_sizes[-1] if hidden_layer_sizes else n_features
        self.log_var_head = nn.Linear(last_hidden, n_components)

    def encode_distribution(self, x):
        hidden = self.encode_hidden(x)
        mean = self.encoder_layers[-1](hidden)
        log_var = clamp_log_var(self.log_var_head(hidden))
        return mean, log_var
