"""LinearAutoencoder: the gradient-trained counterpart of PCA."""

from numbers import Integral

import numpy as np
import torch

from ._array_api import host_array, numpy_dtype
from .extend import BaseAutoencoder
from ._compat import Interval, StrOptions
from .extend import dense_block
from .extend import TrainingSpec
from .nn import LinearAutoencoderModule


# max_epochs="auto": as many epochs as before for data of a few thousand
# rows, but never fewer than this many gradient steps. The small
# directions of the subspace converge per step, not per epoch: on 150 iris
# rows 100 epochs (300 steps) leave 4x PCA's error at k = 3; 3000 steps
# reach it within 0.1 %, on 15 wide rows too.
_AUTO_EPOCHS = 100
_AUTO_MIN_STEPS = 3000

# Rows per block when a statistic is accumulated over the data: bounds the
# temporary memory whatever the number of rows.
_STATISTICS_CHUNK = 8192


class LinearAutoencoder(BaseAutoencoder):
    """Undercomplete linear autoencoder trained by gradient descent.

    The encoder and decoder are linear maps on centred data and the loss is
    the mean squared reconstruction error, whose minimisers span the
    principal subspace: the fitted model reconstructs as well as
    ``PCA(n_components)`` (the Eckart–Young bound) without ever computing
    an SVD of the data. It is a drop-in for :class:`~sklearn.decomposition.PCA`
    in pipelines and grids, and the starting point of the nonlinear
    autoencoders, which share its interface.

    After training, the learned subspace is given PCA's basis: its
    orthonormal basis is rotated to the directions of largest variance of
    the training data within it (a k x k eigenproblem), and ``transform``
    returns the coordinates on these ordered ``components_``, as PCA's
    scores. Once the subspace is PCA's, so are the codes (with PCA's signs),
    ``explained_variance_`` and the other fitted attributes.

    Read more in the :ref:`User Guide <linear_autoencoder>`.

    Parameters
    ----------
    n_components : int or None, default=2
        Size of the coding layer: the number of columns :meth:`transform`
        returns. At most ``min(n_samples, n_features)``; None keeps
        ``min(n_samples, n_features)``, as PCA does.
    whiten : bool, default=False
        Divide the codes by their standard deviations, so that they have unit
        variance on the training data, as PCA's ``whiten``;
        :meth:`inverse_transform` undoes it. It changes the codes only, not the
        training or the reconstructions, and may change between warm started
        fits.
    tied_weights : bool, default=False
        Each decoder layer uses the transposed weights of its mirror encoder
        layer, halving the weight parameters.
    optimizer : {"adam", "sgd", "rmsprop", "adadelta"} or torch.optim.Optimizer class, default="adam"
        The optimizer, by name or as a ``torch.optim`` class: "adam" uses the
        fused implementation; "sgd" uses momentum 0.9.
    learning_rate : float, default=0.01
        Initial learning rate.
    learning_rate_schedule : {"constant", "cosine"}, default="cosine"
        Learning rate over the epochs of :meth:`fit`: "constant" keeps
        ``learning_rate``; "cosine" anneals it to zero over ``max_epochs`` and
        trains for all of them unless ``early_stopping`` stops it.
    batch_size : int, default=64
        Rows per gradient step.
    max_epochs : int or "auto", default="auto"
        Maximum number of passes over the data in :meth:`fit`. "auto" runs 100
        epochs, or more on small data: enough for at least 3,000 gradient steps
        (1,000 epochs on 150 rows at batch 64).
    weight_decay : float, default=0.0
        L2 penalty: the optimizer's ``weight_decay``, passed only when
        non-zero.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows and stop when
        their loss stops improving, restoring the best weights. When False, the
        training loss is watched instead (see ``n_iter_no_change``).
    validation_fraction : float, default=0.1
        Share of the training rows held out for validation when
        ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before training
        stops; under a cosine schedule the training loss is not watched, so all
        ``max_epochs`` run.
    tol : float, default=1e-4
        Relative improvement of the monitored loss (the training loss, or the
        validation loss with early stopping) that counts as progress; relative,
        so that one default suits data of any scale.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the shuffling and the validation split: the same
        seed gives the same model on the same device. None draws a fresh seed
        without touching numpy's global random state.
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device, default="auto"
        Where to train and infer; "auto" picks CUDA when available.
    verbose : int, default=0
        0 is silent; 1 shows one progress bar over the epochs of a fit, with
        the latest losses; 2 also prints a line per epoch (``partial_fit``
        prints its pass's line at 1).
    callbacks : list of skorch callbacks or (name, callback) pairs, default=None
        Extra skorch callbacks (instances, classes or (name, callback) pairs),
        passed to the net as they are.
    precision : {"float32", "tf32", "bfloat16"}, default="float32"
        Arithmetic of training on CUDA: "tf32" lets float32 matrix products
        round their operands to TF32, "bfloat16" runs the forward pass and the
        loss under bf16 autocast (weights, gradients and optimizer state stay
        float32). Both are several times faster on recent GPUs and reach about
        the same error, but change the results in the last digits, so float32
        is the default. Ignored on the CPU, which always trains in float32;
        inference always runs in the input's dtype.
    warm_start : bool, default=False
        Continue from the fitted weights on the next :meth:`fit` instead of
        starting anew; changing an architecture parameter in between raises a
        ``ValueError``.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Orthonormal basis of the learned subspace (the decoder's column space),
        ordered by explained variance, in the input's dtype; signs follow PCA's
        convention (each row's largest entry is positive).
    explained_variance_ : ndarray of shape (n_components,)
        Variance of the training data along each component (ddof=1), in
        decreasing order: the variance of each column of the codes.
    explained_variance_ratio_ : ndarray of shape (n_components,)
        ``explained_variance_`` divided by the data's total variance.
    singular_values_ : ndarray of shape (n_components,)
        The 2-norms of the codes' columns on the training data,
        ``sqrt(explained_variance_ * (n_samples - 1))``.
    noise_variance_ : float
        The variance left outside the subspace, averaged over the other
        ``min(n_samples, n_features) - n_components`` directions, as PCA's
        probabilistic estimate; 0 when none are left.
    n_components_ : int
        Size of the coding layer of the fitted model. It is ``n_components``,
        or ``min(n_samples, n_features)`` when that is None.
    mean_ : ndarray of shape (n_features,)
        Per-feature mean of the training data (float64).
    n_samples_seen_ : int
        Rows the mean and variances have been computed from (with
        :meth:`partial_fit`, every row of every call, repeats included).
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during :meth:`fit`. Defined only when X has
        feature names that are all strings.
    n_iter_ : int
        Number of training epochs run: the length of ``history_``.
    loss_curve_ : list of float
        Training loss per epoch. It is the mean squared error divided by the
        training data's mean per-feature variance, i.e. the fraction of the
        variance left unexplained (PCA's
        ``1 - explained_variance_ratio_.sum()`` is its floor).
    validation_scores_ : list of float
        Minus the validation loss per epoch. Defined only when
        ``early_stopping=True``.
    history_ : skorch.History
        Everything recorded during training: the History of ``net_``.
    net_ : skorch.NeuralNet
        The fitted skorch net, which holds the module, the optimizer and the
        history.
    module_ : torch.nn.Module
        The fitted torch module: the same object as ``net_.module_``.

    See Also
    --------
    sklearn.decomposition.PCA : The closed-form solution for the same subspace.
    Autoencoder : A deep, nonlinear autoencoder with the same interface.

    Notes
    -----
    The data are centred with ``mean_`` and the maps carry no bias, as in
    PCA. The squared-error landscape of a linear autoencoder has no spurious
    local minima (Baldi & Hornik, 1989), but its small directions converge
    slowly, per gradient step: an annealed learning rate over at least
    3,000 steps (``max_epochs="auto"``) reaches PCA's error within 1 % on
    iris, digits and MNIST.

    Training learns the subspace (the decoder's column space); the fitted
    encoder is then the orthogonal projection onto it, which reconstructs
    every row at least as well as the trained encoder. This matters when
    there are fewer rows than features: the trained encoder keeps the
    random initial weights of directions the rows never reach, so on new
    rows its codes carry noise, while the projection matches PCA's
    held-out error (15 rows of 100 features in the benchmark report).
    With :meth:`partial_fit` the fitted attributes summarise all rows seen
    as ``IncrementalPCA``'s do (the previous components scaled by their
    singular values stand for the earlier chunks), but the subspace itself
    moves by one pass of gradient steps per call, not to the exact answer.

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
    >>> ae.explained_variance_ratio_.shape
    (8,)
    >>> ae.inverse_transform(ae.transform(X[:3])).shape
    (3, 64)
    """

    def __init__(
        self,
        n_components=2,
        *,
        whiten=False,
        tied_weights=False,
        optimizer="adam",
        learning_rate=0.01,
        learning_rate_schedule="cosine",
        batch_size=64,
        max_epochs="auto",
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
        self.whiten = whiten
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
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "whiten": ["boolean"],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "tied_weights": ["boolean"],
    }

    takes_torch_rows = True

    # Whitening rescales the codes after training and leaves the model as it
    # is, so a continued fit may switch it.
    _training_parameters = BaseAutoencoder._training_parameters | {"whiten"}

    def _epoch_budget(self, n_samples):
        if self.max_epochs != "auto":
            return self.max_epochs
        if self.early_stopping:
            n_samples -= int(np.ceil(self.validation_fraction * n_samples))
        batches_per_epoch = max(1, int(np.ceil(n_samples / self.batch_size)))
        return max(_AUTO_EPOCHS, int(np.ceil(_AUTO_MIN_STEPS / batches_per_epoch)))

    def _check_scale(self, X):
        """Nothing to check: the loss is divided by the data's variance."""

    def _n_components_for(self, X):
        n_samples, n_features = X.shape
        if self.n_components is None:
            # As PCA: all the components n rows can have.
            return min(n_samples, n_features)
        if self.n_components > min(n_samples, n_features):
            # As PCA: k components of n rows span at most min(n, p) dimensions.
            raise ValueError(
                f"n_components={self.n_components} must be between 1 and "
                f"min(n_samples, n_features)={min(n_samples, n_features)} for a linear "
                f"autoencoder; got n_samples={n_samples}, n_features={n_features}."
            )
        return self.n_components

    def training_spec(self, X, y=None, *, fitted_module=None, streaming=False):
        # partial_fit keeps running statistics, as IncrementalPCA does; fit
        # means this data, warm start or not. Only the first call checks
        # n_components against the data: later batches may be of any size.
        running = fitted_module is not None and streaming
        if fitted_module is None:
            module = LinearAutoencoderModule(
                X.shape[1], self._n_components_for(X), tied_weights=self.tied_weights
            )
        else:
            module = fitted_module
        n_seen = self.n_samples_seen_ if running else 0
        chunk_mean, chunk_squares = _mean_and_squared_deviation(X)
        n_rows = X.shape[0]
        total = n_seen + n_rows
        if running:
            # The data seen before, summarised as IncrementalPCA does: the
            # fitted components scaled by their singular values, and one row
            # for the shift of the mean. The k x k eigenproblem after
            # training projects them with this chunk on the new subspace.
            # The fitted arrays may be in the namespace of the first call's
            # rows (array API dispatch): the running sums are NumPy's.
            fitted_mean = host_array(self.mean_)
            shift = np.sqrt(n_seen * n_rows / total) * (fitted_mean - chunk_mean)
            summary = np.vstack([
                host_array(self.singular_values_).astype(np.float64)[:, None]
                * host_array(self.components_),
                shift,
            ])
            squares = self._squared_deviation + chunk_squares + float(shift @ shift)
            mean = (fitted_mean * n_seen + chunk_mean * n_rows) / total
        else:
            summary = np.empty((0, X.shape[1]))
            squares = chunk_squares
            mean = chunk_mean
        with torch.no_grad():
            module.mean.copy_(torch.as_tensor(mean))
            # Training sees unwhitened codes; the encoder and decoder hold an
            # orthonormal basis and its transpose after a fit, so resetting
            # the scale leaves every reconstruction as it is.
            module.code_scale.fill_(1.0)
        if running:
            weight = None
        else:
            # The squared error is divided by the data's mean variance: the
            # loss is then the fraction of variance left unexplained, and its
            # gradients do not shrink or grow with the data's scale. Without
            # this, Adam's epsilon swamps the steps on data scaled by 1e-6.
            # The codes are unaffected: they scale with the data, as PCA's do.
            variance = squares / (n_rows * X.shape[1])  # X may be sparse
            weight = 1.0 / variance if variance > 0 else 1.0
        return TrainingSpec(
            module=module,
            epochs=self._epoch_budget(n_rows),
            criterion_params={"kind": "mse"},
            reconstruction_weight=weight,
            context={"chunk_mean": chunk_mean, "summary": summary, "mean": mean,
                     "n_samples_seen": total, "squared_deviation": squares},
        )

    training_spec.__doc__ = BaseAutoencoder.training_spec.__doc__

    def fitted_attributes(self, net, X, spec):
        statistics = spec.context
        module = net.module_
        with torch.no_grad():
            decoder = module.decoder_weight().double().cpu().numpy()
        # The learned subspace is the decoder's column space; its orthonormal
        # basis, rotated to the eigenvectors of the training data's
        # covariance within it, gives PCA's components and variances once
        # the subspace is PCA's. Only a k x k eigenproblem is solved.
        basis, _ = np.linalg.qr(decoder)
        scores = statistics["summary"] @ basis
        gram = scores.T @ scores
        for block in _float64_blocks(X):
            scores = (block - _like(statistics["chunk_mean"], block)) @ _like(basis, block)
            gram += host_array(scores.T @ scores)
        n_samples = statistics["n_samples_seen"]
        dof = max(n_samples - 1, 1)
        variances, rotation = np.linalg.eigh(gram / dof)
        order = np.argsort(variances)[::-1]
        variances = np.clip(variances[order], 0.0, None)
        components = (basis @ rotation[:, order]).T
        # PCA's sign convention (svd_flip): each component's largest entry is
        # positive, so codes of the same subspace have the same signs.
        largest = components[np.arange(len(components)), np.argmax(np.abs(components), axis=1)]
        components *= np.where(largest < 0, -1.0, 1.0)[:, None]
        squared_deviation = statistics["squared_deviation"]
        total_variance = squared_deviation / dof
        rank = min(n_samples, X.shape[1])
        dtype = numpy_dtype(X)
        # Codes are the coordinates on the ordered components, divided by
        # their standard deviations when whitening (a direction without
        # variance keeps scale 1, so that no code is infinite).
        scale = np.sqrt(variances) if self.whiten else np.ones_like(variances)
        module.load_basis(components, np.where(scale > 0, scale, 1.0))
        return {
            "n_components_": module.n_components,
            "mean_": statistics["mean"],
            "n_samples_seen_": n_samples,
            "_squared_deviation": squared_deviation,
            "components_": components.astype(dtype),
            "explained_variance_": variances.astype(dtype),
            "explained_variance_ratio_": (
                variances / total_variance if total_variance > 0 else np.zeros_like(variances)
            ).astype(dtype),
            "singular_values_": np.sqrt(variances * dof).astype(dtype),
            "noise_variance_": dtype.type(
                max(total_variance - variances.sum(), 0.0) / (rank - len(variances))
                if rank > len(variances) else 0.0
            ),
        }

    fitted_attributes.__doc__ = BaseAutoencoder.fitted_attributes.__doc__


