"""The base of every estimator backed by one torch module, on the engine's calls.

:class:`TorchEstimatorMixin` turns an estimator's flat parameters into one
skorch net, trains it reproducibly on the chosen device through the engine,
keeps the estimator unchanged when a fit fails, and runs inference chunk by
chunk in the input's dtype. A family supplies two methods: ``training_spec``
(what to train) and ``fitted_attributes`` (what the trained net means for
the estimator).
"""

import copy
import functools
import inspect
import itertools
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from .._array_api import ArrayAPIMixin, fit_namespace, in_fit_namespace
from .._compat import Interval, StrOptions
from .._engine._data_parallel import training_engine
from .._engine._feedback import EpochProgressBar, close_progress_bars, warn_if_not_converged
from .._engine._inference import apply_module, weights_changed
from .._engine._net import LastEpochWeights, StopOnDivergence
from .._engine._nets import OPTIMIZERS, drop_training_references, make_net
from .._engine._runtime import (
    SMALL_STEP_FLOPS,
    seeded,
    step_flops,
    torch_threads,
    training_draws,
)
from .._engine._sources import check_finite, to_training_tensor
from .._engine._spec import TrainingSpec
from .._engine._stages import in_run, Run
from ..exceptions import TrainingInterrupted, TrainingInterruptedWarning

# Rows (and at most this many values) of the training data on which the loss
# of a model that learned nothing is measured, the yardstick for divergence.
_REFERENCE_ROWS = 1024


_REFERENCE_VALUES = 2**20


def draw_seed(random_state):
    """A torch seed from ``random_state``.

    None draws fresh entropy rather than from numpy's global generator, so
    that a fit leaves the caller's random state untouched.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        The estimator's ``random_state`` parameter.

    Returns
    -------
    seed : int
        A seed below 2**31.
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
        with seeded(seed, device), in_run(Run(functools.partial(self._make_net, device=device, streaming=False), device)):
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
            check_finite(X_tensor)
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
    criterion : type
        The loss class.
    criterion_params : dict
        Its parameters.
    optimizer : type
        The optimizer class.
    optimizer_params : dict
        Its parameters.
    device : torch.device
        Where the net trains.
    settings : dict
        The net's training settings, as :func:`describe_net` gives them.

    Returns
    -------
    net : skorch.NeuralNet
        The initialised net, its optimizer fresh.
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
