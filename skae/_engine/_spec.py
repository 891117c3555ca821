"""The extension contract between an estimator and the training engine.

An estimator tells the engine what to train by returning a
:class:`TrainingSpec` from its ``training_spec`` method; once training ends
(or stops after a completed epoch), the engine hands the trained net back to
its ``fitted_attributes`` method, whose returned attributes it sets on the
estimator in one step. Nothing else passes between the two: see the guide
page "Writing a new family".
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch

from ..nn import ReconstructionLoss


@dataclass
class TrainingSpec:
    """What one call of ``fit`` or ``partial_fit`` trains, and how.

    Parameters
    ----------
    module : torch.nn.Module
        The module to train. For a new model a fresh module (built by
        ``training_spec`` under the fit's seed, so its initial weights follow
        ``random_state``); for a continued fit the fitted module, which the
        engine passes to ``training_spec`` as ``fitted_module``. Its
        ``forward`` returns an :class:`~skae.nn.AutoencoderOutput` (or plain
        logits for a classifier head).
    epochs : int
        Epochs a ``fit`` trains for at most (``partial_fit`` always trains
        one).
    criterion : type, default=ReconstructionLoss
        The loss class comparing the module's reconstruction (or logits) with
        the target.
    criterion_params : dict, default={}
        Keyword arguments of ``criterion``.
    penalties : sequence of (float, callable), default=()
        Extra loss terms: each callable takes the module's output and returns
        a scalar tensor, added to the loss with its weight.
    callbacks : sequence of (str, skorch.callbacks.Callback), default=()
        The family's own training callbacks, run before the user's.
    inputs : array-like or None, default=None
        The rows to train on, when not all of X (a classifier trains on its
        labelled rows); None trains on X.
    target : array-like or None, default=None
        What the module's output is compared with, row for row; None for the
        input itself.
    reconstruction_weight : float or None, default=1.0
        Weight of the criterion in the loss; None keeps the fitted net's.
    context : object, default=None
        Anything ``fitted_attributes`` needs from this call besides the net
        and the data (statistics of the data, a pretraining's loss curves):
        the engine hands the spec back, so no attribute carries it.
    release : callable or None, default=None
        Called once training ends, successfully or not, to free what only
        training needed (affinity matrices, device buffers).
    """

    module: torch.nn.Module
    epochs: int
    criterion: type = ReconstructionLoss
    criterion_params: dict = field(default_factory=dict)
    penalties: Sequence = ()
    callbacks: Sequence = ()
    inputs: Any = None
    target: Any = None
    reconstruction_weight: Optional[float] = 1.0
    context: Any = None
    release: Optional[Callable[[], None]] = None
