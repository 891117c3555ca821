"""VariationalAutoencoder: a generative autoencoder trained on the ELBO."""

from numbers import Integral, Real

from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._compat import Interval
from ._array_api import to_fit_namespace
from .extend import decode_rows as _decode
from ._dense import Autoencoder
from ._network import given_networks
from .nn import (
    ComposedVariationalAutoencoderModule,
    VariationalAutoencoderModule,
    gaussian_kl,
    reconstruction_error,
)


def kl_per_feature(output):
    """Batch-mean KL term, scaled like a reconstruction loss averaged over features."""
    n_features = output.reconstruction[0].numel()
    return gaussian_kl(output.extras["mean"], output.extras["log_var"]).mean() / n_features


class VariationalAutoencoder(Autoencoder):
    """Dense variational autoencoder: probabilistic codings, new samples.

    The encoder outputs the mean ``mu`` and log-variance ``gamma = log
    sigma^2`` of a Gaussian over the codings; training decodes a
    reparameterised draw ``mu + exp(gamma / 2) * eps`` and minimises
    reconstruction loss + ``beta`` * KL(N(mu, sigma^2) || N(0, I)), with the
    KL in closed form ``-1/2 sum(1 + gamma - exp(gamma) - mu^2)``. Both
    terms are averaged per input feature, so ``beta=1`` weighs them as the
    evidence lower bound (ELBO) does. Decoding draws from N(0, I) generates
    new data (:meth:`sample`).

    For data in [0, 1] (pixels) use ``loss="bce"`` with
    ``output_activation="sigmoid"``: the reconstruction term is then the
    Bernoulli log-likelihood.

    Read more in the :ref:`User Guide <variational_autoencoder>`.

    Parameters
    ----------
    n_components : int, default=2
        Size of the coding layer: the number of columns :meth:`transform`
        returns. The codings are Gaussian; :meth:`transform` returns their
        means.
    encoder : torch.nn.Module, callable or None, default=None
        Your own encoder network: a module, copied at every fit with its
        layers' ``reset_parameters()`` re-run under ``random_state``, or a
        callable ``encoder(n_features=..., n_components=...)`` returning
        one. It maps (n_samples, n_features) float rows to
        (n_samples, n_components) codes. Two linear heads on its output give
        the codings' mean and log-variance. None builds the dense encoder of ``hidden_layer_sizes``
        and ``activation``. A given network rules out ``tied_weights=True``.
        Read more in :ref:`own_network`.
    decoder : torch.nn.Module, callable or None, default=None
        Your own decoder network, from codes back to (n_samples, n_features)
        rows, given as ``encoder`` is; ``output_activation`` is applied to
        its output. None builds the mirror of the dense encoder.
    hidden_layer_sizes : array-like of int, default=(100,)
        Sizes of the encoder's hidden layers, from the input to the coding
        layer; the decoder mirrors them. ``()`` gives a shallow autoencoder.
    activation : {"relu", "elu", "selu", "tanh", "sigmoid", "identity"}, default="relu"
        Activation of the hidden layers.
    output_activation : {"identity", "sigmoid"}, default="identity"
        Activation of the reconstructions: "sigmoid" keeps them in [0, 1]
        (pixel intensities).
    loss : {"mse", "bce"}, default="mse"
        Reconstruction loss: "mse" (mean squared error) or "bce" (binary
        cross-entropy), which needs inputs in [0, 1] and
        ``output_activation="sigmoid"``.
    tied_weights : bool, default=False
        Each decoder layer uses the transposed weights of its mirror encoder
        layer, halving the weight parameters.
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
    beta : float, default=1.0
        Weight of the KL term; above 1 gives a beta-VAE (more regular, more
        disentangled codings, blurrier reconstructions).

    Attributes
    ----------
    n_components_ : int
        Size of the coding layer of the fitted model.
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
    Autoencoder : The deterministic counterpart.

    Notes
    -----
    ``transform`` returns ``mu`` (deterministic). ``score_samples`` is the
    ELBO per input feature, evaluated at the mean coding: ``-(reconstruction
    loss of decode(mu) + KL / n_features)``; with ``loss="bce"`` it is the
    Bernoulli ELBO divided by ``n_features``, with ``loss="mse"`` a unit-
    variance Gaussian ELBO up to scale and an additive constant.

    References
    ----------
    D. P. Kingma and M. Welling, "Auto-encoding variational Bayes", ICLR 2014.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VariationalAutoencoder
    >>> X = load_digits().data / 16
    >>> vae = VariationalAutoencoder(n_components=4, output_activation="sigmoid",
    ...                              loss="bce", max_epochs=3, random_state=0).fit(X)
    >>> vae.transform(X[:3]).shape
    (3, 4)
    >>> vae.sample(5, random_state=0).shape
    (5, 64)
    """

    _parameter_constraints: dict = {
        **{k: v for k, v in Autoencoder._parameter_constraints.items() if k != "pretrain"},
        "beta": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        encoder=None,
        decoder=None,
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
        beta=1.0,
    ):
        self.n_components = n_components
        self.encoder = encoder
        self.decoder = decoder
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.tied_weights = tied_weights
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
        self.beta = beta

    def _build_module(self, n_features):
        if not given_networks(self):
            return VariationalAutoencoderModule(
                n_features,
                self.n_components,
                self._hidden_sizes(),
                activation=self.activation,
                output_activation=self.output_activation,
                tied_weights=self.tied_weights,
            )
        encoder, decoder = self._networks(n_features)
        return ComposedVariationalAutoencoderModule(
            encoder, decoder, n_features, self.n_components,
            output_activation=self.output_activation,
        )

    def _settings_needing_own_network(self):
        return {"tied_weights": self.tied_weights}

    def _penalties(self):
        return [(self.beta, kl_per_feature)]

    def _sample_scores(self, module, x):
        output = module(x)
        reconstruction = reconstruction_error(output.reconstruction, x, self.loss)
        kl = gaussian_kl(output.extras["mean"], output.extras["log_var"])
        return -(reconstruction + kl / x[0].numel())

    def sample(self, n_samples=1, random_state=None):
        """Generate new data by decoding draws from the prior N(0, I).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples; a positive integer.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            The decoded draws, in input space (under array API dispatch, an
            array of the fit's namespace, on its device).
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
        codes = check_random_state(random_state).standard_normal((n_samples, self.n_components))
        # Decoded as inverse_transform decodes float64 codes; under array API
        # dispatch the draws come in the namespace and on the device of the fit.
        return to_fit_namespace(self._apply(_decode, codes), getattr(self, "_fit_namespace", None))
