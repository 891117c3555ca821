"""Plain torch modules behind the skae estimators.

Nothing here imports scikit-learn or skorch.

**The autoencoder module contract.** Every autoencoder module
(:class:`DenseAutoencoderModule`, :class:`LinearAutoencoderModule`,
:class:`VariationalAutoencoderModule`, :class:`ConvolutionalAutoencoderModule`,
:class:`RecurrentAutoencoderModule`, and :class:`ComposedAutoencoderModule`,
which holds a user's own encoder and decoder) offers the surface below. Code that takes
any autoencoder module (the estimators' shared inference, the net,
:class:`EncoderClassifierModule`) reads nothing else; an estimator may also
read the documented extras of the one module it builds.

``n_features`` : int
    Width of an input row. Inputs are always flat, (n_samples, n_features),
    whatever structure (image, sequence) the module reads into a row.
``n_components`` : int
    Width of a code.
``encode(x)``
    (n_samples, n_features) -> (n_samples, n_components). Deterministic in
    eval mode; never corrupts its input (a VAE returns the mean coding).
``decode(z)``
    (n_samples, n_components) -> (n_samples, n_features).
``forward(x)``
    An :class:`AutoencoderOutput`: ``reconstruction`` (the shape of x),
    ``code`` and ``extras`` (the tensors a family's loss terms read). Input
    corruption, if any, is applied here, in training mode only.
``graph_capturable`` : bool, optional
    True when a training step (forward, loss, backward, a capturable Adam
    step) can be captured in a CUDA graph and replayed; modules without it
    are trained with eager steps.

:class:`DenseAutoencoderModule` (and its subclasses) adds what greedy
layer-wise pretraining needs: ``layer_sizes``, ``make_stage(depth)`` (a
fresh one-layer autoencoder standing for one layer of the stack) and
``load_stage(depth, stage)`` (copy a trained stage in).
:class:`LinearAutoencoderModule` adds the ``mean`` buffer and
``decoder_weight()``, which :class:`~skae.LinearAutoencoder` reads.
"""

from ._classifier import EncoderClassifierModule
from ._composed import ComposedAutoencoderModule, ComposedVariationalAutoencoderModule, dense_stack
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
from ._outlier import EnsembleScore
from ._output import AutoencoderOutput
from ._random import Dropout, randn_like, training_generator
from ._recurrent import CELLS, RecurrentAutoencoderModule
from ._umap import ParametricUMAPModule
from ._variational import VariationalAutoencoderModule

__all__ = [
    "ACTIVATIONS",
    "AutoencoderOutput",
    "CELLS",
    "ComposedAutoencoderModule",
    "ComposedVariationalAutoencoderModule",
    "ConvolutionalAutoencoderModule",
    "DenseAutoencoderModule",
    "Dropout",
    "EncoderClassifierModule",
    "EnsembleScore",
    "GaussianNoise",
    "LinearAutoencoderModule",
    "ReconstructionLoss",
    "ParametricUMAPModule",
    "RecurrentAutoencoderModule",
    "VariationalAutoencoderModule",
    "gaussian_kl",
    "kl_sparsity",
    "l1_activity",
    "make_activation",
    "make_corruption",
    "randn_like",
    "reconstruction_error",
    "training_generator",
    "dense_stack",
]
