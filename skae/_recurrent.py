"""RecurrentAutoencoder: sequence-to-sequence autoencoding with LSTM or GRU cells."""

from numbers import Integral, Real

from .extend import BaseAutoencoder, check_reconstruction_settings
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

    Read more in the :ref:`User Guide <recurrent_autoencoder>`.

    Parameters
    ----------
    n_components : int, default=2
        Size of the coding layer: the number of columns :meth:`transform`
        returns.
    sequence_shape : tuple (T, F) or None, default=None
        Steps and features per step. None takes it from 3-D input, and reads a
        2-D row of width W as a univariate sequence, (W, 1).
    cell : {"lstm", "gru"}, default="lstm"
        The recurrent cell of encoder and decoder.
    hidden_size : int, default=64
        Hidden state size of both RNNs.
    output_activation : {"identity", "sigmoid"}, default="identity"
        Activation of the reconstructions: "sigmoid" keeps them in [0, 1]
        (pixel intensities). It applies to each reconstructed step.
    loss : {"mse", "bce"}, default="mse"
        Reconstruction loss: "mse" (mean squared error) or "bce" (binary
        cross-entropy), which needs inputs in [0, 1] and
        ``output_activation="sigmoid"``.
    noise : {None, "gaussian", "dropout"}, default=None
        Corruption of the training inputs: "gaussian" adds ``noise_level`` *
        N(0, 1) to every input; "dropout" zeroes each input with probability
        ``noise_level`` and scales the others by 1 / (1 - noise_level), as
        ``torch.nn.Dropout`` does. :meth:`transform`, :meth:`inverse_transform`
        and :meth:`score` never corrupt. None trains on the inputs as they are.
    noise_level : float, default=0.0
        Standard deviation of the Gaussian noise, or the dropout probability
        (below 1).
    optimizer : {"adam", "sgd", "rmsprop", "adadelta"} or torch.optim.Optimizer class, default="adam"
        The optimizer, by name or as a ``torch.optim`` class: "adam" uses the
        fused implementation; "sgd" uses momentum 0.9.
    learning_rate : float, default=0.001
        Initial learning rate.
    learning_rate_schedule : {"constant", "cosine"}, default="constant"
        Learning rate over the epochs of :meth:`fit`: "constant" keeps
        ``learning_rate``; "cosine" anneals it to zero over ``max_epochs`` and
        trains for all of them unless ``early_stopping`` stops it.
    batch_size : int, default=64
        Rows per gradient step.
    max_epochs : int, default=200
        Maximum number of passes over the data in :meth:`fit`.
    weight_decay : float, default=0.0
        L2 penalty: the optimizer's ``weight_decay``, passed only when
        non-zero.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows and stop when
        their loss stops improving, restoring the best weights. When False, the
        training loss is watched instead (see ``n_iter_no_change``).
    validation_fraction : float, default=0.1
        Share of the training rows held out for validation when
        ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before training
        stops; under a cosine schedule the training loss is not watched, so all
        ``max_epochs`` run.
    tol : float, default=1e-4
        Relative improvement of the monitored loss (the training loss, or the
        validation loss with early stopping) that counts as progress; relative,
        so that one default suits data of any scale.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the shuffling and the validation split: the same
        seed gives the same model on the same device. None draws a fresh seed
        without touching numpy's global random state.
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device, default="auto"
        Where to train and infer; "auto" picks CUDA when available.
    verbose : int, default=0
        0 is silent; 1 shows one progress bar over the epochs of a fit, with
        the latest losses; 2 also prints a line per epoch (``partial_fit``
        prints its pass's line at 1).
    callbacks : list of skorch callbacks or (name, callback) pairs, default=None
        Extra skorch callbacks (instances, classes or (name, callback) pairs),
        passed to the net as they are.
    precision : {"float32", "tf32", "bfloat16"}, default="float32"
        Arithmetic of training on CUDA: "tf32" lets float32 matrix products
        round their operands to TF32, "bfloat16" runs the forward pass and the
        loss under bf16 autocast (weights, gradients and optimizer state stay
        float32). Both are several times faster on recent GPUs and reach about
        the same error, but change the results in the last digits, so float32
        is the default. Ignored on the CPU, which always trains in float32;
        inference always runs in the input's dtype.
    warm_start : bool, default=False
        Continue from the fitted weights on the next :meth:`fit` instead of
        starting anew; changing an architecture parameter in between raises a
        ``ValueError``.

    Attributes
    ----------
    n_components_ : int
        Size of the coding layer of the fitted model.
    sequence_shape_ : tuple (T, F)
        Steps and features per step, as given by ``sequence_shape`` or read
        from the training data.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during :meth:`fit`. Defined only when X has
        feature names that are all strings.
    n_iter_ : int
        Number of training epochs run: the length of ``history_``.
    loss_curve_ : list of float
        Training loss per epoch.
    validation_scores_ : list of float
        Minus the validation loss per epoch. Defined only when
        ``early_stopping=True``.
    history_ : skorch.History
        Everything recorded during training: the History of ``net_``.
    net_ : skorch.NeuralNet
        The fitted skorch net, which holds the module, the optimizer and the
        history.
    module_ : torch.nn.Module
        The fitted torch module: the same object as ``net_.module_``.

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
