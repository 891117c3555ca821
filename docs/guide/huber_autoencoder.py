"""A family written outside skae, on its public contract alone: a Huber autoencoder.

The squared error lets a few gross outliers among the training rows pull the
reconstruction towards them; the Huber loss (squared for residuals below
``delta``, linear above) bounds their pull. The file holds what a family
needs: a torch module, a loss, and the estimator that describes a fit with
a :class:`~skae.extend.TrainingSpec` and derives its fitted attributes from
the trained net. Nothing in skae was edited for it.

Examples
--------
>>> from sklearn.datasets import load_digits
>>> X = load_digits().data / 16
>>> ae = HuberAutoencoder(4, delta=0.1, max_epochs=3, random_state=0, device="cpu").fit(X)
>>> ae.transform(X).shape, ae.residual_scale_.shape
((1797, 4), (64,))
"""

from numbers import Integral, Real

import numpy as np
from torch import nn
from torch.nn import functional as F

from skae.extend import BaseAutoencoder, Interval, TrainingSpec, apply_module
from skae.nn import AutoencoderOutput


class HuberModule(nn.Module):
    """A one-hidden-layer autoencoder offering skae's module contract."""

    def __init__(self, n_features, n_components, hidden_size):
        super().__init__()
        self.n_features = n_features
        self.n_components = n_components
        self.encoder = nn.Sequential(
            nn.Linear(n_features, hidden_size), nn.Tanh(), nn.Linear(hidden_size, n_components)
        )
        self.decoder = nn.Sequential(
            nn.Linear(n_components, hidden_size), nn.Tanh(), nn.Linear(hidden_size, n_features)
        )

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        code = self.encode(x)
        return AutoencoderOutput(reconstruction=self.decode(code), code=code)


class HuberLoss(nn.Module):
    """The mean Huber loss between reconstructions and targets."""

    def __init__(self, delta=1.0):
        super().__init__()
        self.delta = delta

    def forward(self, reconstruction, target):
        return F.huber_loss(reconstruction, target, delta=self.delta)


class HuberAutoencoder(BaseAutoencoder):
    """Autoencoder trained with the Huber loss, robust to outlying training rows.

    Parameters
    ----------
    n_components : int, default=2
        Size of the code.
    hidden_size : int, default=32
        Width of the encoder's and the decoder's hidden layer.
    delta : float, default=1.0
        Residual size above which the loss grows linearly, not quadratically.
    optimizer, learning_rate, learning_rate_schedule, batch_size, max_epochs, \
weight_decay, early_stopping, validation_fraction, n_iter_no_change, tol, \
random_state, device, verbose, callbacks, precision, warm_start
        The training parameters every skae estimator has, with their defaults.

    Attributes
    ----------
    n_components_ : int
        Size of the code of the fitted model.
    residual_scale_ : ndarray of shape (n_features,)
        Median absolute reconstruction residual of each feature on the
        training rows: the scale below which the fitted model reconstructs.
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "delta": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_size=32,
        delta=1.0,
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
    ):
        self.n_components = n_components
        self.hidden_size = hidden_size
        self.delta = delta
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.callbacks = callbacks
        self.precision = precision
        self.warm_start = warm_start

    def training_spec(self, X, y=None, *, fitted_module=None, streaming=False):
        """The module, the Huber loss and the epoch budget of one fit."""
        if fitted_module is None:
            # Built here, under the fit's seed: random_state fixes the weights.
            module = HuberModule(X.shape[1], self.n_components, self.hidden_size)
        else:
            module = fitted_module
        return TrainingSpec(
            module=module,
            epochs=self.max_epochs,
            criterion=HuberLoss,
            criterion_params={"delta": float(self.delta)},
            reconstruction_weight=None if fitted_module is not None else 1.0,
        )

    def fitted_attributes(self, net, X, spec):
        """The code size and the per-feature residual scale of the trained net."""
        # Chunk by chunk, in X's dtype, as the estimator's own inference runs.
        residuals = apply_module(_absolute_residuals, X, net.module_)
        return {
            "n_components_": net.module_.n_components,
            "residual_scale_": np.median(residuals, axis=0),
        }


def _absolute_residuals(module, rows):
    return (module(rows).reconstruction - rows).abs()
