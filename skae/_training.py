"""The fit skeleton every skae estimator shares: net, callbacks, device, seeds.

:class:`TorchEstimatorMixin` turns an estimator's flat parameters into one
:class:`~skae._net.AutoencoderNet`, trains it reproducibly on the chosen
device, and runs inference in float64. Estimators supply the module
(:meth:`_build_module`) and, optionally, the other hooks below.
"""

import copy
import inspect
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from skorch.callbacks import EarlyStopping, LRScheduler, ProgressBar
from torch.optim.lr_scheduler import CosineAnnealingLR

from ._compat import Interval, StrOptions
from ._net import AutoencoderNet, StopOnNonFiniteLoss
from ._runtime import SMALL_STEP_FLOPS, resolve_device, seeded, step_flops, torch_threads
from .nn import ReconstructionLoss

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


class TorchEstimatorMixin:
    """Training and inference for estimators backed by one torch module.

    The estimator's parameters ``optimizer``, ``learning_rate``,
    ``learning_rate_schedule``, ``batch_size``, ``max_epochs``,
    ``weight_decay``, ``early_stopping``, ``validation_fraction``,
    ``n_iter_no_change``, ``tol``, ``random_state``, ``device``, ``verbose``
    and ``callbacks`` are read here, and constrained by the
    ``_parameter_constraints`` below.
    """

    _parameter_constraints: dict = {
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
    }

    # ------------------------------------------------------------------ hooks
    def _build_module(self, n_features):
        """Return a fresh torch module for ``n_features`` inputs."""
        raise NotImplementedError

    def _penalties(self):
        """Weighted extra loss terms: a list of (weight, callable(output))."""
        return []

    def _check_params(self, X):
        """Checks that need the data or combine parameters; raise ValueError."""

    def _criterion(self):
        """The criterion class and its settings."""
        return ReconstructionLoss, {"kind": "mse"}

    def _prepare_module(self, module, X, first_call):
        """Set data-dependent module state before a round of training."""

    # -------------------------------------------------------------- training
    def _train(self, X, y=None, *, epochs, resume, streaming):
        self._check_params(X)
        device = resolve_device(self.device)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        with seeded(seed, device):
            if resume:
                net = self.net_
                net.set_params(**self._loop_settings(len(X), streaming=streaming))
                # set_params initialises the callbacks before it swaps the list in.
                net.initialize_callbacks()
                # A finished cosine schedule leaves the rate near zero.
                for group in net.optimizer_.param_groups:
                    group["lr"] = self.learning_rate
            else:
                net = self._make_net(
                    self._build_module(X.shape[1]),
                    self._criterion(),
                    self._penalties(),
                    device,
                    len(X),
                    streaming=streaming,
                )
            self._prepare_module(net.module_, X, first_call=not resume)
            X_tensor = self._to_training_tensor(X, torch.float32, device)
            y_tensor = None if y is None else self._to_training_tensor(y, torch.int64, device)
            with torch_threads(self._thread_count(net.module_, device)):
                net.partial_fit(X_tensor, y_tensor, epochs=epochs)
        self._set_fitted_attributes(net)
        return self

    def _thread_count(self, module, device):
        """One thread for steps too small to split; None keeps torch's count."""
        if device.type == "cpu" and step_flops(module, self.batch_size) < SMALL_STEP_FLOPS:
            return 1
        return None

    @staticmethod
    def _to_training_tensor(A, dtype, device):
        tensor = torch.tensor(A, dtype=dtype)
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            if tensor.numel() * tensor.element_size() <= _DEVICE_RESIDENT_SHARE * free:
                return tensor.to(device)
            return tensor.pin_memory()
        return tensor

    def _optimizer_settings(self, device):
        # Only a non-zero weight decay is passed, so that optimizers without
        # the argument (LBFGS) work at the default.
        settings = {"weight_decay": self.weight_decay} if self.weight_decay else {}
        if not isinstance(self.optimizer, str):
            if settings and "weight_decay" not in inspect.signature(self.optimizer).parameters:
                raise ValueError(
                    f"weight_decay={self.weight_decay} was given but "
                    f"{self.optimizer.__name__} takes no weight_decay argument."
                )
            return self.optimizer, settings
        if self.optimizer == "adam":
            # The fused kernel does one pass over all parameters per step.
            settings["fused"] = True
        elif self.optimizer == "sgd":
            settings["momentum"] = 0.9
        return OPTIMIZERS[self.optimizer], settings

    def _callbacks(self, n_samples, *, streaming):
        callbacks = [("stop_on_non_finite_loss", StopOnNonFiniteLoss())]
        cosine = self.learning_rate_schedule == "cosine"
        # A cosine schedule fixes the number of epochs: stopping on a
        # training-loss plateau would cut it before the small late steps that
        # do the fine convergence. A validation loss still may stop it.
        if not streaming and (self.early_stopping or not cosine):
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
        if not streaming and cosine:
            callbacks.append(
                (
                    "learning_rate_schedule",
                    LRScheduler(CosineAnnealingLR, T_max=self.max_epochs, last_epoch=-1),
                )
            )
        if self.verbose and n_samples / self.batch_size >= _PROGRESS_BAR_MIN_BATCHES:
            callbacks.append(("progress_bar", ProgressBar(postfix_keys=[])))
        return callbacks + list(self.callbacks or [])

    def _make_net(self, module, criterion, penalties, device, n_samples, *, streaming):
        """An initialised net for ``module`` with this estimator's training settings.

        ``criterion`` is a (class, settings) pair; ``penalties`` a sequence of
        (weight, callable) extra loss terms.
        """
        optimizer, optimizer_settings = self._optimizer_settings(device)
        criterion, criterion_settings = criterion
        net = AutoencoderNet(
            module=module,
            criterion=criterion,
            **{f"criterion__{k}": v for k, v in criterion_settings.items()},
            optimizer=optimizer,
            lr=self.learning_rate,
            **{f"optimizer__{k}": v for k, v in optimizer_settings.items()},
            penalties=penalties,
            device=device,
            **self._loop_settings(n_samples, streaming=streaming),
        )
        return net.initialize()

    def _loop_settings(self, n_samples, *, streaming):
        """The net's settings that a warm start may change between fits."""
        return dict(
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            validation_fraction=(
                self.validation_fraction if self.early_stopping and not streaming else None
            ),
            callbacks=self._callbacks(n_samples, streaming=streaming),
            verbose=int(self.verbose),
        )

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

