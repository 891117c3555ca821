"""What a fit tells its user: a progress bar, the epoch table, convergence warnings.

``verbose=1`` shows one tqdm bar over the epochs of a fit, with the latest
losses beside it (the feedback skorch's and Keras's users know);
``verbose=2`` also prints skorch's per-epoch table, above the bar. A fit that
uses its whole epoch budget while its stopping rule was still seeing progress
warns with scikit-learn's ``ConvergenceWarning``, as ``MLPRegressor`` does.
"""

import os
import sys
import warnings

import sklearn
from skorch.callbacks import Callback, PrintLog
from sklearn.exceptions import ConvergenceWarning
from tqdm.auto import tqdm

# Losses shown beside the bar, in this order, when the history has them.
_BAR_LOSSES = ("train_loss", "valid_loss")


class EpochProgressBar(Callback):
    """One progress bar over a fit's epochs, showing the latest losses.

    Parameters
    ----------
    total : int
        Epochs the fit may run (the bar closes early when training stops
        early).
    """

    def __init__(self, total):
        self.total = total

    def initialize(self):
        self.bar_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.epochs_before_ = len(net.history)
        self.bar_ = tqdm(total=self.total, unit="epoch", leave=True, dynamic_ncols=True)

    def on_epoch_end(self, net, **kwargs):
        self._show(net)

    def on_train_end(self, net, **kwargs):
        # A stopping rule ends the epoch before the callbacks after it run.
        self._show(net)
        self._close()

    def _show(self, net):
        done = len(net.history) - self.epochs_before_
        if self.bar_ is None or done <= self.bar_.n:
            return
        row = net.history[-1]
        self.bar_.set_postfix(
            {key: f"{row[key]:.4g}" for key in _BAR_LOSSES if key in row}, refresh=False
        )
        self.bar_.update(done - self.bar_.n)

    def _close(self):
        if self.bar_ is not None:
            self.bar_.close()
            self.bar_ = None

    def __getstate__(self):
        # A bar writes to a terminal: it is not part of a fitted model.
        state = dict(vars(self))
        state["bar_"] = None
        return state


class EpochTable(PrintLog):
    """skorch's per-epoch table, printed above a progress bar when there is one.

    It prints at ``verbose >= 2``, and at ``verbose=1`` for training without
    a bar (one pass of ``partial_fit``).
    """

    def __init__(self):
        super().__init__(sink=tqdm.write)

    def on_epoch_end(self, net, **kwargs):
        has_bar = any(isinstance(cb, EpochProgressBar) for _, cb in net.callbacks_)
        if net.verbose >= 2 or (net.verbose and not has_bar):
            super().on_epoch_end(net, **kwargs)


def close_progress_bars(net):
    """Close a bar left open by training that raised, so the terminal recovers."""
    for _, callback in getattr(net, "callbacks_", []):
        if isinstance(callback, EpochProgressBar):
            callback._close()


def warn_if_not_converged(estimator, net, epochs_run, budget):
    """Warn as ``MLPRegressor`` does when ``budget`` epochs ran out before the stopping rule.

    Only a fit watched by a stopping rule warns: a cosine schedule fixes the
    number of epochs, and a ``partial_fit`` pass is one epoch by design.
    """
    stopping = dict(net.callbacks_).get("early_stopping")
    if stopping is None or epochs_run < budget or stopping.misses_ >= stopping.patience:
        return
    watched = "validation" if stopping.monitor == "valid_loss" else "training"
    warnings.warn(
        f"{type(estimator).__name__} stopped after max_epochs={budget} epochs while its "
        f"{watched} loss was still improving by more than tol={stopping.threshold:g} "
        f"(relative) within n_iter_no_change={stopping.patience} epochs. Increase "
        "max_epochs, or tol, to train until it stops improving.",
        ConvergenceWarning,
        stacklevel=_first_frame_outside_the_fit(),
    )


# Frames of this package and of scikit-learn (the fit decorators, fit_transform,
# a Pipeline) are skipped: the warning points at the user's call.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # skae/, above _engine/
_SKIPPED_DIRS = (
    os.path.join(_PACKAGE_DIR, ""),
    os.path.join(os.path.dirname(os.path.abspath(sklearn.__file__)), ""),
)


def _first_frame_outside_the_fit():
    """The stack level of the code that called ``fit``, for a warning to point at."""
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_code.co_filename.startswith(_SKIPPED_DIRS):
        frame, level = frame.f_back, level + 1
    return level
