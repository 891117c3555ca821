"""The fit skeleton every skae estimator shares: net, callbacks, device, seeds.

:class:`TorchEstimatorMixin` turns an estimator's flat parameters into one
:class:`~skae._engine._net.AutoencoderNet`, trains it reproducibly on the chosen
device, keeps the estimator unchanged when a fit fails, and runs inference
chunk by chunk in the input's dtype. An estimator supplies two methods, the
extension contract of :mod:`skae._engine._spec`: ``training_spec`` (what to train)
and ``fitted_attributes`` (what the trained net means for the estimator).
"""

import contextlib
import contextvars
import copy
import functools
import inspect
import itertools
import threading
import warnings
import weakref
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import torch
from scipy import sparse
from sklearn.utils import check_random_state
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from .._array_api import ArrayAPIMixin, fit_namespace, in_fit_namespace
from .._compat import Interval, StrOptions
from ._data_parallel import training_engine
from ._chunks import MappedRows, is_memory_mapped
from ._feedback import EpochProgressBar, close_progress_bars, warn_if_not_converged
from ._net import AutoencoderNet, LastEpochWeights, StopOnDivergence
from ._rows import SparseRows, dense_block
from ._runtime import SMALL_STEP_FLOPS, seeded, step_flops, torch_threads, training_draws
from ..exceptions import TrainingInterrupted, TrainingInterruptedWarning
from ._spec import TrainingSpec

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
        weights_changed(net.module_)


