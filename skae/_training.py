"""The fit skeleton every skae estimator shares: net, callbacks, device, seeds.

:class:`TorchEstimatorMixin` turns an estimator's flat parameters into one
:class:`~skae._net.AutoencoderNet`, trains it reproducibly on the chosen
device, keeps the estimator unchanged when a fit fails, and runs inference
chunk by chunk in the input's dtype. Estimators supply the module
(:meth:`_build_module`) and, optionally, the other hooks below.
"""

import copy
import functools
import inspect
import warnings
import weakref
from numbers import Integral, Real

import numpy as np
import torch
from scipy import sparse
from sklearn.utils import check_random_state
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from ._compat import Interval, StrOptions
from ._data_parallel import training_engine
from ._chunks import MappedRows, is_memory_mapped
from ._feedback import EpochProgressBar, close_progress_bars, warn_if_not_converged
from ._net import AutoencoderNet, LastEpochWeights, StopOnDivergence
from ._rows import SparseRows, dense_block
from ._runtime import SMALL_STEP_FLOPS, seeded, step_flops, torch_threads
from .exceptions import TrainingInterrupted, TrainingInterruptedWarning
from .nn import ReconstructionLoss

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
}

# Rows per forward pass at inference: bounds memory, never changes results.
_INFERENCE_CHUNK = 8192

# Sparse input is densified a chunk at a time; wide rows make chunks shorter
# so that one densified chunk stays within this many bytes.
_DENSIFIED_CHUNK_BYTES = 64 * 2**20

# Data on a CUDA device is copied there once when it takes at most this
# share of the free memory; otherwise each batch is copied as it is used.
_DEVICE_RESIDENT_SHARE = 0.25

# Rows (and at most this many values) of the training data on which the loss
# of a model that learned nothing is measured, the yardstick for divergence.
_REFERENCE_ROWS = 1024
_REFERENCE_VALUES = 2**20

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}

# Float64 copies of fitted modules, for float64 inference, made once per
# fitted state rather than once per call; they go when the module goes.
_FLOAT64_MODULES = weakref.WeakKeyDictionary()


