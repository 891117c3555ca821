"""DenoisingAutoencoder: reconstruct clean inputs from corrupted ones."""

from numbers import Real

from ._compat import Interval, StrOptions
from ._dense import Autoencoder
from .nn import make_corruption


class DenoisingAutoencoder(Autoencoder):
    """Stacked autoencoder trained to undo input corruption.

    During training each batch is corrupted — Gaussian noise added, or
    inputs zeroed at random (dropout) — and the loss compares the
    reconstruction with the clean batch, so the net must learn the data's
    structure rather than copy its input. ``transform``,
    ``inverse_transform`` and ``score`` never corrupt: they see the data as
    it is.

    Parameters
    ----------
    n_components : int, default=2
        Size of the coding layer.
    noise : {"gaussian", "dropout"}, default="gaussian"
        "gaussian" adds ``noise_level`` * N(0, 1) to every input;
        "dropout" zeroes each input with probability ``noise_level`` (and
        scales the others by 1 / (1 - noise_level), as ``torch.nn.Dropout``).
    noise_level : float, default=0.2
        Standard deviation of the Gaussian noise, or the dropout probability
        (below 1).
    pretrain : {None, "layerwise"}, default=None
        "layerwise" gives the stacked denoising autoencoder of Vincent et
        al.: the first stage learns to denoise the inputs.
    **other parameters
        ``hidden_layer_sizes``, ``activation``, ``output_activation``,
        ``loss``, ``tied_weights`` and the training parameters are those of
        :class:`Autoencoder`, with the same defaults.

    Attributes
    ----------
    The attributes of :class:`Autoencoder`.

    See Also
    --------
    Autoencoder : The same net without corruption.

    References
    ----------
    P. Vincent, H. Larochelle, I. Lajoie, Y. Bengio and P.-A. Manzagol,
    "Stacked denoising autoencoders", JMLR 11, 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import DenoisingAutoencoder
    >>> X = load_digits().data / 16
    >>> dae = DenoisingAutoencoder(n_components=16, noise="dropout", noise_level=0.3,
    ...                            max_epochs=3, random_state=0).fit(X)
    >>> dae.inverse_transform(dae.transform(X[:5])).shape
    (5, 64)
    """

    _parameter_constraints: dict = {
        **Autoencoder._parameter_constraints,
        "noise": [StrOptions({"gaussian", "dropout"})],
        "noise_level": [Interval(Real, 0, None, closed="left")],
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
        noise="gaussian",
        noise_level=0.2,
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
        self.noise = noise
        self.noise_level = noise_level

    def _corruption(self):
        return make_corruption(self.noise, self.noise_level)
