"""Stages of a fit (a pretraining layer, an inner model), trained as the fit is."""

import contextlib
import contextvars
from typing import Callable, NamedTuple

import torch

from ._feedback import close_progress_bars
from ._nets import drop_training_references
from ._sources import to_training_tensor

class Run(NamedTuple):
    """The fit in progress: how it builds a net for a stage, and the device it trains on."""

    make_net: Callable
    device: torch.device


# The fit whose training_spec is running, for the stages it trains (each
# thread sees its own).
_CURRENT_RUN = contextvars.ContextVar("skae_current_run", default=None)


@contextlib.contextmanager
def in_run(run):
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
    net = run.make_net(spec)
    rows = to_training_tensor(X, torch.float32, run.device)
    with torch.enable_grad():
        net.partial_fit(rows, epochs=spec.epochs)
    drop_training_references(net)
    close_progress_bars(net)
    return net