def draw_seed(random_state):
    """A torch seed from ``random_state``.

    None draws fresh entropy rather than from numpy's global generator, so
    that a fit leaves the caller's random state untouched.
    """
    if random_state is None:
        return int(np.random.default_rng().integers(np.iinfo(np.int32).max))
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _same_value(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return tuple(a) == tuple(b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


class _NetState:
    """What a resumed fit may change in a net, captured to be put back."""

    def __init__(self, net):
        self.net = net
        self.attributes = dict(vars(net))
        self.n_epochs = len(net.history)
        self.module = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
        self.optimizer = copy.deepcopy(net.optimizer_.state_dict())

    def restore(self):
        net = self.net
        vars(net).clear()
        vars(net).update(self.attributes)
        del net.history[self.n_epochs :]
        net.module_.load_state_dict(self.module)
        net.optimizer_.load_state_dict(self.optimizer)


def restore_on_failure(fit_method):
    """Decorate a fit method: if it raises, the estimator is put back as it was.

    A fresh fit that fails leaves the estimator unfitted; a continued one
    (``partial_fit``, ``warm_start``) leaves the previous model, weights,
    optimizer state and attributes. The one exception is a Ctrl-C after a
    completed epoch (:class:`TrainingInterrupted`), which keeps that
    epoch's model.
    """

    @functools.wraps(fit_method)
    def fit(self, *args, **kwargs):
        saved = dict(vars(self))
        net = saved.get("net_")
        net_state = _NetState(net) if net is not None else None

        def restore():
            vars(self).clear()
            vars(self).update(saved)
            if net_state is not None:
                net_state.restore()

        try:
            return fit_method(self, *args, **kwargs)
        except TrainingInterrupted as interrupt:
            if interrupt.estimator is not self:
                restore()
            raise
        except BaseException:
            restore()
            raise

    return fit


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
        "precision": [StrOptions({"float32", "tf32", "bfloat16"})],
    }

    # Parameters a continued fit (warm start, partial_fit) may change; any
    # other parameter shapes the model that was built.
    _training_parameters = frozenset(_parameter_constraints) | {"warm_start"}

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

    def _prepare_module(self, module, X, *, resume, streaming):
        """Set data-dependent module state before a round of training."""

    def _epoch_budget(self, n_samples):
        """Epochs a fit trains for at most: ``max_epochs``, resolved if need be."""
        return self.max_epochs

    def _reconstruction_weight(self, X, *, resume, streaming):
        """Weight of the criterion in the loss; None keeps the net's current one."""
        return None if resume else 1.0

    # ----------------------------------------------------------- fitted state
    # The net is the fitted state: the module and history are read from it,
    # so that a pickle holds one copy of the weights and skorch maps them to
    # the CPU when a model trained on CUDA is loaded where there is none.
    @property
    def module_(self):
        """The fitted torch module: the same object as ``net_.module_``."""
        return self.net_.module_

    @property
    def history_(self):
        """Everything recorded during training: the History of ``net_``."""
        return self.net_.history

    def __sklearn_is_fitted__(self):
        return "net_" in vars(self)

    # -------------------------------------------------------------- training
    def _train(self, X, y=None, *, epochs, resume, streaming):
        self._check_params(X)
        # This process alone, or all processes of a data_parallel block.
        engine = training_engine()
        device = engine.device(self.device)
        self._check_callbacks()
        if resume:
            self._check_same_model(device)
        seed = engine.shared_seed(draw_seed(self.random_state))
        with seeded(seed, device):
            if resume:
                net = self.net_
                self._update_training_settings(net, X.shape[0], device, streaming=streaming)
            else:
                net = self._make_net(
                    self._build_module(X.shape[1]),
                    self._criterion(),
                    self._penalties(),
                    device,
                    X.shape[0],
                    streaming=streaming,
                )
                self._fitted_architecture = self._architecture()
            X_tensor = self._to_training_tensor(X, torch.float32, device)
            if X_tensor.device.type == "cuda":
                _check_finite(X_tensor)
            y_tensor = None if y is None else self._to_training_tensor(y, torch.int64, device)
            self._prepare_module(net.module_, X, resume=resume, streaming=streaming)
            weight = self._reconstruction_weight(X, resume=resume, streaming=streaming)
            if weight is not None:
                net.reconstruction_weight = weight
            callbacks = dict(net.callbacks_)
            callbacks["stop_on_divergence"].reference_loss = net.reference_loss(
                X_tensor, y_tensor,
                n_rows=max(1, min(_REFERENCE_ROWS, _REFERENCE_VALUES // X.shape[1])),
            )
            epochs_before = len(net.history)
            with torch_threads(self._thread_count(net.module_, device)):
                try:
                    with engine.training(net):
                        net.partial_fit(X_tensor, y_tensor, epochs=epochs)
                except KeyboardInterrupt as interrupt:
                    self._keep_last_epoch(net, callbacks["last_epoch_weights"], epochs_before,
                                          interrupt)
                finally:
                    _drop_weight_snapshots(net)
                    close_progress_bars(net)
        net.module_.eval()
        self._set_fitted_attributes(net)
        if not streaming:
            warn_if_not_converged(self, net, len(net.history) - epochs_before, epochs)
        return self

    def _keep_last_epoch(self, net, last_epoch, epochs_before, interrupt):
        """After Ctrl-C, keep the model of the last epoch this call completed, or re-raise."""
        if last_epoch.epoch_ is None or last_epoch.epoch_ <= epochs_before:
            raise interrupt
        del net.history[last_epoch.epoch_ :]
        net.module_.load_state_dict(last_epoch.weights_)
        net.module_.eval()
        self._set_fitted_attributes(net)
        message = (
            f"{type(self).__name__} training was interrupted during epoch "
            f"{last_epoch.epoch_ + 1}; the estimator keeps the model at the end of "
            f"epoch {last_epoch.epoch_}."
        )
        warnings.warn(message, TrainingInterruptedWarning, stacklevel=4)
        raise TrainingInterrupted(message, self) from interrupt

    def _architecture(self):
        return {
            name: value
            for name, value in self.get_params(deep=False).items()
            if name not in self._training_parameters
        }

    def _check_same_model(self, device):
        """A continued fit needs the architecture and device the model was built with."""
        changed = [
            f"{name}={value!r} (the model was built with {self._fitted_architecture[name]!r})"
            for name, value in self._architecture().items()
            if not _same_value(value, self._fitted_architecture[name])
        ]
        if changed:
            raise ValueError(
                "Training continues the fitted model (warm_start=True or partial_fit), "
                f"but {', '.join(changed)} changed the architecture. Set "
                "warm_start=False, or clone the estimator, to train a new model."
            )
        built_on = next(self.module_.parameters()).device
        if built_on.type != device.type or (built_on.index or 0) != (device.index or 0):
            raise ValueError(
                f"device={self.device!r} resolves to {device}, but the fitted model is on "
                f"{built_on}; continue training there, or fit a new model."
            )

    def _check_callbacks(self):
        for item in self.callbacks or []:
            named = isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
            callback = item[1] if named else item
            if not (
                isinstance(callback, Callback)
                or (isinstance(callback, type) and issubclass(callback, Callback))
            ):
                raise TypeError(
                    "The 'callbacks' parameter takes skorch callbacks: instances or "
                    "subclasses of skorch.callbacks.Callback, or (name, callback) pairs. "
                    f"Got {item!r}."
                )

    def _thread_count(self, module, device):
        """One thread for steps too small to split; None keeps torch's count."""
        if device.type == "cpu" and step_flops(module, self.batch_size) < SMALL_STEP_FLOPS:
            return 1
        return None

    @staticmethod
    def _to_training_tensor(A, dtype, device):
        """A tensor of A; on the CPU it shares A's memory when A already has ``dtype``.

        A scipy sparse A stays sparse on the host, its batches densified one by one;
        a memory-mapped A stays in its file, its batches read and converted one
        by one, in an order that reads the file in runs (:mod:`skae._chunks`).
        """
        if sparse.issparse(A):
            return SparseRows(A)
        if is_memory_mapped(A):
            return MappedRows(_read_only_tensor(np.asarray(A)), dtype)
        tensor = _read_only_tensor(
            np.ascontiguousarray(A, dtype=torch.empty((), dtype=dtype).numpy().dtype)
        )
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
            # The fused kernel does one pass over all parameters per step;
            # on CUDA a capturable one lets the whole step be replayed from a
            # CUDA graph.
            settings["fused"] = True
            if device.type == "cuda":
                settings["capturable"] = True
        elif self.optimizer == "sgd":
            settings["momentum"] = 0.9
        return OPTIMIZERS[self.optimizer], settings

    def _callbacks(self, n_samples, *, streaming):
        callbacks = [
            ("stop_on_divergence", StopOnDivergence()),
            ("last_epoch_weights", LastEpochWeights()),
        ]
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
                    LRScheduler(
                        CosineAnnealingLR, T_max=self._epoch_budget(n_samples), last_epoch=-1
                    ),
                )
            )
        if self.verbose and not streaming:
            callbacks.append(("progress_bar", EpochProgressBar(self._epoch_budget(n_samples))))
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
            **self._loop_settings(n_samples, device, streaming=streaming),
        )
        return net.initialize()

    def _update_training_settings(self, net, n_samples, device, *, streaming):
        """Apply the current training parameters to a fitted net before it continues."""
        optimizer, optimizer_settings = self._optimizer_settings(device)
        used = {k[len("optimizer__"):]: v for k, v in vars(net).items()
                if k.startswith("optimizer__")}
        if optimizer is not net.optimizer or optimizer_settings != used:
            # A new optimizer (or new settings, such as weight decay) starts
            # with fresh state; the old one's settings must not leak into it.
            for key in used:
                delattr(net, f"optimizer__{key}")
            net.optimizer = optimizer
            for key, value in optimizer_settings.items():
                setattr(net, f"optimizer__{key}", value)
            net.initialize_optimizer()
        net.set_params(**self._loop_settings(n_samples, device, streaming=streaming))
        # set_params initialises the callbacks before it swaps the list in.
        net.initialize_callbacks()
        net.penalties = self._penalties()
        net.lr = self.learning_rate
        # A finished cosine schedule leaves the rate near zero.
        for group in net.optimizer_.param_groups:
            group["lr"] = self.learning_rate

    def _loop_settings(self, n_samples, device, *, streaming):
        """The net's settings that a warm start may change between fits."""
        return dict(
            precision=self.precision if device.type == "cuda" else "float32",
            batch_size=self.batch_size,
            max_epochs=self._epoch_budget(n_samples),
            validation_fraction=(
                self.validation_fraction if self.early_stopping and not streaming else None
            ),
            callbacks=self._callbacks(n_samples, streaming=streaming),
            verbose=int(self.verbose),
        )

    def _set_fitted_attributes(self, net):
        self.net_ = net
        self.n_iter_ = len(net.history)
        self.loss_curve_ = list(net.history[:, "train_loss"])
        if self.early_stopping:
            self.validation_scores_ = [
                -row["valid_loss"] for row in net.history if "valid_loss" in row
            ]
        else:
            vars(self).pop("validation_scores_", None)

    # ------------------------------------------------------------- inference
    def _scans_input_on_host(self):
        """Whether inference input is checked for NaN and infinity before it is sent.

        A CUDA model checks each chunk on the device instead, where the
        scan is far faster than numpy's on the host.
        """
        return next(self.module_.parameters()).device.type != "cuda"

    def _apply(self, fn, A):
        """``fn(module, batch)`` over the rows of A, chunk by chunk, in A's float dtype.

        Inference runs in the dtype of A (float32 or float64): float32 input
        computes in float32 with the fitted weights themselves, float64 input
        in float64 with a float64 copy of them made once per fitted state.
        Each chunk of A is converted on its own, so no copy of the whole
        input is made, and the result is written into one output array.
        Results do not depend on which other rows are in A up to the dtype's
        rounding: float32 matrix products blocked differently for different
        batch sizes may differ in the last bits, float64 ones by ~1e-16.
        """
        dtype = np.dtype(A.dtype)
        module = self._inference_module(_TORCH_DTYPES[dtype])
        device = next(module.parameters()).device
        on_cuda = device.type == "cuda"
        with torch.inference_mode():
            n_rows = A.shape[0]
            chunk_rows = _INFERENCE_CHUNK
            if sparse.issparse(A):
                row_bytes = A.shape[1] * dtype.itemsize
                chunk_rows = max(1, min(chunk_rows, _DENSIFIED_CHUNK_BYTES // row_bytes))
            if n_rows <= chunk_rows and not on_cuda:
                # One chunk: the result is the output, with no copy into it.
                return fn(module, _read_only_tensor(dense_block(A))).numpy()
            out = None
            for start in range(0, n_rows, chunk_rows):
                chunk = _read_only_tensor(dense_block(A[start : start + chunk_rows]))
                chunk = chunk.to(device, non_blocking=True)
                if on_cuda:
                    _check_finite(chunk)
                result = fn(module, chunk).cpu().numpy()
                if out is None:
                    out = np.empty((n_rows, *result.shape[1:]), dtype=dtype)
                out[start : start + len(result)] = result
        return out

    def _inference_module(self, dtype):
        module = self.module_
        if module.training:
            module.eval()
        if dtype == torch.float32:
            return module
        state = tuple((t.data_ptr(), t._version) for t in module.state_dict().values())
        cached = _FLOAT64_MODULES.get(module)
        if cached is None or cached[0] != state:
            with torch.no_grad():
                cached = (state, _float64_copy(module))
            _FLOAT64_MODULES[module] = cached
        return cached[1]


def _drop_weight_snapshots(net):
    """Forget the copies of the weights callbacks kept while training.

    They are of no use once training ends, and a pickle would carry them
    outside skorch's device mapping: a model trained on CUDA would then not
    load where there is none.
    """
    for _, callback in net.callbacks_:
        if isinstance(callback, LastEpochWeights):
            callback.weights_ = None
        if isinstance(callback, EarlyStopping):
            callback.best_model_weights_ = None


def _check_finite(tensor):
    """Refuse NaN or infinity, in scikit-learn's words, wherever the tensor lives."""
    if torch.isfinite(tensor).all():
        return
    if torch.isnan(tensor).any():
        raise ValueError("Input X contains NaN.")
    raise ValueError("Input X contains infinity or a value too large for dtype('float32').")


def _read_only_tensor(array):
    """A tensor sharing ``array``'s memory, which skae only ever reads."""
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        # So a read-only array (a memmap opened "r") needs no copy.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def _float64_copy(module):
    return copy.deepcopy(module).to(torch.float64).eval()
