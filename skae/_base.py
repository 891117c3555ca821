"""The abstract estimator: validation, the fit skeleton, transform, scoring."""

import copy
import math
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping, LRScheduler, ProgressBar
from torch.optim.lr_scheduler import CosineAnnealingLR

from ._compat import Interval, StrOptions, _fit_context
from ._net import AutoencoderNet, StopOnNonFiniteLoss
from ._runtime import SMALL_STEP_FLOPS, resolve_device, seeded, step_flops, torch_threads
from .nn import ReconstructionLoss, reconstruction_error

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
}

# Rows per forward pass at inference: bounds memory, never changes results.
_INFERENCE_CHUNK = 8192

# An epoch with at least this many batches gets a progress bar at verbose=1.
_PROGRESS_BAR_MIN_BATCHES = 100

# Data on a CUDA device is copied there once when it takes at most this
# share of the free memory; otherwise each batch is copied as it is used.
_DEVICE_RESIDENT_SHARE = 0.25


def _encode(module, x):
    return module.encode(x)


def _decode(module, z):
    return module.decode(z)


def _reconstruct(module, x):
    return module(x).reconstruction


class BaseAutoencoder(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator, metaclass=ABCMeta
):
    """Shared machinery of the skae autoencoders; subclasses build the module.

    Subclasses implement :meth:`_build_module` and may extend
    :meth:`_penalties` (weighted extra loss terms), :meth:`_check_params`
    (checks that need the data) and :meth:`_prepare_module` (data-dependent
    state set before training, such as a mean).
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tied_weights": ["boolean"],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_schedule": [StrOptions({"constant", "cosine"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "warm_start": ["boolean"],
    }

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _build_module(self, n_features):
        """Return a fresh torch module for ``n_features`` inputs."""

    def _penalties(self):
        """Weighted extra loss terms: a list of (weight, callable(output))."""
        return []

    def _check_params(self, X):
        """Checks that need the data or combine parameters; raise ValueError."""

    def _reconstruction_loss(self):
        """Name of the reconstruction loss ("mse" or "bce")."""
        return "mse"

    def _prepare_module(self, module, X, first_call):
        """Set data-dependent module state before a round of training."""

    # ------------------------------------------------------------- validation
    def _validate_X(self, X, *, reset):
        return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])

    @property
    def _n_features_out(self):
        return self.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # -------------------------------------------------------------- training
    @_fit_context(prefer_skip_nested_validation=True)
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
        X = self._validate_X(X, reset=not resume)
        return self._train(X, epochs=self.max_epochs, resume=resume, streaming=False)

    @_fit_context(prefer_skip_nested_validation=True)
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
        X = self._validate_X(X, reset=not resume)
        return self._train(X, epochs=1, resume=resume, streaming=True)

    def _train(self, X, *, epochs, resume, streaming):
        self._check_params(X)
        device = resolve_device(self.device)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        with seeded(seed, device):
            if resume:
                net = self.net_
                net.set_params(callbacks=self._callbacks(len(X), streaming=streaming))
                # A finished cosine schedule leaves the rate near zero.
                for group in net.optimizer_.param_groups:
                    group["lr"] = self.learning_rate
            else:
                net = self._build_net(X.shape[1], device, len(X), streaming=streaming)
            self._prepare_module(net.module_, X, first_call=not resume)
            X_tensor = self._to_training_tensor(X, device)
            n_threads = None
            if device.type == "cpu" and step_flops(net.module_, self.batch_size) < SMALL_STEP_FLOPS:
                n_threads = 1
            with torch_threads(n_threads):
                net.partial_fit(X_tensor, epochs=epochs)
        self._set_fitted_attributes(net)
        return self

    def _to_training_tensor(self, X, device):
        X_tensor = torch.tensor(X, dtype=torch.float32)
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            if X_tensor.numel() * 4 <= _DEVICE_RESIDENT_SHARE * free:
                return X_tensor.to(device)
            return X_tensor.pin_memory()
        return X_tensor

    def _optimizer_settings(self, device):
        if not isinstance(self.optimizer, str):
            return self.optimizer, {}
        settings = {}
        if self.optimizer == "adam":
            # The fused kernel does one pass over all parameters per step.
            settings["fused"] = True
        elif self.optimizer == "sgd":
            settings["momentum"] = 0.9
        return OPTIMIZERS[self.optimizer], settings

    def _callbacks(self, n_samples, *, streaming):
        callbacks = [("stop_on_non_finite_loss", StopOnNonFiniteLoss())]
        if not streaming:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor="valid_loss" if self.early_stopping else "train_loss",
                        patience=self.n_iter_no_change,
                        threshold=self.tol,
                        threshold_mode="rel",
                        load_best=self.early_stopping,
                    ),
                )
            )
            if self.learning_rate_schedule == "cosine":
                callbacks.append(
                    (
                        "learning_rate_schedule",
                        LRScheduler(
                            CosineAnnealingLR, T_max=self.max_epochs, last_epoch=-1
                        ),
                    )
                )
        if self.verbose and n_samples / self.batch_size >= _PROGRESS_BAR_MIN_BATCHES:
            callbacks.append(("progress_bar", ProgressBar(postfix_keys=[])))
        return callbacks + list(self.callbacks or [])

    def _build_net(self, n_features, device, n_samples, *, streaming):
        optimizer, optimizer_settings = self._optimizer_settings(device)
        net = AutoencoderNet(
            module=self._build_module(n_features),
            criterion=ReconstructionLoss,
            criterion__kind=self._reconstruction_loss(),
            optimizer=optimizer,
            lr=self.learning_rate,
            optimizer__weight_decay=self.weight_decay,
            **{f"optimizer__{k}": v for k, v in optimizer_settings.items()},
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            penalties=self._penalties(),
            validation_fraction=(
                self.validation_fraction if self.early_stopping and not streaming else None
            ),
            callbacks=self._callbacks(n_samples, streaming=streaming),
            device=device,
            verbose=int(self.verbose),
        )
        return net.initialize()

    def _set_fitted_attributes(self, net):
        self.net_ = net
        self.module_ = net.module_
        self.history_ = net.history
        self.n_iter_ = len(net.history)
        self.loss_curve_ = list(net.history[:, "train_loss"])
        if self.early_stopping:
            self.validation_scores_ = [
                -loss for loss in net.history[:, "valid_loss"] if loss is not None
            ]

    # ------------------------------------------------------------- inference
    def _inference_module(self):
        # Inference runs in float64 on a copy of the weights: float32 matmuls
        # blocked differently for different batch sizes disagree in the last
        # bits, and a row's code must not depend on which rows come with it.
        return copy.deepcopy(self.module_).to(torch.float64).eval()

    def _apply(self, fn, A):
        """Run ``fn(module, batch)`` on A in float64 chunks; return numpy float64."""
        module = self._inference_module()
        device = next(module.parameters()).device
        A_tensor = torch.tensor(A, dtype=torch.float64)
        with torch.no_grad():
            chunks = [
                fn(module, A_tensor[start : start + _INFERENCE_CHUNK].to(device)).cpu()
                for start in range(0, len(A_tensor), _INFERENCE_CHUNK)
            ]
        return torch.cat(chunks).numpy()

    def transform(self, X):
        """Encode X: the coding layer's values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Codes, in X's float dtype.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._apply(_encode, X).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        """Decode codes back to input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, as returned by :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            Reconstructions, in the codes' float dtype.
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32])
        if Z.shape[1] != self.n_components:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects codes "
                f"with n_components={self.n_components} features."
            )
        return self._apply(_decode, Z).astype(Z.dtype, copy=False)

    def score_samples(self, X):
        """Per-sample score: minus the reconstruction loss (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Low scores flag samples the autoencoder reconstructs badly
            (anomalies).
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        reconstruction = torch.as_tensor(self._apply(_reconstruct, X))
        return -reconstruction_error(
            reconstruction,
            torch.as_tensor(X, dtype=torch.float64),
            self._reconstruction_loss(),
        ).numpy()

    def score(self, X, y=None):
        """Minus the mean reconstruction loss on X (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))
