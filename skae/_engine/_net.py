"""The one skorch net that trains every skae estimator.

Three things differ from skorch's ``NeuralNet``:

* batching: the data arrive as tensors and each batch is gathered by index
  from a per-epoch permutation, instead of a ``Dataset.__getitem__`` per
  sample plus a collate per batch (which dominates an epoch for small nets)
  and without a shuffled copy of the data (which doubles its memory);
* the loss: ``get_loss`` composes the weighted reconstruction loss with the
  weighted extra terms a family adds (KL divergence, sparsity), all reading
  the module's :class:`~skae.nn.AutoencoderOutput`;
* interruption: a ``KeyboardInterrupt`` propagates (skorch's ``partial_fit``
  swallows it), so that the estimator decides what the user gets.

The epoch loop records one loss per epoch instead of one Python float per
batch, so a step never waits for the device.
"""

import contextlib
import math

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer, LRScheduler, PassthroughScoring
from skorch.utils import TeeGenerator

from .._compat import is_best_score, map_to_cpu_on_load, set_training_mode
from ._captured import CapturedTrainStep, capture_unsupported_reason, precision_settings
from ._feedback import EpochTable
from ._lean import LeanDenseStep, lean_step_unsupported_reason
from ._runtime import watch_interrupts
from ..nn._random import training_generator
from ..exceptions import TrainingDivergedError
from ..nn import AutoencoderOutput


class RowSubset:
    """Aligned tensors and the rows of them that form one split (None: all)."""

    def __init__(self, tensors, rows=None):
        self.tensors = tensors
        self.rows = rows

    def __len__(self):
        return len(self.tensors[0]) if self.rows is None else len(self.rows)


class GatheredBatches:
    """Batches of a :class:`RowSubset`, gathered by index in (shuffled) row order.

    Tensors that are the same object (an autoencoder's input and target)
    are gathered once per batch.
    """

    def __init__(self, subset, batch_size, *, shuffle, device):
        self.subset = subset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = device

    def __len__(self):
        return math.ceil(len(self.subset) / self.batch_size)

    def row_order(self):
        """The rows of one pass, as an index tensor (None: all rows, in order)."""
        rows, first = self.subset.rows, self.subset.tensors[0]
        if hasattr(first, "row_order"):
            # Rows in a memory-mapped file (skae._engine._chunks) are cheap to read
            # only in runs: they give their own order.
            return first.row_order(rows, shuffle=self.shuffle)
        if not self.shuffle:
            return rows
        n_rows = len(self.subset)
        order = torch.randperm(n_rows, device=first.device,
                               generator=training_generator(first.device))
        return order if rows is None else rows[order]

    def __iter__(self):
        distinct = {id(t): t for t in self.subset.tensors}
        order = self.row_order()
        for start in range(0, len(self.subset), self.batch_size):
            stop = start + self.batch_size
            if order is None:
                batch = {key: t[start:stop] for key, t in distinct.items()}
            else:
                index = order[start:stop]
                batch = {key: t.index_select(0, index) for key, t in distinct.items()}
            yield tuple(
                batch[id(t)].to(self.device, non_blocking=True) for t in self.subset.tensors
            )


_PER_BATCH_EVENTS = ("on_batch_begin", "on_batch_end", "on_grad_computed")


def _handles_batch_events(callback):
    if isinstance(callback, LRScheduler) and callback.step_every == "epoch":
        return False  # its on_batch_end returns at once
    return any(
        getattr(type(callback), event) is not getattr(Callback, event)
        for event in _PER_BATCH_EVENTS
    )


# An epoch loss this many times the reference loss (the worse of a trivial
# prediction and the untrained model) is divergence, not a bad start.
DIVERGENCE_FACTOR = 1e3


class StopOnDivergence(Callback):
    """Stop training with a clear error when an epoch's loss diverges.

    Parameters
    ----------
    reference_loss : float or None, default=None
        The loss of a model that learned nothing (the worse of a trivial
        prediction and the untrained net); an epoch loss above
        ``DIVERGENCE_FACTOR`` times it stops training. None checks for
        non-finite losses only.
    """

    def __init__(self, reference_loss=None):
        self.reference_loss = reference_loss

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1, "train_loss"]
        epoch = net.history[-1, "epoch"]
        if not math.isfinite(loss):
            problem = f"The training loss became {loss} at epoch {epoch}"
        elif self.reference_loss and loss > DIVERGENCE_FACTOR * self.reference_loss:
            problem = (
                f"The training loss reached {loss:.3g} at epoch {epoch}, more than "
                f"{DIVERGENCE_FACTOR:g} times that of a model that learned nothing "
                f"({self.reference_loss:.3g}): training diverged"
            )
        else:
            return
        raise TrainingDivergedError(
            f"{problem}; training was stopped and the weights before this fit call "
            f"kept. The learning rate ({net.lr}) is probably too high for this data: "
            "try a lower learning_rate, or scale the inputs (e.g. with StandardScaler)."
        )


