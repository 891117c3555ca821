"""Plain torch modules behind the skae estimators.

Nothing here imports scikit-learn or skorch. Every module's ``forward``
returns an :class:`AutoencoderOutput` and offers ``encode`` and ``decode``.
"""

from ._classifier import EncoderClassifierModule
from ._convolutional import ConvolutionalAutoencoderModule
from ._dense import DenseAutoencoderModule, LinearAutoencoderModule
from ._layers import ACTIVATIONS, GaussianNoise, make_activation, make_corruption
from ._losses import (
    ReconstructionLoss,
    gaussian_kl,
    kl_sparsity,
    l1_activity,
    reconstruction_error,
)
from ._output import AutoencoderOutput
from ._recurrent import CELLS, RecurrentAutoencoderModule
from ._variational import VariationalAutoencoderModule

__all__ = [
    "ACTIVATIONS",
    "AutoencoderOutput",
    "CELLS",
    "ConvolutionalAutoencoderModule",
    "DenseAutoencoderModule",
    "EncoderClassifierModule",
    "GaussianNoise",
    "LinearAutoencoderModule",
    "ReconstructionLoss",
    "RecurrentAutoencoderModule",
    "VariationalAutoencoderModule",
    "gaussian_kl",
    "kl_sparsity",
    "l1_activity",
    "make_activation",
    "make_corruption",
    "reconstruction_error",
]
