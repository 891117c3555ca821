"""Plain torch modules behind the skae estimators.

Nothing here imports scikit-learn or skorch. Every module's ``forward``
returns an :class:`AutoencoderOutput` and offers ``encode`` and ``decode``.
"""

from ._dense import DenseAutoencoderModule, LinearAutoencoderModule
from ._layers import ACTIVATIONS, GaussianNoise, make_activation, make_corruption
from ._losses import ReconstructionLoss, reconstruction_error
from ._output import AutoencoderOutput

__all__ = [
    "ACTIVATIONS",
    "AutoencoderOutput",
    "DenseAutoencoderModule",
    "GaussianNoise",
    "LinearAutoencoderModule",
    "ReconstructionLoss",
    "make_activation",
    "make_corruption",
    "reconstruction_error",
]
