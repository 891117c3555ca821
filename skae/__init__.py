"""skae: autoencoders as scikit-learn transformers, trained by skorch."""

from ._dense import Autoencoder
from ._linear import LinearAutoencoder

__all__ = ["Autoencoder", "LinearAutoencoder"]
__version__ = "0.1.0"
