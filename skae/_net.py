"""The one skorch net that trains every skae estimator.

Two things differ from skorch's ``NeuralNet``:

* batching: the data arrive as tensors and are batched by slicing a
  shuffled copy, instead of a ``Dataset.__getitem__`` per sample plus a
  collate per batch, which dominates an epoch for small nets;
* the loss: ``get_loss`` composes the reconstruction loss with the weighted
  extra terms a family adds (KL divergence, sparsity), all reading the
  module's :class:`~skae.nn.AutoencoderOutput`.

The epoch loop records one loss per epoch instead of one Python float per
batch, so a step never waits for the device.
"""

import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer, LRScheduler, PrintLog
from skorch.utils import TeeGenerator
from torch.utils.data import TensorDataset

from .nn import AutoencoderOutput


class SlicedBatches:
    """Batches of aligned tensors, taken as slices of a (shuffled) copy.

    Tensors that are the same object (an autoencoder's input and target)
    are shuffled and sliced once.
    """

    def __init__(self, tensors, batch_size, *, shuffle, device):
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = device

    def __len__(self):
        return math.ceil(len(self.tensors[0]) / self.batch_size)

    def __iter__(self):
        first = self.tensors[0]
        distinct = {id(t): t for t in self.tensors}
        if self.shuffle:
            order = torch.randperm(len(first), device=first.device)
            distinct = {key: t[order] for key, t in distinct.items()}
        for start in range(0, len(first), self.batch_size):
            batch = {
                key: t[start : start + self.batch_size].to(self.device, non_blocking=True)
                for key, t in distinct.items()
            }
            yield tuple(batch[id(t)] for t in self.tensors)


_PER_BATCH_EVENTS = ("on_batch_begin", "on_batch_end", "on_grad_computed")


def _handles_batch_events(callback):
    if isinstance(callback, LRScheduler) and callback.step_every == "epoch":
        return False  # its on_batch_end returns at once
    return any(
        getattr(type(callback), event) is not getattr(Callback, event)
        for event in _PER_BATCH_EVENTS
    )


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class StopOnNonFiniteLoss(Callback):
    """Stop training with a clear error as soon as an epoch's loss is not finite."""

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1, "train_loss"]
        if not math.isfinite(loss):
            raise NonFiniteLossError(
                f"The training loss became {loss} at epoch {net.history[-1, 'epoch']}; "
                f"training was stopped. The learning rate ({net.lr}) is probably too "
                "high for this data: try a lower learning_rate, or scale the inputs."
            )


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
    validation_fraction : float or None, default=None
        Fraction of the training rows held out (at random) to compute
        ``valid_loss`` each epoch.
    """

    def __init__(
        self, module, *args, penalties=(), validation_fraction=None, **kwargs
    ):
        kwargs.setdefault("train_split", None)
        super().__init__(module, *args, **kwargs)
        self.penalties = penalties
        self.validation_fraction = validation_fraction

    @property
    def _default_callbacks(self):
        return [("epoch_timer", EpochTimer()), ("print_log", PrintLog())]

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

    def get_split_datasets(self, X, y=None, **fit_params):
        target = X if y is None else y
        if not self.validation_fraction:
            return TensorDataset(X, target), None
        n_valid = int(round(self.validation_fraction * len(X)))
        if n_valid < 1 or n_valid >= len(X):
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves {n_valid} of "
                f"{len(X)} samples for validation; both the training and the "
                "validation set need at least one sample."
            )
        order = torch.randperm(len(X), device=X.device)
        valid, train = order[:n_valid], order[n_valid:]
        X_train, X_valid = X[train], X[valid]
        if y is None:
            return TensorDataset(X_train, X_train), TensorDataset(X_valid, X_valid)
        return TensorDataset(X_train, y[train]), TensorDataset(X_valid, y[valid])

    def get_iterator(self, dataset, training=False):
        return SlicedBatches(
            dataset.tensors, self.batch_size, shuffle=training, device=self.device
        )

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
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not isinstance(y_pred, AutoencoderOutput):
            # A plain prediction (a classifier head's logits) has no extra terms.
            return self.criterion_(y_pred, y_true)
        loss = self.criterion_(y_pred.reconstruction, y_true)
        for weight, penalty in self.penalties:
            loss = loss + weight * penalty(y_pred)
        return loss

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        self._set_training(training)
        losses, sizes = [], []
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            losses.append(step["loss"].detach())
            sizes.append(len(batch[0]))
            self.notify("on_batch_end", batch=batch, training=training, **step)
        # One device-to-host transfer per epoch, not per batch.
        batch_losses = torch.stack(losses).double().cpu().numpy()
        self.history.record(prefix + "_loss", float(np.average(batch_losses, weights=sizes)))
        self.history.record(prefix + "_batch_count", len(sizes))
