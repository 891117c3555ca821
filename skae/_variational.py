"""VariationalAutoencoder: a generative autoencoder trained on the ELBO."""

from numbers import Integral, Real

from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._compat import Interval
from ._dense import Autoencoder
from .nn import VariationalAutoencoderModule, gaussian_kl, reconstruction_error


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

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent codings.
    beta : float, default=1.0
        Weight of the KL term; above 1 gives a beta-VAE (more regular,
        more disentangled codings, blurrier reconstructions).
    **other parameters
        ``hidden_layer_sizes``, ``activation``, ``output_activation``,
        ``loss``, ``tied_weights`` and the training parameters are those of
        :class:`Autoencoder`, with the same defaults.

    Attributes
    ----------
    The attributes of :class:`Autoencoder`.

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
        return VariationalAutoencoderModule(
            n_features,
            self.n_components,
            self._hidden_sizes(),
            activation=self.activation,
            output_activation=self.output_activation,
            tied_weights=self.tied_weights,
        )

    def _prepare_module(self, module, X, *, resume, streaming):
        """No layer-wise pretraining: the heads of a VAE are trained jointly."""

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
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
        codes = check_random_state(random_state).standard_normal((n_samples, self.n_components))
        return self.inverse_transform(codes)
