"""Small building blocks shared by the autoencoder modules."""

from torch import nn

from ._random import Dropout, randn_like

ACTIVATIONS = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


def make_activation(name):
    """Return a fresh activation module for one of :data:`ACTIVATIONS`."""
    return ACTIVATIONS[name]()


class GaussianNoise(nn.Module):
    """Add ``std`` * N(0, 1) noise to the input in training mode only."""

    def __init__(self, std):
        super().__init__()
        self.std = std

    def forward(self, x):
        if not self.training or self.std == 0:
            return x
        return x + self.std * randn_like(x)

    def extra_repr(self):
        return f"std={self.std}"


def make_corruption(noise, noise_level):
    """Input corruption applied in training mode only (denoising)."""
    if noise is None or noise_level == 0:
        return nn.Identity()
    if noise == "gaussian":
        return GaussianNoise(noise_level)
    if not 0 <= noise_level < 1:
        raise ValueError(
            "noise_level is the dropout probability with noise='dropout' and must be "
            f"below 1; got noise_level={noise_level}."
        )
    return Dropout(noise_level)
