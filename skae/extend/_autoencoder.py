"""The abstract estimator: validation, the fit skeleton, transform, scoring."""

import warnings
from numbers import Integral

import numpy as np
import torch
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .._array_api import dispatched_tensor, follows_input_namespace, validate_tensor_rows
from .._compat import Interval, _fit_context
from .._engine._chunks import is_memory_mapped
from .._engine._rows import dense_block
from .._engine._runtime import resolve_device
from .._engine._safety import restore_on_failure
from .._engine._spec import TrainingSpec
from ._estimator import TorchEstimatorMixin
from ..exceptions import DataScaleWarning
from ..nn import ReconstructionLoss, reconstruction_error


def check_reconstruction_settings(estimator, X):
    """Refuse loss="bce" without a sigmoid output or with inputs outside [0, 1].

    Parameters
    ----------
    estimator : BaseAutoencoder
        An autoencoder with ``loss`` and ``output_activation`` parameters.
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
        The validated training rows.

    Raises
    ------
    ValueError
        If ``loss="bce"`` comes with another output activation or with rows
        outside [0, 1].
    """
    if estimator.loss != "bce":
        return
    if estimator.output_activation != "sigmoid":
        raise ValueError(
            "loss='bce' needs output_activation='sigmoid' (reconstructions in [0, 1]); "
            f"got output_activation={estimator.output_activation!r}."
        )
    if X.min() < 0 or X.max() > 1:
        raise ValueError(
            "loss='bce' needs inputs in [0, 1] (scale them, e.g. with MinMaxScaler); "
            f"got values in [{X.min():g}, {X.max():g}]."
        )


def encode_rows(module, x):
    """``module.encode(x)``: the function :func:`apply_module` runs for ``transform``.

    Parameters
    ----------
    module : torch.nn.Module
        A module with skae's module contract.
    x : torch.Tensor of shape (n, n_features)
        Rows.

    Returns
    -------
    codes : torch.Tensor of shape (n, n_components)
        The module's codes of the rows.
    """
    return module.encode(x)


def decode_rows(module, z):
    """``module.decode(z)``: the function :func:`apply_module` runs for ``inverse_transform``.

    Parameters
    ----------
    module : torch.nn.Module
        A module with skae's module contract.
    z : torch.Tensor of shape (n, n_components)
        Codes.

    Returns
    -------
    rows : torch.Tensor of shape (n, n_features)
        The module's reconstructions of the codes.
    """
    return module.decode(z)


# Typical feature spreads outside this range leave a nonlinear autoencoder
# dominated by its fixed-scale parts (biases, activations' bends, a VAE's KL
# term): measured on digits, 1e-6 x the data trains to a worse error than
# the mean; 1e4 and 1e8 x the data train as well as the data itself.
_WELL_SCALED_SPREAD = (1e-3, 1e6)

# Rows (and values) read to measure the data's spread: a statistic, not a
# pass over X.
_SPREAD_ROWS = 2048
_SPREAD_VALUES = 2**20


