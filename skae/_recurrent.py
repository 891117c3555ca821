"""RecurrentAutoencoder: sequence-to-sequence autoencoding with LSTM or GRU cells."""

from numbers import Integral, Real

from ._base import BaseAutoencoder, check_reconstruction_settings
from ._compat import Interval, StrOptions
from ._shapes import StructuredInputMixin
from .nn import CELLS, RecurrentAutoencoderModule, make_corruption


class RecurrentAutoencoder(StructuredInputMixin, BaseAutoencoder):
    """Recurrent autoencoder for sequences of feature vectors.

    The encoder reads each (T, F) sequence with an LSTM or GRU and maps its
    final hidden state to the coding (sequence to vector); the decoder feeds
    the coding at each of the T steps into a second RNN and maps every
    step's output back to F features (vector to sequence).

    X may be 2-D, (n, T*F) rows read with ``sequence_shape``, or (n, T, F).
    ``inverse_transform`` returns flat rows, (n, T*F); reshape them with
    ``sequence_shape_``.

    Parameters
    ----------
    n_components : int, default=2
        Size of the coding.
    sequence_shape : tuple (T, F) or None, default=None
        Steps and features per step. None takes it from 3-D input, and reads
        a 2-D row of width W as a univariate sequence, (W, 1).
    cell : {"lstm", "gru"}, default="lstm"
        The recurrent cell of encoder and decoder.
    hidden_size : int, default=64
        Hidden state size of both RNNs.
    output_activation : {"identity", "sigmoid"}, default="identity"
        Applied to each reconstructed step.
    loss : {"mse", "bce"}, default="mse"
        Reconstruction loss; "bce" needs inputs in [0, 1] and a sigmoid output.
    noise : {None, "gaussian", "dropout"}, default=None
        Input corruption during training, as in :class:`DenoisingAutoencoder`.
    noise_level : float, default=0.0
        Its standard deviation or dropout probability.
    optimizer, learning_rate, learning_rate_schedule, batch_size, max_epochs, \
    weight_decay, early_stopping, validation_fraction, n_iter_no_change, tol, \
    random_state, device, verbose, callbacks, warm_start, precision
        Training parameters, as in :class:`Autoencoder` and with the same
        defaults.

    Attributes
    ----------
    sequence_shape_ : tuple (T, F)
        The sequence shape used.
    The other attributes are those of :class:`Autoencoder`.

    See Also
    --------
    ConvolutionalAutoencoder : For images.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import RecurrentAutoencoder
    >>> t = np.linspace(0, 2 * np.pi, 20)
    >>> X = np.sin(t[None, :] + np.random.RandomState(0).uniform(0, 6, (100, 1)))
    >>> rae = RecurrentAutoencoder(n_components=3, hidden_size=16, max_epochs=2,
    ...                            random_state=0).fit(X)
    >>> rae.sequence_shape_
    (20, 1)
    >>> rae.transform(X[:5]).shape
    (5, 3)
    """

    _shape_param = "sequence_shape"
    _shape_axes = ("T", "F")
    _shape_ndims = (2,)

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "sequence_shape": [tuple, list, None],
        "cell": [StrOptions(set(CELLS))],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "output_activation": [StrOptions({"identity", "sigmoid"})],
        "loss": [StrOptions({"mse", "bce"})],
        "noise": [StrOptions({"gaussian", "dropout"}), None],
        "noise_level": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        sequence_shape=None,
        cell="lstm",
        hidden_size=64,
        output_activation="identity",
        loss="mse",
        noise=None,
        noise_level=0.0,
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
        self.sequence_shape = sequence_shape
        self.cell = cell
        self.hidden_size = hidden_size
        self.output_activation = output_activation
        self.loss = loss
        self.noise = noise
        self.noise_level = noise_level
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

    def _infer_shape(self, sample_dims):
        if len(sample_dims) == 2:
            return tuple(sample_dims)
        return (sample_dims[0], 1)

    def _reconstruction_loss(self):
        return self.loss

    def _check_params(self, X):
        check_reconstruction_settings(self, X)

    def _build_module(self, n_features):
        return RecurrentAutoencoderModule(
            self.sequence_shape_,
            self.n_components,
            cell=self.cell,
            hidden_size=self.hidden_size,
            output_activation=self.output_activation,
            corruption=make_corruption(self.noise, self.noise_level),
        )
