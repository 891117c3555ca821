"""Data-parallel training: one model trained by several processes at once.

Inside :func:`data_parallel`, a fit trains with PyTorch's
``DistributedDataParallel`` through skorch's
:class:`~skorch.hf.AccelerateMixin` and a Hugging Face ``Accelerator``.
Every process runs the same script on the same data; each epoch, each
process takes its share of one shuffled row order (drawn from a seed all
processes share), gradients are averaged across processes after every step,
and the loss recorded per epoch is the mean over all rows of all processes.

The estimator does not change: its parameters mean what they mean in one
process (``batch_size`` is the number of rows per gradient step, summed over
the processes), and the fitted estimator holds the plain module and a plain
:class:`~skae._engine._net.AutoencoderNet`, so that it pickles and loads in a single
process with no distributed setup.
"""

import contextlib
import contextvars
import math

import torch
from skorch.callbacks import PrintLog
from skorch.hf import AccelerateMixin

from .._compat import (
    drop_accelerate_flags,
    forget_prepared,
    skip_accelerate_device_check,
    unset_accelerate_wrapping,
)
from ._net import AutoencoderNet, GatheredBatches, RowSubset
from ._runtime import resolve_device
from ..nn._random import training_generator


class _LocalTraining:
    """Training in this process alone: the default outside :func:`data_parallel`."""

    def device(self, requested):
        return resolve_device(requested)

    def shared_seed(self, seed):
        return seed

    def training(self, net):
        return contextlib.nullcontext()


_LOCAL = _LocalTraining()
_ACTIVE = contextvars.ContextVar("skae_data_parallel", default=_LOCAL)


def training_engine():
    """Where fits run now: this process, or all processes of :func:`data_parallel`."""
    return _ACTIVE.get()


@contextlib.contextmanager
def data_parallel(accelerator=None):
    """Train the estimators fitted in this block on all processes, data-parallel.

    Start the same script in every process with a launcher (``accelerate
    launch`` or ``torchrun``); each process loads the same data and calls
    ``fit`` inside this block. The processes then train one model together
    with PyTorch's ``DistributedDataParallel``: each takes its share of each
    epoch's shuffled rows, and gradients are averaged across them after
    every step. Run without a launcher, the block trains in this process
    alone, so one script serves both.

    Read more in the :ref:`User Guide <scaling>`.

    Parameters
    ----------
    accelerator : accelerate.Accelerator, default=None
        The Hugging Face ``Accelerator`` that sets up the processes and wraps
        the module (its ``kwargs_handlers`` reach ``DistributedDataParallel``,
        its ``mixed_precision`` the training steps). None creates one that
        trains on the CPU when CUDA is unavailable, with
        ``DistributedDataParallelKwargs(static_graph=True)``, which lets a
        training step leave some parameters unused.

    Yields
    ------
    accelerator : accelerate.Accelerator
        The accelerator in use: ``accelerator.is_main_process`` tells the
        process that should save the model.

    Notes
    -----
    Each process trains on its own device: ``cuda:LOCAL_RANK`` when the
    launcher starts one process per GPU, or the CPU. The estimator's
    ``device`` must be ``"auto"`` or of that device's type.

    ``batch_size`` keeps its meaning, the rows of one gradient step: each of
    N processes takes every N-th row of each step, and each process's loss
    is weighted by its share of the step, so that the averaged gradients are
    those of the step's mean loss. All processes draw the row order one
    process draws from the same seed: together they take its steps, over
    the same rows.

    The seed (``random_state``, or one drawn by the first process when it is
    None) is shared, so every process starts from the same weights and
    shuffles the same way. Every process keeps the whole fitted model.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import Autoencoder, data_parallel
    >>> X = np.random.default_rng(0).normal(size=(200, 10)).astype(np.float32)
    >>> with data_parallel():
    ...     ae = Autoencoder(n_components=2, max_epochs=2, random_state=0).fit(X)
    >>> ae.transform(X).shape
    (200, 2)
    """
    try:
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "data_parallel needs the accelerate package: pip install 'skae[scale]'."
        ) from error
    if accelerator is None:
        accelerator = Accelerator(
            cpu=not torch.cuda.is_available(),
            # A static graph lets a step leave parameters unused (a
            # classifier fine-tuning an encoder leaves the decoder alone),
            # which DistributedDataParallel otherwise refuses.
            kwargs_handlers=[DistributedDataParallelKwargs(static_graph=True)],
        )
    elif not isinstance(accelerator, Accelerator):
        raise TypeError(
            "data_parallel takes an accelerate.Accelerator or None; "
            f"got {type(accelerator).__name__}."
        )
    _check_process_group(accelerator)
    token = _ACTIVE.set(_DataParallelTraining(accelerator))
    try:
        yield accelerator
    finally:
        _ACTIVE.reset(token)


