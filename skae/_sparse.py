"""SparseAutoencoder: a sparsity penalty on the coding layer."""

from functools import partial
from numbers import Real

import numpy as np

from ._base import _encode
from ._compat import Interval, StrOptions
from ._dense import Autoencoder
from .nn import kl_sparsity, l1_activity


def _code_kl_sparsity(output, target):
    return kl_sparsity(output.code, target)


def _code_l1_activity(output):
    return l1_activity(output.code)


class SparseAutoencoder(Autoencoder):
    """Stacked autoencoder whose coding units are pushed to be mostly inactive.

    With ``sparsity="kl"`` the coding layer uses a sigmoid and the loss adds
    ``sparsity_weight * sum_j KL(p || q_j)``, where ``q_j`` is the mean
    activation of coding unit j over the batch and ``p = sparsity_target``;
    each unit learns to fire for a small share of the inputs. With
    ``sparsity="l1"`` the coding layer uses a ReLU and the loss adds
    ``sparsity_weight * mean |code|`` (an L1 activity regulariser), which
    drives most codes to exactly zero. Sparse codes allow an overcomplete
    coding layer (``n_components`` above ``n_features``) that does not just
    copy its input.

    Parameters
    ----------
    n_components : int, default=2
        Size of the coding layer.
    sparsity : {"kl", "l1"}, default="kl"
        The sparsity penalty.
    sparsity_target : float, default=0.1
        Target mean activation ``p`` of each coding unit, in (0, 1); used by
        "kl" only.
    sparsity_weight : float, default=0.05
        Weight of the penalty in the loss.
    pretrain : {None, "layerwise"}, default=None
        As in :class:`Autoencoder`; the penalty applies to the coding stage.
    **other parameters
        ``hidden_layer_sizes``, ``activation``, ``output_activation``,
        ``loss``, ``tied_weights`` and the training parameters are those of
        :class:`Autoencoder`, with the same defaults.

    Attributes
    ----------
    mean_activation_ : ndarray of shape (n_components,)
        Mean activation of each coding unit on the data of the last
        ``fit`` (or ``partial_fit`` chunk).
    The other attributes are those of :class:`Autoencoder`.

    See Also
    --------
    Autoencoder : The same net without the penalty.

    References
    ----------
    A. Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import SparseAutoencoder
    >>> X = load_digits().data / 16
    >>> sae = SparseAutoencoder(n_components=32, sparsity_target=0.05,
    ...                         max_epochs=3, random_state=0).fit(X)
    >>> sae.mean_activation_.shape
    (32,)
    """

    _parameter_constraints: dict = {
        **Autoencoder._parameter_constraints,
        "sparsity": [StrOptions({"kl", "l1"})],
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(100,),
        activation="relu",
        output_activation="identity",
        loss="mse",
        tied_weights=False,
        optimizer="adam",
        learning_rate=0.001,
        learning_rate_schedule="constant",
        batch_size=64,
        max_epochs=200,
        weight_decay=0.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=None,
        device="auto",
        verbose=0,
        callbacks=None,
        precision="float32",
        warm_start=False,
        pretrain=None,
        sparsity="kl",
        sparsity_target=0.1,
        sparsity_weight=0.05,
    ):
        super().__init__(
            n_components,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            output_activation=output_activation,
            loss=loss,
            tied_weights=tied_weights,
            optimizer=optimizer,
            learning_rate=learning_rate,
            learning_rate_schedule=learning_rate_schedule,
            batch_size=batch_size,
            max_epochs=max_epochs,
            weight_decay=weight_decay,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            random_state=random_state,
            device=device,
            verbose=verbose,
            callbacks=callbacks,
            precision=precision,
            warm_start=warm_start,
            pretrain=pretrain,
        )
        self.sparsity = sparsity
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight

    def _code_activation(self):
        return "sigmoid" if self.sparsity == "kl" else "relu"

    def _penalties(self):
        if self.sparsity == "kl":
            term = partial(_code_kl_sparsity, target=self.sparsity_target)
        else:
            term = _code_l1_activity
        return [(self.sparsity_weight, term)]

    def _train(self, X, y=None, **kwargs):
        super()._train(X, y, **kwargs)
        self.mean_activation_ = np.mean(self._apply(_encode, X), axis=0)
        return self
