"""skae: autoencoders as scikit-learn transformers, trained by skorch."""

from .extend import data_parallel
from ._classifier import AutoencoderClassifier
from ._convolutional import ConvolutionalAutoencoder
from ._dense import Autoencoder
from ._denoising import DenoisingAutoencoder
from ._linear import LinearAutoencoder
from ._outlier import AutoencoderOutlierDetector
from ._persistence import load, save
from ._recurrent import RecurrentAutoencoder
from ._sparse import SparseAutoencoder
from ._tsne import ParametricTSNE
from ._umap import ParametricUMAP
from ._variational import VariationalAutoencoder
from .exceptions import (
    DataScaleWarning,
    TrainingDivergedError,
    TrainingInterrupted,
    TrainingInterruptedWarning,
)

__all__ = [
    "Autoencoder",
    "AutoencoderClassifier",
    "AutoencoderOutlierDetector",
    "ConvolutionalAutoencoder",
    "DenoisingAutoencoder",
    "LinearAutoencoder",
    "ParametricTSNE",
    "ParametricUMAP",
    "RecurrentAutoencoder",
    "SparseAutoencoder",
    "VariationalAutoencoder",
    "data_parallel",
    "load",
    "save",
    "DataScaleWarning",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "TrainingInterruptedWarning",
]
__version__ = "0.1.0"