def _check_process_group(accelerator):
    """Refuse a process group the accelerator does not know about.

    Training alone in each of several processes would give as many
    different models, silently.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    world_size = torch.distributed.get_world_size()
    if world_size > 1 and accelerator.num_processes != world_size:
        raise ValueError(
            f"torch.distributed runs {world_size} processes but the accelerator sees "
            f"{accelerator.num_processes}. Start the processes with a launcher "
            "(accelerate launch or torchrun), which sets RANK, WORLD_SIZE and "
            "LOCAL_RANK for the accelerator to read."
        )


class _DataParallelTraining:
    """Training on all processes of an ``Accelerator``."""

    def __init__(self, accelerator):
        self.accelerator = accelerator

    def device(self, requested):
        resolved = resolve_device(requested)
        own = torch.device(self.accelerator.device)
        if own.type == "cpu":
            # Accelerate names the CPU of each process "cpu:0"; tensors
            # saved from there would not load where torch knows only "cpu".
            own = torch.device("cpu")
        if str(requested) != "auto" and resolved.type != own.type:
            raise ValueError(
                f"device={requested!r}, but under data_parallel this process trains on "
                f"{own} (chosen by the launcher); use device='auto'."
            )
        return own

    def shared_seed(self, seed):
        if self.accelerator.num_processes == 1:
            return seed
        from accelerate.utils import broadcast_object_list

        return int(broadcast_object_list([seed], from_process=0)[0])

    @contextlib.contextmanager
    def training(self, net):
        """Train ``net`` data-parallel in the block; hand it back plain after."""
        if isinstance(net.optimizer_, torch.optim.LBFGS):
            raise ValueError(
                "optimizer=LBFGS cannot train data-parallel: it re-evaluates the loss "
                "within a step, which the accelerator's optimizer step does not allow. "
                "Use 'adam', 'sgd', 'rmsprop' or 'adadelta'."
            )
        plain_class = type(net)
        # The net becomes a data-parallel one for the block only: what is
        # fitted (and pickled) is the plain net, with no accelerator in it.
        net.__class__ = type(
            "DataParallel" + plain_class.__name__, (DataParallelNetMixin, plain_class), {}
        )
        try:
            net.start_data_parallel(self.accelerator)
            yield net
        finally:
            try:
                net.stop_data_parallel()
            finally:
                net.__class__ = plain_class


class DataParallelNetMixin(AccelerateMixin):
    """skorch's ``AccelerateMixin`` for :class:`~skae._engine._net.AutoencoderNet`.

    Unlike the mixin's default, the net's ``module_`` stays the plain module
    throughout: the ``DistributedDataParallel`` wrapper lives beside it and
    runs the training forward passes only. Every weight snapshot
    (last-epoch weights, early stopping's best weights, checkpoints) thus
    has the module's own keys, and evaluation needs no collective call.
    """

    def start_data_parallel(self, accelerator):
        self.accelerator = accelerator
        unset_accelerate_wrapping(self)
        # Kept in a holder: skorch registers a module set as an attribute of
        # the net as one of its own, which the wrapper is not.
        self.data_parallel_ = _ParallelState(accelerator.prepare_model(self.module_))
        self.optimizer_ = accelerator.prepare_optimizer(self.optimizer_)
        # One log, from the main process.
        for _, callback in self.callbacks_:
            if isinstance(callback, PrintLog):
                self.data_parallel_.print_sinks.append((callback, callback.sink))
                callback.sink = accelerator.print

    def stop_data_parallel(self):
        accelerator = vars(self).pop("accelerator", None)
        state = vars(self).pop("data_parallel_", None)
        prepared = []
        if state is not None:
            prepared.append(state.module)
            # Takes back any mixed-precision wrapper put on the module's forward.
            accelerator.unwrap_model(state.module, keep_fp32_wrapper=False)
            for callback, sink in state.print_sinks:
                callback.sink = sink
        optimizer = self.optimizer_
        if optimizer is not None and hasattr(optimizer, "optimizer"):
            prepared.append(optimizer)
            self.optimizer_ = optimizer.optimizer
        if accelerator is not None:
            forget_prepared(accelerator, prepared)
        drop_accelerate_flags(self)

    def _validate_params(self):
        # The mixin's check asks for device=None; this net keeps its device,
        # the one the accelerator chose for this process.
        skip_accelerate_device_check(AccelerateMixin, self)

    def _captured_step(self, iterator):
        # A captured CUDA graph would replay the step without the wrapper's
        # gradient all-reduce.
        return None

    def get_iterator(self, dataset, training=False):
        state = self.data_parallel_
        if training and state.generator is None:
            # Noise drawn while training (denoising, dropout, a VAE's
            # sampling) for different numbers of rows leaves torch's
            # generator in different states in different processes; a copy
            # made before the first epoch draws the same row orders in all
            # of them. Where nothing else is drawn, the copy draws what
            # torch's generator would: the steps of one process.
            state.generator = _copy_of_torch_generator(dataset.tensors[0].device)
        batches = ShardedBatches(
            dataset,
            self.batch_size,
            shuffle=training,
            device=self.device,
            rank=self.accelerator.process_index,
            n_processes=self.accelerator.num_processes,
            generator=state.generator,
        )
        # Read by the steps, for the weight of the step in progress.
        state.batches["train" if training else "valid"] = batches
        return batches

    def infer(self, x, **fit_params):
        if self.module_.training:
            return self.data_parallel_.module(x, **fit_params)
        return super().infer(x, **fit_params)

    def train_step(self, batch, **fit_params):
        with self.accelerator.accumulate(self.data_parallel_.module):
            return AutoencoderNet.train_step(self, batch, **fit_params)

    def train_step_single(self, batch, **fit_params):
        Xi, yi = batch
        weight = self.data_parallel_.batches["train"].step_weight
        with self._autocast(), self.accelerator.autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        self.accelerator.backward(loss if weight == 1 else weight * loss)
        # A placeholder row adds nothing to the epoch's loss either.
        return {"loss": loss if weight else loss.detach() * 0, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        step = super().validation_step(batch, **fit_params)
        if not self.data_parallel_.batches["valid"].step_weight:
            step["loss"] = step["loss"] * 0
        return step

    def _record_epoch(self, prefix, loss, n_batches, n_rows):
        # The loss of the epoch over the rows of all processes, the same in
        # every process: callbacks that stop training (early stopping,
        # divergence) then stop all processes at the same epoch.
        placeholders = self.data_parallel_.batches[prefix].placeholder_rows
        totals = torch.tensor(
            [loss * n_rows, n_rows - placeholders], dtype=torch.float64, device=self.device
        )
        loss_sum, all_rows = self.accelerator.reduce(totals, reduction="sum").tolist()
        super()._record_epoch(prefix, loss_sum / all_rows, n_batches, int(all_rows))


class _ParallelState:
    """What a net trains with while data-parallel: the wrapped module, the
    batches of the passes in progress and the generator of their row order,
    the log sinks to put back."""

    def __init__(self, module):
        self.module = module
        self.print_sinks = []
        self.batches = {}
        self.generator = None


def _copy_of_torch_generator(device):
    """A generator in the state the fit's draws for ``device`` are in now.

    The fit's own generator where it has one (:mod:`skae.nn`'s
    ``training_generator``), torch's default one otherwise.
    """
    device = torch.device(device)
    generator = torch.Generator(device=device)
    fit_generator = training_generator(device)
    if fit_generator is not None:
        generator.set_state(fit_generator.get_state())
    elif device.type == "cuda":
        generator.set_state(torch.cuda.get_rng_state(device))
    else:
        generator.set_state(torch.get_rng_state())
    return generator


class ShardedBatches:
    """One process's share of each step of a pass over a :class:`RowSubset`.

    All processes draw the same row order from ``generator`` (in the same
    state in every process), as :class:`~skae._engine._net.GatheredBatches` draws
    from torch's, and cut it into the same steps of ``batch_size`` rows. Each process takes every
    ``n_processes``-th row of a step from ``rank`` on: together they take
    each step's rows, once.

    ``step_weight`` is the weight of the current step's loss in this
    process, so that the gradients averaged over the processes are those of
    the step's mean loss even when the processes hold different numbers of
    rows: ``n_processes`` times this process's share of the step. A process
    left without a row (in a last step shorter than ``n_processes``) still
    computes on one of the step's rows, with weight 0, since every process
    takes part in every step's all-reduce; ``placeholder_rows`` counts
    those in the pass so far.
    """

    def __init__(self, subset, batch_size, *, shuffle, device, rank, n_processes,
                 generator=None):
        self.subset = subset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = device
        self.rank = rank
        self.n_processes = n_processes
        self.generator = generator
        self.step_weight = 1.0
        self.placeholder_rows = 0

    def __len__(self):
        return math.ceil(len(self.subset) / self.batch_size)

    def row_order(self):
        """The rows of one pass, in the order all processes share."""
        n_rows, on = len(self.subset), self.subset.tensors[0].device
        if self.shuffle:
            order = torch.randperm(n_rows, device=on, generator=self.generator)
        else:
            order = torch.arange(n_rows, device=on)
        rows = self.subset.rows
        return order if rows is None else rows[order]

    def __iter__(self):
        order = self.row_order()
        self.placeholder_rows = 0
        for start in range(0, len(order), self.batch_size):
            step = order[start : start + self.batch_size]
            mine = step[self.rank :: self.n_processes]
            if len(mine):
                self.step_weight = self.n_processes * len(mine) / len(step)
            else:
                mine = step[:1]
                self.step_weight = 0.0
                self.placeholder_rows += 1
            rows = RowSubset(self.subset.tensors, mine)
            yield from GatheredBatches(rows, len(mine), shuffle=False, device=self.device)