def restore_on_failure(fit_method):
    """Decorate a fit method: if it raises, the estimator is put back as it was.

    A fresh fit that fails leaves the estimator unfitted; a continued one
    (``partial_fit``, ``warm_start``) leaves the previous model, weights,
    optimizer state and attributes. The one exception is a Ctrl-C after a
    completed epoch (:class:`TrainingInterrupted`), which keeps that
    epoch's model. Every skae ``fit`` and ``partial_fit`` is decorated with it.

    Parameters
    ----------
    fit_method : callable
        A method ``fit(self, X, ...)`` that changes the estimator.

    Returns
    -------
    fit : callable
        The method, restoring the estimator's state when it raises.
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


class TorchEstimatorMixin(ArrayAPIMixin):
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

    # ------------------------------------------------------------- contract
    def training_spec(self, X, y=None, *, fitted_module=None, streaming=False):
        """What to train on X: the module, the loss and the epoch budget.

        The engine calls this once per ``fit`` or ``partial_fit``, under the
        fit's seed and inside its failure-safe region, after X has been
        validated. Checks that need the data raise here, before any training.

        Parameters
        ----------
        X : ndarray, scipy sparse matrix or numpy.memmap of shape (n_samples, n_features)
            The validated training data.
        y : ndarray of shape (n_samples,) or None, default=None
            Targets, for estimators that have them.
        fitted_module : torch.nn.Module or None, default=None
            The fitted module when training continues (``partial_fit``,
            ``warm_start``); None when a new model is built.
        streaming : bool, default=False
            Whether this is a ``partial_fit`` call.

        Returns
        -------
        spec : TrainingSpec
            The module (``fitted_module`` itself when continuing), criterion,
            extra loss terms, callbacks and epoch budget.
        """
        raise NotImplementedError

    def fitted_attributes(self, net, X, spec):
        """The fitted attributes that describe the trained net.

        The engine calls this when training ends, and after a Ctrl-C with the
        model of the last completed epoch, inside the fit's failure-safe
        region; it sets the returned attributes in one step, beside the ones
        every estimator has (``net_``, ``n_iter_``, ``loss_curve_``,
        ``validation_scores_``).

        Parameters
        ----------
        net : skorch.NeuralNet
            The trained net, its module in eval mode.
        X : ndarray, scipy sparse matrix or numpy.memmap of shape (n_samples, n_features)
            The data of this call.
        spec : TrainingSpec
            What :meth:`training_spec` returned for this call.

        Returns
        -------
        attributes : dict
            Attribute names (ending in ``_``) and values.
        """
        return {}

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

    def __getstate__(self):
        # A copy: scikit-learn's __getstate__ may return the instance's own
        # __dict__, which the moves below must leave alone.
        state = dict(super().__getstate__())
        # A module given as a parameter (a user's ``encoder=``) is pickled by
        # torch's plain pickling, outside the net's device mapping: written
        # from the CPU, it loads where there is no CUDA too.
        for name in self._get_param_names():
            value = state.get(name)
            if isinstance(value, torch.nn.Module) and any(
                tensor.device.type != "cpu"
                for tensor in itertools.chain(value.parameters(), value.buffers())
            ):
                state[name] = copy.deepcopy(value).cpu()
        # Fitted arrays kept as CUDA tensors (array API dispatch) are written
        # from the CPU too, and go back to their device on load where it
        # exists, as skorch does with the net.
        devices = {}
        for name, value in state.items():
            if isinstance(value, torch.Tensor) and value.device.type != "cpu":
                state[name], devices[name] = value.cpu(), str(value.device)
        if devices:
            state["_tensor_devices"] = devices
        return state

    def __setstate__(self, state):
        devices = state.pop("_tensor_devices", {})
        on_cpu = False
        for name, device in devices.items():
            if torch.device(device).type != "cuda" or torch.cuda.is_available():
                state[name] = state[name].to(device)
            else:
                on_cpu = True
        if on_cpu and state.get("_fit_namespace") is not None:
            # The attributes now live on the CPU: inputs are expected there.
            state["_fit_namespace"] = state["_fit_namespace"]._replace(device="cpu")
        super().__setstate__(state)

    # -------------------------------------------------------------- training
    def train(self, X, y=None, *, resume=False, streaming=False):
        """The engine's fit: train on X as ``training_spec`` describes, then set the fitted state.

        What a family's ``fit`` and ``partial_fit`` call once they have
        validated X (decorated with :func:`~skae.extend.restore_on_failure`,
        so that a failure leaves the estimator as it was): the engine seeds
        the run, asks :meth:`training_spec` for the module and its loss,
        trains it on the estimator's device with its settings, and sets the
        attributes :meth:`fitted_attributes` returns, in one step.

        Parameters
        ----------
        X : ndarray, scipy sparse matrix, numpy.memmap or torch.Tensor of shape (n_samples, n_features)
            The validated training data.
        y : ndarray of shape (n_samples,) or None, default=None
            Targets, for estimators that have them.
        resume : bool, default=False
            Continue the fitted model (a warm start, ``partial_fit``) instead
            of building a new one.
        streaming : bool, default=False
            One pass over X, as ``partial_fit`` trains.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        # This process alone, or all processes of a data_parallel block.
        engine = training_engine()
        device = engine.device(self.device)
        self._check_callbacks()
        self._optimizer_settings(device)  # raises on a bad optimizer, before any work
        if resume:
            self._check_same_model(device)
        seed = engine.shared_seed(draw_seed(self.random_state))
        with seeded(seed, device), _in_run(_Run(self, device)):
            spec = self.training_spec(
                X, y, fitted_module=self.module_ if resume else None, streaming=streaming
            )
        try:
            with training_draws(seed, device):
                self._run(spec, X, device, engine, resume=resume, streaming=streaming)
        finally:
            if spec.release is not None:
                spec.release()
        return self

    def _run(self, spec, X, device, engine, *, resume, streaming):
        epochs = 1 if streaming else spec.epochs
        if resume:
            net = self.net_
            self._update_training_settings(net, spec, device, streaming=streaming)
        else:
            net = self._make_net(spec, device, streaming=streaming)
        architecture = self._architecture() if not resume else self._fitted_architecture
        rows = X if spec.inputs is None else spec.inputs
        X_tensor = to_training_tensor(rows, torch.float32, device)
        if X_tensor.device.type == "cuda":
            _check_finite(X_tensor)
        y_tensor = None if spec.target is None else to_training_tensor(
            np.asarray(spec.target), torch.int64, device
        )
        if spec.reconstruction_weight is not None:
            net.reconstruction_weight = spec.reconstruction_weight
        callbacks = dict(net.callbacks_)
        epochs_before = len(net.history)
        with torch_threads(self._thread_count(net.module_, device)):
            # On the training's threads: a small net's reference pass split
            # over busy cores costs more than all its training steps.
            callbacks["stop_on_divergence"].reference_loss = net.reference_loss(
                X_tensor, y_tensor,
                n_rows=max(1, min(_REFERENCE_ROWS, _REFERENCE_VALUES // rows.shape[1])),
            )
            try:
                with engine.training(net):
                    net.partial_fit(X_tensor, y_tensor, epochs=epochs)
            except KeyboardInterrupt as interrupt:
                last_epoch = callbacks["last_epoch_weights"]
                if last_epoch.epoch_ is None or last_epoch.epoch_ <= epochs_before:
                    raise
                del net.history[last_epoch.epoch_ :]
                net.module_.load_state_dict(last_epoch.weights_)
                self._set_fitted_state(net, X, spec, architecture, resume=resume)
                message = (
                    f"{type(self).__name__} training was interrupted during epoch "
                    f"{last_epoch.epoch_ + 1}; the estimator keeps the model at the end of "
                    f"epoch {last_epoch.epoch_}."
                )
                warnings.warn(message, TrainingInterruptedWarning, stacklevel=5)
                raise TrainingInterrupted(message, self) from interrupt
            finally:
                weights_changed(net.module_)
                drop_training_references(net)
                close_progress_bars(net)
        self._set_fitted_state(net, X, spec, architecture, resume=resume)
        if not streaming:
            warn_if_not_converged(self, net, len(net.history) - epochs_before, epochs)

    def _set_fitted_state(self, net, X, spec, architecture, *, resume):
        """Every fitted attribute, derived from the trained net and set in one step."""
        net.module_.eval()
        attributes = {
            "net_": net,
            "n_iter_": len(net.history),
            "loss_curve_": list(net.history[:, "train_loss"]),
            "_fitted_architecture": architecture,
        }
        if self.early_stopping:
            attributes["validation_scores_"] = [
                -row["valid_loss"] for row in net.history if "valid_loss" in row
            ]
        attributes.update(self.fitted_attributes(net, X, spec))
        # Array attributes in the namespace and on the device of the fit's input.
        attributes = in_fit_namespace(attributes, fit_namespace())
        # A new model owes nothing to the previous one: what that fit set
        # and this one does not goes.
        previous = set(vars(self).get("_fitted_names", ()))
        for name in ({"validation_scores_"} if resume else previous | {"validation_scores_"}) \
                - set(attributes):
            vars(self).pop(name, None)
        attributes["_fitted_names"] = tuple(sorted(set(attributes) | (previous if resume else set())))
        vars(self).update(attributes)

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

    def _optimizer_settings(self, device):
        # Only a non-zero weight decay is passed, so that optimizers without
        # the argument (LBFGS) work at the default.
        settings = {"weight_decay": self.weight_decay} if self.weight_decay else {}
        if not isinstance(self.optimizer, str):
            if not (isinstance(self.optimizer, type)
                    and issubclass(self.optimizer, torch.optim.Optimizer)):
                raise TypeError(
                    f"The 'optimizer' parameter must be one of {sorted(OPTIMIZERS)} or a "
                    f"subclass of torch.optim.Optimizer; got {self.optimizer!r}."
                )
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

    def _penalties(self):
        """Weighted extra loss terms: a list of (weight, callable(output)); none by default."""
        return []

    def _callbacks(self, spec, *, streaming):
        callbacks = [
            ("stop_on_divergence", StopOnDivergence()),
            ("last_epoch_weights", LastEpochWeights()),
            *spec.callbacks,
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
                    LRScheduler(CosineAnnealingLR, T_max=spec.epochs, last_epoch=-1),
                )
            )
        if self.verbose and not streaming:
            callbacks.append(("progress_bar", EpochProgressBar(spec.epochs)))
        return callbacks + list(self.callbacks or [])

    def _make_net(self, spec, device, *, streaming):
        """An initialised net for ``spec`` with this estimator's training settings."""
        return make_net(
            spec.module, spec.criterion, spec.criterion_params, spec.penalties,
            *self._optimizer_settings(device),
            lr=self.learning_rate, device=device,
            **self._loop_settings(spec, device, streaming=streaming),
        )

    def _update_training_settings(self, net, spec, device, *, streaming):
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
        net.set_params(**self._loop_settings(spec, device, streaming=streaming))
        # set_params initialises the callbacks before it swaps the list in.
        net.initialize_callbacks()
        net.penalties = spec.penalties
        net.lr = self.learning_rate
        # A finished cosine schedule leaves the rate near zero.
        for group in net.optimizer_.param_groups:
            group["lr"] = self.learning_rate

    def _loop_settings(self, spec, device, *, streaming):
        """The net's settings that a warm start may change between fits."""
        return dict(
            precision=self.precision if device.type == "cuda" else "float32",
            batch_size=self.batch_size,
            max_epochs=spec.epochs,
            validation_fraction=(
                self.validation_fraction if self.early_stopping and not streaming else None
            ),
            callbacks=self._callbacks(spec, streaming=streaming),
            verbose=int(self.verbose),
        )

    # ------------------------------------------------------------- inference
    def _scans_input_on_host(self):
        """Whether inference input is checked for NaN and infinity before it is sent.

        A CUDA model checks each chunk on the device instead, where the
        scan is far faster than numpy's on the host.
        """
        return next(self.module_.parameters()).device.type != "cuda"

    def _apply(self, fn, A, module=None):
        """``fn(module, batch)`` over the rows of A, chunk by chunk, in A's float dtype.

        ``module`` defaults to the fitted one; ``fitted_attributes`` passes
        the net's, which the estimator does not hold yet.

        Inference runs in the dtype of A (float32 or float64): float32 input
        computes in float32 with the fitted weights themselves, float64 input
        in float64 with a float64 twin holding the current weights.
        Each chunk of A is converted on its own, so no copy of the whole
        input is made, and the result is written into one output array.
        Results do not depend on which other rows are in A up to the dtype's
        rounding: float32 matrix products blocked differently for different
        batch sizes may differ in the last bits, float64 ones by ~1e-16.
        """
        return apply_module(fn, A, self.module_ if module is None else module)


class _Run(NamedTuple):
    """The fit in progress: its estimator and the device it trains on."""

    estimator: object
    device: torch.device


# The fit whose training_spec is running, for the stages it trains (each
# thread sees its own).
_CURRENT_RUN = contextvars.ContextVar("skae_current_run", default=None)


@contextlib.contextmanager
def _in_run(run):
    token = _CURRENT_RUN.set(run)
    try:
        yield
    finally:
        _CURRENT_RUN.reset(token)


def train_stage(spec, X):
    """Train a stage of the fit in progress (a pretraining layer, an inner model) on X.

    Called from a family's ``training_spec``: the stage's module is trained
    as ``spec`` describes, with the estimator's training settings, on the
    device, under the seed and with the precision of the fit that called
    it, and the trained skorch net is returned (its module on that device,
    its ``history`` the stage's). Nothing of the stage is kept by the
    estimator unless the family puts it in its spec.

    Parameters
    ----------
    spec : TrainingSpec
        The stage: its module, loss, penalties and epochs.
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        The rows the stage trains on (a previous stage's codes, say).

    Returns
    -------
    net : skorch.NeuralNet
        The trained net of the stage.
    """
    run = _CURRENT_RUN.get()
    if run is None:
        raise RuntimeError(
            "train_stage trains a stage of a fit in progress: call it from the "
            "family's training_spec."
        )
    net = run.estimator._make_net(spec, run.device, streaming=False)
    rows = to_training_tensor(X, torch.float32, run.device)
    with torch.enable_grad():
        net.partial_fit(rows, epochs=spec.epochs)
    drop_training_references(net)
    close_progress_bars(net)
    return net


def apply_module(fn, X, module):
    """``fn(module, rows)`` over the rows of X, chunk by chunk, in X's float dtype.

    How every skae estimator runs inference, for a family's
    ``fitted_attributes`` too: X (a float32 or float64 ndarray, scipy sparse
    matrix or memmap) is converted a chunk at a time and never copied whole;
    float64 rows compute with a float64 twin of the module holding its
    current weights; the module runs in eval mode under
    ``torch.inference_mode``, on its own device. ``fn`` returns a tensor
    with one row per input row.

    Parameters
    ----------
    fn : callable
        ``fn(module, rows) -> torch.Tensor``, such as
        ``lambda module, rows: module.encode(rows)``.
    X : ndarray, sparse matrix or memmap of shape (n_samples, n_features)
        Validated float rows.
    module : torch.nn.Module
        The module, typically ``net.module_``.

    Returns
    -------
    result : ndarray of shape (n_samples, ...)
        ``fn``'s rows, in X's dtype.
    """
    if isinstance(X, torch.Tensor):
        return _apply_to_tensor(fn, X, module)
    dtype = np.dtype(X.dtype)
    if dtype == np.float32:
        # The fitted weights themselves: no context to enter on the path a
        # one-row transform takes.
        if module.training:
            module.eval()
        return _apply_in(fn, X, module, dtype)
    with _inference_module(module, _TORCH_DTYPES[dtype]) as in_dtype:
        return _apply_in(fn, X, in_dtype, dtype)


def _inference_module(module, dtype):
    """A context giving ``module`` in ``dtype``, with its current weights, in eval mode."""
    if module.training:
        module.eval()
    if dtype == torch.float32:
        return contextlib.nullcontext(module)
    return float64_view(module)


def _apply_in(fn, A, module, dtype):
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


def _apply_to_tensor(fn, X, module):
    """``fn(module, rows)`` over a torch tensor's rows, returned on X's device in X's dtype.

    Under scikit-learn's array API dispatch the rows of a tensor never pass
    through NumPy: chunks go to the module's device (none move when both are
    the same) and the results back to X's. The results are ordinary tensors
    (``no_grad``, not ``inference_mode``), which a caller's own training may
    use.
    """
    with _inference_module(module, X.dtype) as in_dtype:
        device = next(in_dtype.parameters()).device
        results = []
        with torch.no_grad():
            for start in range(0, X.shape[0], _INFERENCE_CHUNK):
                chunk = X[start : start + _INFERENCE_CHUNK].to(device, non_blocking=True)
                if device.type == "cuda":
                    _check_finite(chunk)
                results.append(fn(in_dtype, chunk).to(X.device))
    return results[0] if len(results) == 1 else torch.cat(results)


def to_training_tensor(A, dtype, device):
    """A tensor of A; on the CPU it shares A's memory when A already has ``dtype``.

    A torch tensor stays on its device when it is a CUDA one; a scipy sparse A
    stays sparse on the host, its batches densified one by one;
    a memory-mapped A stays in its file, its batches read and converted one
    by one, in an order that reads the file in runs (:mod:`skae._engine._chunks`).
    """
    if isinstance(A, torch.Tensor):
        # Rows given as a tensor (array API dispatch) train where they are
        # when that is the training device: a CUDA tensor never visits the host.
        tensor = A.detach().to(dtype=dtype)
        if device.type != "cuda" or tensor.device.type == "cuda":
            return tensor.to(device)
    elif sparse.issparse(A):
        return SparseRows(A)
    elif is_memory_mapped(A):
        return MappedRows(A, dtype)
    else:
        tensor = _read_only_tensor(
            np.ascontiguousarray(A, dtype=torch.empty((), dtype=dtype).numpy().dtype)
        )
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if tensor.numel() * tensor.element_size() <= _DEVICE_RESIDENT_SHARE * free:
            return tensor.to(device)
        return tensor.pin_memory()
    return tensor


def drop_training_references(net):
    """Forget what the callbacks kept of the model while training.

    Copies of the weights (the last epoch's, early stopping's best) and
    references to the optimizer (a learning-rate scheduler's) are of no use
    once training ends, and a pickle would carry them a second time, outside
    skorch's device mapping: a model trained on CUDA would then not load
    where there is none. A callback's fitted attributes (named with a
    trailing underscore) that hold tensors, a module or an optimizer are
    reset to None; the next fit initialises them again.
    """
    for _, callback in net.callbacks_:
        for name, value in list(vars(callback).items()):
            if name.endswith("_") and not name.startswith("_") and _holds_model_state(value):
                setattr(callback, name, None)


def _holds_model_state(value, depth=0):
    if isinstance(value, (torch.Tensor, torch.nn.Module, torch.optim.Optimizer,
                          torch.optim.lr_scheduler.LRScheduler)):
        return True
    if depth < 3 and isinstance(value, dict):
        return any(_holds_model_state(v, depth + 1) for v in value.values())
    if depth < 3 and isinstance(value, (list, tuple)):
        return any(_holds_model_state(v, depth + 1) for v in value)
    return False


# The net's settings besides its module, criterion and optimizer: the ones
# make_net takes, and the loss weight a continued fit keeps.
_NET_SETTINGS = (
    "lr", "batch_size", "max_epochs", "precision", "validation_fraction", "verbose",
    "reconstruction_weight",
)


def describe_net(net):
    """What rebuilds a fitted estimator's net: for services that save a model.

    Parameters
    ----------
    net : skorch.NeuralNet
        A fitted estimator's ``net_``.

    Returns
    -------
    description : dict
        ``module`` (the fitted module), ``criterion`` and ``optimizer``
        (classes), ``criterion_params`` and ``optimizer_params`` (dicts),
        ``device`` (a string) and ``settings`` (the net's training settings),
        which :func:`rebuild_net` takes back.

    Raises
    ------
    TypeError
        If ``net`` is not the engine's own net.
    """
    if type(net) is not AutoencoderNet:
        raise TypeError("only the skae engine's own net can be described")
    attributes = vars(net)
    return {
        "module": net.module_,
        "criterion": net.criterion,
        "criterion_params": _prefixed(attributes, "criterion__"),
        "optimizer": net.optimizer,
        "optimizer_params": _prefixed(attributes, "optimizer__"),
        "device": str(net.device),
        "settings": {name: attributes[name] for name in _NET_SETTINGS},
    }


def rebuild_net(estimator, module, *, criterion, criterion_params, optimizer, optimizer_params,
                device, settings):
    """The engine's net for ``estimator`` around a restored ``module``, as a fit builds it.

    For services that load a saved model: the estimator's loss terms and the
    engine's callbacks (those of a ``partial_fit`` pass: every continued fit
    sets its own before it trains) are the estimator's own; the rest comes
    from what :func:`describe_net` returned. The net is initialised, with a
    fresh optimizer whose state the caller may then load.

    Parameters
    ----------
    estimator : TorchEstimatorMixin
        The estimator the net belongs to.
    module : torch.nn.Module
        The restored module.
    criterion, optimizer : type
        The loss and optimizer classes.
    criterion_params, optimizer_params : dict
        Their parameters.
    device : torch.device
        Where the net trains.
    settings : dict
        The net's training settings, as :func:`describe_net` gives them.

    Returns
    -------
    net : skorch.NeuralNet
    """
    penalties = estimator._penalties()
    spec = TrainingSpec(module=module, epochs=settings["max_epochs"], criterion=criterion,
                        criterion_params=criterion_params, penalties=penalties)
    net = make_net(
        module, criterion, criterion_params, penalties, optimizer, optimizer_params,
        lr=settings["lr"], device=device, precision=settings["precision"],
        batch_size=settings["batch_size"], max_epochs=settings["max_epochs"],
        validation_fraction=settings["validation_fraction"], verbose=settings["verbose"],
        callbacks=estimator._callbacks(spec, streaming=True),
    )
    net.reconstruction_weight = settings["reconstruction_weight"]
    return net


def _prefixed(settings, prefix):
    return {k[len(prefix):]: v for k, v in settings.items() if k.startswith(prefix)}


def make_net(module, criterion, criterion_params, penalties, optimizer, optimizer_params,
             **settings):
    """An initialised :class:`~skae._engine._net.AutoencoderNet` training ``module``."""
    net = AutoencoderNet(
        module=module,
        criterion=criterion,
        **{f"criterion__{k}": v for k, v in criterion_params.items()},
        optimizer=optimizer,
        **{f"optimizer__{k}": v for k, v in optimizer_params.items()},
        penalties=penalties,
        **settings,
    )
    return net.initialize()


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


class _Float64Copies:
    """Float64 twins of fitted modules, rebuilt only when the weights change.

    A float64 forward pass needs float64 weights. A twin is kept while its
    module's weights are unchanged, keyed on the identity, storage and
    version counter of every parameter and buffer and on the module's
    training generation: an optimizer step, ``load_state_dict``, an
    assignment to ``.data`` or a replaced parameter each change the key, and
    every training run the engine completes (a ``fit``, ``partial_fit``, warm
    start, or a failed fit whose weights were put back) advances the
    generation, which covers steps a captured CUDA graph replays outside the
    version counters. The next float64 pass then builds a new twin. A twin is
    never changed once built, so a pass that holds one while another thread
    builds the next computes with the weights of the moment it began; the
    lock guards the table only, never a pass (a module's forward may run a
    float64 pass of its own).
    """

    def __init__(self):
        self._twins = weakref.WeakKeyDictionary()
        self._generations = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def twin(self, module):
        key = self._key(module)
        with self._lock:
            entry = self._twins.get(module)
        if key is not None and entry is not None and entry[0] == key:
            return entry[1]
        with torch.no_grad():
            twin = copy.deepcopy(module).to(torch.float64).eval()
        with self._lock:
            self._twins[module] = (key, twin)
        return twin

    def weights_changed(self, module):
        with self._lock:
            self._generations[module] = self._generations.get(module, 0) + 1

    def _key(self, module):
        """What identifies the module's current weights; None where it cannot be told."""
        with self._lock:
            generation = self._generations.get(module, 0)
        try:
            tensors = tuple(
                (id(tensor), tensor._version, tensor.data_ptr(), tensor.dtype, tensor.device,
                 tuple(tensor.shape))
                for tensor in itertools.chain(module.parameters(), module.buffers())
            )
        except RuntimeError:
            # An inference tensor keeps no version counter: such a module's
            # twin is built afresh at every pass.
            return None
        return generation, tensors


_FLOAT64 = _Float64Copies()


def weights_changed(module):
    """Mark that a training run changed ``module``'s weights (its float64 twin is rebuilt)."""
    _FLOAT64.weights_changed(module)


def float64_view(module):
    """A context giving a float64 twin of ``module`` that holds its current weights."""
    return contextlib.nullcontext(_FLOAT64.twin(module))