def _is_plain_float_matrix(estimator, X, ensure_all_finite):
    """Whether X is already what validation would return, checked in microseconds.

    A float ndarray of the fitted width, from an estimator fitted without
    feature names, needs no conversion: skipping scikit-learn's full
    validation keeps a one-row ``transform`` close to the cost of the
    forward pass itself. Anything else (and any doubt about finiteness) goes
    through ``validate_data``, which raises its usual errors.
    """
    if (
        type(X) is not np.ndarray
        or X.ndim != 2
        or X.dtype not in _FLOAT_DTYPES
        or X.shape[0] == 0
        or X.shape[1] != estimator.n_features_in_
        or hasattr(estimator, "feature_names_in_")
    ):
        return False
    # The sum is finite exactly when no value is NaN or infinite, barring an
    # overflow, which only sends the array to the full check.
    return not ensure_all_finite or bool(np.isfinite(X.sum()))


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def warn_if_badly_scaled(estimator, X):
    """Warn when X's typical feature standard deviation is tiny or huge."""
    # Wide rows are sampled fewer, so that the dense sample stays small.
    n_rows = max(2, min(_SPREAD_ROWS, _SPREAD_VALUES // X.shape[1]))
    rows = X[:: max(1, X.shape[0] // n_rows)][:n_rows]
    if isinstance(rows, torch.Tensor):
        spread = float(rows.to(torch.float64).var(dim=0, correction=0).mean().sqrt())
    else:
        spread = float(np.sqrt(dense_block(rows).astype(np.float64).var(axis=0).mean()))
    low, high = _WELL_SCALED_SPREAD
    if not np.isfinite(spread) or spread == 0 or low <= spread <= high:
        return
    warnings.warn(
        f"X's features have a typical standard deviation of {spread:.3g}. "
        f"{type(estimator).__name__} trains best on data of order 1: its biases, "
        "activations and loss terms have a fixed scale, so they, not the data, "
        "dominate training far from it. Scale X first, e.g. with StandardScaler or "
        "MinMaxScaler in a Pipeline (LinearAutoencoder needs no scaling).",
        DataScaleWarning,
        stacklevel=4,
    )


class BaseAutoencoder(
    TorchEstimatorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Shared machinery of the skae autoencoders; subclasses build the module.

    Its :meth:`training_spec` trains the module of :meth:`_build_module`
    on the reconstruction loss of :meth:`_reconstruction_loss` plus the
    terms of :meth:`_penalties`, after :meth:`_check_params`; a family with
    data-dependent state (a mean, landmarks, pretrained layers) extends
    :meth:`training_spec` itself, and derives its fitted attributes from
    the trained net in :meth:`fitted_attributes`.
    """

    # Part of the family contract (skae.extend): under array API dispatch, a
    # family whose training_spec and fitted_attributes handle X as a torch
    # tensor sets it True and gets torch rows as they are, on their device;
    # the others get NumPy rows.
    takes_torch_rows = False

    _parameter_constraints: dict = {
        **TorchEstimatorMixin._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
    }

    def _check_scale(self, X):
        """Warn about data whose scale the model cannot train well on."""
        warn_if_badly_scaled(self, X)

    def _reconstruction_loss(self):
        """Name of the reconstruction loss ("mse" or "bce")."""
        return "mse"

    def _check_params(self, X):
        """Checks of the parameters against each other and the data; raise ValueError."""

    def _build_module(self, n_features):
        """A fresh torch module for ``n_features`` inputs."""
        raise NotImplementedError

    def _penalties(self):
        """Weighted extra loss terms: a list of (weight, callable(output))."""
        return []

    def _epoch_budget(self, n_samples):
        """Epochs a fit trains for at most."""
        return self.max_epochs

    def training_spec(self, X, y=None, *, fitted_module=None, streaming=False):
        self._check_params(X)
        return TrainingSpec(
            module=fitted_module if fitted_module is not None else self._build_module(X.shape[1]),
            epochs=self._epoch_budget(X.shape[0]),
            criterion=ReconstructionLoss,
            criterion_params={"kind": self._reconstruction_loss()},
            penalties=self._penalties(),
            # A continued fit keeps the weight it was trained with.
            reconstruction_weight=None if fitted_module is not None else 1.0,
        )

    training_spec.__doc__ = TorchEstimatorMixin.training_spec.__doc__

    def fitted_attributes(self, net, X, spec):
        return {"n_components_": net.module_.n_components}

    fitted_attributes.__doc__ = TorchEstimatorMixin.fitted_attributes.__doc__

    # Sparse matrices are densified batch by batch, never whole.
    _accepted_sparse_formats = ("csr", "csc")

    def _validate_X(self, X, *, reset, ensure_all_finite=True):
        if dispatched_tensor(X):
            return validate_tensor_rows(X, self, reset=reset, ensure_all_finite=ensure_all_finite)
        if not reset and _is_plain_float_matrix(self, X, ensure_all_finite):
            return X
        return validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32],
            accept_sparse=list(self._accepted_sparse_formats) or False,
            ensure_all_finite=ensure_all_finite,
        )

    def _validate_training_X(self, X, *, reset):
        # Dense data bound for a GPU is scanned for NaN and infinity there,
        # after the copy that happens anyway: much faster than on the host.
        # Sparse data stays on the host, where only its stored values are read;
        # so do memory-mapped data, sent to the device batch by batch.
        on_cuda = resolve_device(self.device).type == "cuda"
        on_host = not on_cuda or issparse(X) or is_memory_mapped(X)
        return self._validate_X(X, reset=reset, ensure_all_finite=on_host)

    @property
    def _n_features_out(self):
        # The fitted size, so that names match transform's columns; before
        # fit the attribute is missing and get_feature_names_out raises
        # NotFittedError, as PCA's does.
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = bool(self._accepted_sparse_formats)
        return tags

    # -------------------------------------------------------------- training
    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_failure
    def fit(self, X, y=None):
        """Train the autoencoder on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; accepted for Pipeline and model-selection compatibility.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        resume = self.warm_start and hasattr(self, "net_")
        X = self._validate_training_X(X, reset=not resume)
        self._check_scale(X)
        return self.train(X, resume=resume, streaming=False)

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_failure
    def partial_fit(self, X, y=None):
        """Train for one pass over X, continuing from the current weights.

        Unlike :meth:`fit`, the learning rate stays at ``learning_rate`` (no
        schedule) and there is no early stopping: each call is one step of a
        stream.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The updated estimator.
        """
        resume = hasattr(self, "net_")
        X = self._validate_training_X(X, reset=not resume)
        self._check_scale(X)
        return self.train(X, resume=resume, streaming=True)

    def transform(self, X):
        """Encode X: the coding layer's values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode, with the features seen in :meth:`fit`.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Codes, in X's float dtype (under array API dispatch, an array of
            X's namespace, on its device).
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False, ensure_all_finite=self._scans_input_on_host())
        return self._apply(encode_rows, X)

    def inverse_transform(self, X):
        """Decode codes back to input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, as returned by :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Reconstructions, in the codes' float dtype (under array API
            dispatch, an array of the codes' namespace, on their device).
        """
        check_is_fitted(self)
        if dispatched_tensor(X):
            Z = validate_tensor_rows(X, ensure_all_finite=self._scans_input_on_host())
        else:
            Z = check_array(
                X, dtype=[np.float64, np.float32], ensure_all_finite=self._scans_input_on_host()
            )
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects codes "
                f"with n_components={self.n_components_} features."
            )
        return self._apply(decode_rows, Z)

    def score_samples(self, X):
        """Per-sample score: minus the reconstruction loss (higher is better).

        For a :class:`~skae.VariationalAutoencoder` it is the ELBO per input
        feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Low scores flag samples the autoencoder reconstructs badly
            (anomalies). Under array API dispatch, an array of X's
            namespace, on its device.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False, ensure_all_finite=self._scans_input_on_host())
        return self._apply(self._sample_scores, X)

    def _sample_scores(self, module, x):
        """Per-sample scores of a batch, in eval mode."""
        return -reconstruction_error(module(x).reconstruction, x, self._reconstruction_loss())

    def score(self, X, y=None):
        """Score X: minus the mean reconstruction loss (higher is better).

        The mean of :meth:`score_samples`, so that model selection such as
        ``GridSearchCV`` works with no ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        y : None
            Ignored.

        Returns
        -------
        score : float
            Minus the mean reconstruction loss (for a variational autoencoder,
            the mean ELBO per input feature).
        """
        return float(self.score_samples(X).mean())

    @follows_input_namespace
    def explain(self, X):
        """Each feature's reconstruction loss: minus :meth:`score_samples`, split by feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to explain, with the features seen in :meth:`fit`.

        Returns
        -------
        contributions : ndarray or DataFrame of shape (n_samples, n_features)
            Feature f's loss term (its squared error, or its cross-entropy
            for ``loss="bce"``) divided by n_features, so that each row sums
            to ``-score_samples(X)`` up to rounding; larger means worse
            reconstructed. A term of the score that no one feature carries
            (a variational autoencoder's KL divergence) is spread evenly. In
            X's float dtype; a pandas DataFrame with the fit's column names
            (and X's index, when X is a DataFrame) when fitted on a
            DataFrame.
        """
        check_is_fitted(self)
        rows = self._validate_X(X, reset=False, ensure_all_finite=self._scans_input_on_host())

        def contributions(module, x):
            target = x.flatten(1)
            n_features = target.shape[1]
            reconstruction = module(x).reconstruction.reshape(target.shape)
            # The loss's own definition, one value per feature.
            per_feature = reconstruction_error(
                reconstruction.reshape(-1, 1), target.reshape(-1, 1), self._reconstruction_loss()
            ).reshape(target.shape) / n_features
            rest = -self._sample_scores(module, x) - per_feature.sum(dim=1)
            # A row whose error overflowed is all in its infinite features.
            rest = torch.where(torch.isfinite(rest), rest, torch.zeros_like(rest))
            return per_feature + rest.unsqueeze(1) / n_features

        result = self._apply(contributions, rows)
        names = getattr(self, "feature_names_in_", None)
        if names is None or isinstance(result, torch.Tensor):
            return result
        import pandas as pd  # installed: the fit saw a DataFrame

        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(result, columns=list(names), index=index)