class EpochLossScoring(PassthroughScoring):
    """skorch's ``PassthroughScoring`` for a loss the epoch loop records per epoch.

    It adds the ``<name>_best`` flag that skorch's ``Checkpoint``,
    ``PrintLog`` and friends read.
    """

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        if self.name not in row:
            return
        loss = row[self.name]
        is_best = is_best_score(self, loss)
        if is_best:
            self.best_score_ = loss
        net.history.record(self.name + "_best", bool(is_best))


class LastEpochWeights(Callback):
    """Keep a copy of the module's weights as they were at the end of the last epoch.

    An interrupted fit hands the user this model, not one updated by part of
    an epoch.
    """

    def initialize(self):
        self.weights_ = None
        self.epoch_ = None
        return self

    def on_epoch_end(self, net, **kwargs):
        self.weights_ = {
            name: tensor.detach().clone() for name, tensor in net.module_.state_dict().items()
        }
        self.epoch_ = net.history[-1, "epoch"]


class AutoencoderNet(NeuralNet):
    """skorch ``NeuralNet`` for modules that return ``AutoencoderOutput``.

    Parameters
    ----------
    module, criterion, **kwargs
        As for :class:`skorch.NeuralNet`; ``criterion`` compares the
        reconstruction (or, for a classifier head, the logits) with the target.
    penalties : sequence of (float, callable), default=()
        Extra loss terms: each callable takes the module output and returns a
        scalar tensor, which is added with its weight.
    reconstruction_weight : float, default=1.0
        Weight of the criterion in the loss (a linear autoencoder divides its
        squared error by the data's variance, so that its optimisation does
        not depend on the data's scale).
    validation_fraction : float or None, default=None
        Fraction of the training rows held out (at random) to compute
        ``valid_loss`` each epoch.
    precision : {"float32", "tf32", "bfloat16"}, default="float32"
        Arithmetic of training steps on CUDA (see :mod:`skae._engine._captured`).

    Notes
    -----
    On CUDA, with the training rows on the device, a module that declares
    ``graph_capturable``, a capturable optimizer and no callback acting on
    single batches, each epoch's training steps
    are replays of a captured CUDA graph
    (:class:`~skae._engine._captured.CapturedTrainStep`); otherwise every step runs
    eagerly.
    """

    def __init__(
        self,
        module,
        *args,
        penalties=(),
        reconstruction_weight=1.0,
        validation_fraction=None,
        precision="float32",
        **kwargs,
    ):
        kwargs.setdefault("train_split", None)
        super().__init__(module, *args, **kwargs)
        self.penalties = penalties
        self.reconstruction_weight = reconstruction_weight
        self.validation_fraction = validation_fraction
        self.precision = precision

    def initialize(self):
        super().initialize()
        # The module is handed over as an instance, so the ``module``
        # parameter holds the very object ``module_`` does. skorch maps only
        # ``module_`` to the CPU when a pickle is loaded without CUDA, and
        # pickles it apart from the rest: the prefix sends both through that
        # path, as one object.
        map_to_cpu_on_load(self, "module")
        return self

    @property
    def _default_callbacks(self):
        # skorch's own defaults, with the epoch losses' "_best" flags computed
        # from the per-epoch losses this loop records.
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", EpochLossScoring(name="train_loss", on_train=True)),
            ("valid_loss", EpochLossScoring(name="valid_loss")),
            ("print_log", EpochTable()),
        ]

    def initialize_callbacks(self):
        super().initialize_callbacks()
        # Per-batch events cost three calls into every callback per step;
        # they are sent only when a callback acts on them. Without them the
        # history keeps no per-batch rows (nothing here reads them).
        self.batch_events_wanted_ = any(
            _handles_batch_events(callback) for _, callback in self.callbacks_
        )
        return self

    def notify(self, method_name, **cb_kwargs):
        if method_name in _PER_BATCH_EVENTS and not self.batch_events_wanted_:
            return
        super().notify(method_name, **cb_kwargs)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        # skorch's partial_fit returns normally on any KeyboardInterrupt, a
        # user's Ctrl-C included, which would hand back a half-trained model
        # as if training had finished. Only a callback's stop request (skorch's
        # EarlyStopping raises KeyboardInterrupt) ends training normally here.
        if not self.initialized_:
            self.initialize()
        self.notify("on_train_begin", X=X, y=y)
        try:
            with watch_interrupts() as interrupts, self._precision():
                try:
                    self.fit_loop(X, y, **fit_params)
                except KeyboardInterrupt:
                    if interrupts["fired"]:
                        raise
        finally:
            vars(self).pop("lean_step_", None)
            captured = vars(self).pop("captured_step_", None)
            if captured is not None:
                captured.release()
        self.notify("on_train_end", X=X, y=y)
        return self

    def _on_cuda(self):
        return torch.device(self.device).type == "cuda"

    def _precision(self):
        """The float32 math flags of ``precision``, on CUDA only."""
        if not self._on_cuda():
            return contextlib.nullcontext()
        return precision_settings(self.precision)

    def _autocast(self):
        if self.precision == "bfloat16" and self._on_cuda():
            return torch.autocast("cuda", dtype=torch.bfloat16)
        # Entering even a disabled autocast costs microseconds per step.
        return contextlib.nullcontext()

    def _captured_step(self, iterator):
        """The captured-step engine for a training epoch over ``iterator``, or None."""
        inputs, targets = iterator.subset.tensors
        if (
            not self._on_cuda()
            or inputs.device.type != "cuda"
            or not getattr(self.module_, "graph_capturable", False)
            or self.batch_events_wanted_
            or capture_unsupported_reason(self.optimizer_, inputs.device) is not None
        ):
            return None
        engine = vars(self).get("captured_step_")
        if engine is None or engine.inputs is not inputs or engine.batch_size != self.batch_size:
            if engine is not None:
                engine.release()
            engine = CapturedTrainStep(
                self.module_,
                self.optimizer_,
                self._captured_loss,
                inputs,
                None if targets is inputs else targets,
                batch_size=self.batch_size,
                precision=self.precision,
            )
            self.captured_step_ = engine
        return None if engine.fallback_reason else engine

    def _lean_step(self):
        """The hand-differentiated CPU step engine for a training epoch, or None.

        Whether it applies is checked when it is built, once per
        ``partial_fit`` call (it is dropped when the call ends) and again
        whenever the module, its parameters, the optimizer or the criterion
        change.
        """
        engine = vars(self).get("lean_step_")
        if (
            engine is not None
            and not self.batch_events_wanted_
            and engine.trains(self.module_, self.optimizer_, self.criterion_)
        ):
            return engine
        vars(self).pop("lean_step_", None)
        if self.lean_step_unsupported_reason() is not None:
            return None
        engine = LeanDenseStep(self.module_, self.optimizer_, self.criterion_)
        self.lean_step_ = engine
        return engine

    def lean_step_unsupported_reason(self):
        """Why training epochs run autograd steps rather than :class:`LeanDenseStep`'s.

        Returns None where the lean step trains: on the CPU, for a module
        that describes itself as an affine stack, with no callback acting on
        single batches, and with this class's own step, inference and loss
        (a subclass that overrides one of them gets its own).
        """
        if self._on_cuda():
            return "the lean step runs on the CPU"
        if self.batch_events_wanted_:
            return "a callback acts on single batches"
        for name in ("train_step", "train_step_single", "infer", "get_loss"):
            if getattr(type(self), name) is not getattr(AutoencoderNet, name):
                return f"{type(self).__name__} overrides {name}"
        return lean_step_unsupported_reason(self.module_, self.optimizer_, self.criterion_)

    def _captured_loss(self, X, y):
        return self.get_loss(self.infer(X), y, X=X, training=True)

    def reference_loss(self, X, y=None, *, n_rows):
        """The loss of a model that learned nothing, on up to ``n_rows`` rows of X.

        The worse of the all-zero prediction and the module as it is now, in
        eval mode (no noise drawn): a yardstick for divergence that neither
        the data's scale nor the module's initial biases can fool.
        """
        rows = torch.linspace(0, len(X) - 1, min(n_rows, len(X))).long()
        X_rows = X.index_select(0, rows.to(X.device)).to(self.device)
        y_rows = X_rows if y is None else y.index_select(0, rows.to(y.device)).to(self.device)
        was_training = self.module_.training
        self.module_.eval()
        try:
            with torch.no_grad():
                output = self.infer(X_rows)
                prediction = (
                    output.reconstruction if isinstance(output, AutoencoderOutput) else output
                )
                untrained = self.get_loss(output, y_rows)
                trivial = self.reconstruction_weight * self.criterion_(
                    torch.zeros_like(prediction), y_rows
                )
        finally:
            self.module_.train(was_training)
        return max(float(untrained), float(trivial))

    def get_split_datasets(self, X, y=None, **fit_params):
        tensors = (X, X if y is None else y)
        if not self.validation_fraction:
            return RowSubset(tensors), None
        n_valid = int(round(self.validation_fraction * len(X)))
        if n_valid < 1 or n_valid >= len(X):
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves {n_valid} of "
                f"{len(X)} samples for validation; both the training and the "
                "validation set need at least one sample."
            )
        order = torch.randperm(len(X), device=X.device, generator=training_generator(X.device))
        return RowSubset(tensors, order[n_valid:]), RowSubset(tensors, order[:n_valid])

    def get_iterator(self, dataset, training=False):
        return GatheredBatches(dataset, self.batch_size, shuffle=training, device=self.device)

    def _zero_grad_optimizer(self, set_to_none=None):
        super()._zero_grad_optimizer(set_to_none=True)

    def infer(self, x, **fit_params):
        return self.module_(x, **fit_params)

    def train_step(self, batch, **fit_params):
        if isinstance(self.optimizer_, torch.optim.LBFGS):
            return super().train_step(batch, **fit_params)
        # Only LBFGS re-evaluates the loss; for the others a closure is pure
        # per-step overhead.
        self._zero_grad_optimizer()
        step = self.train_step_single(batch, **fit_params)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        self.optimizer_.step()
        return step

    def train_step_single(self, batch, **fit_params):
        # Training mode is set once per epoch in run_single_epoch, not per batch.
        Xi, yi = batch
        with self._autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not isinstance(y_pred, AutoencoderOutput):
            # A plain prediction (a classifier head's logits) has no extra terms.
            return self.criterion_(y_pred, y_true)
        loss = self.criterion_(y_pred.reconstruction, y_true)
        if self.reconstruction_weight != 1.0:
            loss = self.reconstruction_weight * loss
        for weight, penalty in self.penalties:
            loss = loss + weight * penalty(y_pred)
        return loss

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        captured = self._captured_step(iterator) if training and not fit_params else None
        if captured is not None:
            # One read of the device-side loss per epoch.
            loss = float(captured.run_epoch(iterator.row_order()))
            self._record_epoch(prefix, loss, len(iterator), len(iterator.subset))
            return
        lean = self._lean_step() if training and not fit_params else None
        set_training_mode(self, training)
        if lean is not None:
            loss, n_batches, n_rows = lean.run_epoch(
                iterator,
                reconstruction_weight=self.reconstruction_weight,
                penalties=self.penalties,
            )
            self._record_epoch(prefix, loss, n_batches, n_rows)
            return
        # The size-weighted sum of batch losses stays on the device and is
        # read once per epoch. Summed in place rather than kept batch by
        # batch: each kept scalar pins a block of the CPU heap between the
        # batches' buffers, which then grows by about a batch per step.
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        n_batches = n_rows = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            loss_sum.add_(step["loss"].detach(), alpha=len(batch[0]))
            n_batches += 1
            n_rows += len(batch[0])
            self.notify("on_batch_end", batch=batch, training=training, **step)
        self._record_epoch(prefix, float(loss_sum) / n_rows, n_batches, n_rows)

    def _record_epoch(self, prefix, loss, n_batches, n_rows):
        self.history.record(prefix + "_loss", loss)
        self.history.record(prefix + "_batch_count", n_batches)
        if not self.batch_events_wanted_:
            # Without per-batch rows, one row sums up the epoch's batches:
            # skorch callbacks (Checkpoint's file names) read the last one.
            self.history.new_batch()
            self.history.record_batch(prefix + "_loss", loss)
            self.history.record_batch(prefix + "_batch_size", n_rows)
