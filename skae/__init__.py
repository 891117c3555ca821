"""skae: autoencoders as scikit-learn transformers, trained by skorch."""

from ._classifier import AutoencoderClassifier
from ._dense import Autoencoder
from ._denoising import DenoisingAutoencoder
from ._linear import LinearAutoencoder
from ._sparse import SparseAutoencoder
from ._variational import VariationalAutoencoder

__all__ = [
    "Autoencoder",
    "AutoencoderClassifier",
    "DenoisingAutoencoder",
    "LinearAutoencoder",
    "SparseAutoencoder",
    "VariationalAutoencoder",
]
__version__ = "0.1.0"
