"""LinearAutoencoder: the gradient-trained counterpart of PCA."""

import numpy as np
import torch
from sklearn.utils.extmath import svd_flip

from ._base import BaseAutoencoder
from .nn import LinearAutoencoderModule


# Rows per block when a statistic is accumulated over the data: bounds the
# temporary memory whatever the number of rows.
_STATISTICS_CHUNK = 8192


def _mean_variance(X, mean):
    """Per-feature variance of X around ``mean``, averaged over features."""
    total = 0.0
    for start in range(0, len(X), _STATISTICS_CHUNK):
        deviation = X[start : start + _STATISTICS_CHUNK] - mean
        total += float(np.einsum("ij,ij->", deviation, deviation))
    return total / X.size


class LinearAutoencoder(BaseAutoencoder):
    """Undercomplete linear autoencoder trained by gradient descent.

    The encoder and decoder are linear maps on centred data and the loss is
    the mean squared reconstruction error, whose minimisers span the
    principal subspace: the fitted model reconstructs as well as
    ``PCA(n_components)`` (the Eckart–Young bound) without ever computing
    an SVD of the data. It is a drop-in for :class:`~sklearn.decomposition.PCA`
    in pipelines and grids, and the starting point of the nonlinear
    autoencoders, which share its interface.

    The codes are the encoder's outputs; unlike PCA's scores they are not
    orthogonal projections, but the subspace they span is PCA's.
    ``components_`` gives an orthonormal basis of it.

    Parameters
    ----------
    n_components : int, default=2
        Size of the coding layer; at most ``n_features``.
    tied_weights : bool, default=False
        Use the transposed encoder matrix as the decoder matrix.
    optimizer : {"adam", "sgd", "rmsprop", "adadelta"} or torch.optim.Optimizer class, default="adam"
        "adam" uses the fused implementation; "sgd" uses momentum 0.9.
    learning_rate : float, default=0.01
        Initial learning rate.
    learning_rate_schedule : {"constant", "cosine"}, default="cosine"
        "cosine" anneals the rate to zero over ``max_epochs`` in :meth:`fit`
        and trains for all of them unless ``early_stopping`` stops it; with it
        the default settings reach PCA's error within 1 % on digits.
    batch_size : int, default=64
        Rows per gradient step.
    max_epochs : int, default=100
        Maximum number of passes over the data in :meth:`fit`.
    weight_decay : float, default=0.0
        L2 penalty added by the optimizer.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when their loss
        stops improving; the best weights are restored.
    validation_fraction : float, default=0.1
        Share of the training rows held out when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping
        (the training loss is not watched under a cosine schedule).
    tol : float, default=1e-4
        Relative improvement of the monitored loss (training loss, or
        validation loss with early stopping) that counts as progress. It is
        relative so that one default suits data of any scale.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the shuffling and the validation split.
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device, default="auto"
        Where to train and infer; "auto" picks CUDA when available.
    verbose : int, default=0
        0 is silent; 1 prints a line per epoch and shows a progress bar for
        epochs of at least 100 batches.
    callbacks : list of skorch callbacks or (name, callback) pairs, default=None
        Extra skorch callbacks, passed to the net as they are.
    precision : {"float32", "tf32", "bfloat16"}, default="float32"
        Arithmetic of training on CUDA: "tf32" lets float32 matrix products
        round their operands to TF32, "bfloat16" runs the forward pass and
        the loss under bf16 autocast (weights, gradients and optimizer state
        stay float32). Both are several times faster on recent GPUs and
        reach about the same error, but change the results in the last
        digits, so float32 is the default. Ignored on the CPU, which always
        trains in float32; inference always runs in the input's dtype.
    warm_start : bool, default=False
        Continue from the current weights on the next :meth:`fit`.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Orthonormal basis of the learned subspace (the decoder's column
        space), ordered by the decoder's singular values.
    mean_ : ndarray of shape (n_features,)
        Per-feature mean of the training data.
    n_samples_seen_ : int
        Rows the mean has been computed from.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when X has string column names.
    n_iter_ : int
        Epochs trained.
    loss_curve_ : list of float
        Training loss per epoch: the mean squared error divided by the
        training data's mean per-feature variance, i.e. the fraction of the
        variance left unexplained (PCA's ``1 - explained_variance_ratio_.sum()``
        is its floor).
    validation_scores_ : list of float
        Minus the validation loss per epoch (only with ``early_stopping``).
    history_ : skorch.History
        Everything recorded during training.
    net_ : skorch.NeuralNet
        The fitted skorch net.
    module_ : torch.nn.Module
        The fitted torch module.

    See Also
    --------
    sklearn.decomposition.PCA : The closed-form solution for the same subspace.
    Autoencoder : A deep, nonlinear autoencoder with the same interface.

    Notes
    -----
    The data are centred with ``mean_`` and the maps carry no bias, as in
    PCA. The squared-error landscape of a linear autoencoder has no spurious
    local minima (Baldi & Hornik, 1989), but its small directions converge
    slowly; an annealed learning rate finishes the job in a few dozen epochs.

    References
    ----------
    P. Baldi and K. Hornik, "Neural networks and principal component
    analysis: learning from examples without local minima", Neural
    Networks 2(1), 1989.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import LinearAutoencoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> ae = LinearAutoencoder(n_components=8, max_epochs=5, random_state=0)
    >>> ae.fit_transform(X).shape
    (1797, 8)
    >>> ae.components_.shape
    (8, 64)
    >>> ae.inverse_transform(ae.transform(X[:3])).shape
    (3, 64)
    """

    def __init__(
        self,
        n_components=2,
        *,
        tied_weights=False,
        optimizer="adam",
        learning_rate=0.01,
        learning_rate_schedule="cosine",
        batch_size=64,
        max_epochs=100,
        weight_decay=0.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=None,
        device="auto",
        verbose=0,
        callbacks=None,
        precision="float32",
        warm_start=False,
    ):
        self.n_components = n_components
        self.tied_weights = tied_weights
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.callbacks = callbacks
        self.precision = precision
        self.warm_start = warm_start

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "tied_weights": ["boolean"],
    }

    def _check_scale(self, X):
        """Nothing to check: the loss is divided by the data's variance."""

    def _check_params(self, X):
        n_samples, n_features = X.shape
        if self.n_components > min(n_samples, n_features):
            # As PCA: k components of n rows span at most min(n, p) dimensions.
            raise ValueError(
                f"n_components={self.n_components} must be between 1 and "
                f"min(n_samples, n_features)={min(n_samples, n_features)} for a linear "
                f"autoencoder; got n_samples={n_samples}, n_features={n_features}."
            )

    def _build_module(self, n_features):
        return LinearAutoencoderModule(
            n_features, self.n_components, tied_weights=self.tied_weights
        )

    def _prepare_module(self, module, X, *, resume, streaming):
        # partial_fit keeps a running mean, as IncrementalPCA does; fit means
        # this data, warm start or not.
        running = resume and streaming
        n_seen = self.n_samples_seen_ if running else 0
        previous = self.mean_ if running else 0.0
        total = n_seen + len(X)
        self.mean_ = (previous * n_seen + X.sum(axis=0, dtype=np.float64)) / total
        self.n_samples_seen_ = total
        with torch.no_grad():
            module.mean.copy_(torch.as_tensor(self.mean_))

    def _reconstruction_weight(self, X, *, resume, streaming):
        # The squared error is divided by the data's mean variance: the loss
        # is then the fraction of variance left unexplained, and its
        # gradients do not shrink or grow with the data's scale. Without
        # this, Adam's epsilon swamps the steps on data scaled by 1e-6. The
        # codes are unaffected: they scale with the data, as PCA's do.
        if resume and streaming:
            return None
        variance = _mean_variance(X, self.mean_)
        return 1.0 / variance if variance > 0 else 1.0

    def _set_fitted_attributes(self, net):
        super()._set_fitted_attributes(net)
        with torch.no_grad():
            decoder = self.module_.decoder_weight().double().cpu().numpy()
        U, _, Vt = np.linalg.svd(decoder, full_matrices=False)
        U, _ = svd_flip(U, Vt, u_based_decision=False)
        self.components_ = U.T