def _mean_and_squared_deviation(X):
    """Per-feature mean of X and the sum of squared deviations from it, in float64."""
    mean = np.zeros(X.shape[1])
    for block in _float64_blocks(X):
        mean += host_array(block.sum(axis=0))
    mean /= X.shape[0]
    squares = 0.0
    for block in _float64_blocks(X):
        deviation = block - _like(mean, block)
        squares += _sum_of_squares(deviation)
    return mean, squares


def _float64_blocks(X):
    """X's rows, block by block, as dense float64 arrays (X may be sparse) or tensors.

    A torch tensor (under array API dispatch) gives float64 tensors on its
    own device: the statistics reduce there and only they reach the host.
    """
    for start in range(0, X.shape[0], _STATISTICS_CHUNK):
        block = X[start : start + _STATISTICS_CHUNK]
        if isinstance(block, torch.Tensor):
            yield block.to(torch.float64)
        else:
            yield dense_block(block).astype(np.float64, copy=False)


def _sum_of_squares(deviation):
    if isinstance(deviation, torch.Tensor):
        return float((deviation * deviation).sum())
    return float(np.einsum("ij,ij->", deviation, deviation))


def _like(array, block):
    """A small NumPy ``array`` (a mean, a basis) where ``block``'s rows are."""
    if isinstance(block, torch.Tensor):
        return torch.as_tensor(array, dtype=block.dtype, device=block.device)
    return array
