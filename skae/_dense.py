"""Autoencoder: the stacked (deep) dense autoencoder."""

from dataclasses import replace
from numbers import Integral

from .extend import BaseAutoencoder, check_reconstruction_settings
from ._compat import Interval, StrOptions
from ._network import (
    NETWORK_CONSTRAINT,
    build_network,
    check_network_shapes,
    given_networks,
    refuse_with_networks,
)
from ._pretraining import pretrain_layerwise
from .nn import ACTIVATIONS, ComposedAutoencoderModule, DenseAutoencoderModule, dense_stack


class Autoencoder(BaseAutoencoder):
    """Stacked dense autoencoder with a mirrored decoder.

    The encoder maps ``n_features -> *hidden_layer_sizes -> n_components``
    and the decoder mirrors it, so ``Autoencoder(n_components=150,
    hidden_layer_sizes=(300,))`` on 784 inputs is the 784-300-150-300-784
    net. The coding layer is linear (its values are unconstrained, like
    PCA's scores); every hidden layer uses ``activation``.

    Read more in the :ref:`User Guide <dense_autoencoder>`.

    Parameters
    ----------
    n_components : int, default=2
        Size of the coding layer: the number of columns :meth:`transform`
        returns.
    encoder : torch.nn.Module, callable or None, default=None
        Your own encoder network: a module, copied at every fit with its
        layers' ``reset_parameters()`` re-run under ``random_state``, or a
        callable ``encoder(n_features=..., n_components=...)`` returning
        one. It maps (n_samples, n_features) float rows to
        (n_samples, n_components) codes. None builds the dense encoder of
        ``hidden_layer_sizes`` and
        ``activation``. A given network rules out ``tied_weights=True``
        and ``pretrain``. Read more in :ref:`own_network`.
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
    pretrain : {None, "layerwise"}, default=None
        "layerwise": greedy layer-wise pretraining before the end-to-end fit.
        Each encoder layer is first trained as a shallow autoencoder on the
        codes of the layers below it (with the same training settings), then
        the stack is fine-tuned as a whole. It helps deep stacks (several
        hidden layers, saturating activations such as "sigmoid" or "tanh",
        little data), where end-to-end training from a random initialisation
        stalls; for one or two hidden layers with "relu" and Adam it mostly
        costs time.

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
    pretraining_loss_curves_ : list of list of float
        Training loss per epoch of each layer-wise stage. Defined only when
        ``pretrain="layerwise"``.

    See Also
    --------
    LinearAutoencoder : The linear, PCA-equivalent special case.
    sklearn.neural_network.MLPRegressor : A dense net trained on targets.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import Autoencoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> ae = Autoencoder(n_components=8, hidden_layer_sizes=(32,),
    ...                  max_epochs=3, random_state=0).fit(X)
    >>> ae.transform(X).shape
    (1797, 8)
    >>> ae.inverse_transform(ae.transform(X[:2])).shape
    (2, 64)
    """

    takes_torch_rows = True

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "encoder": NETWORK_CONSTRAINT,
        "decoder": NETWORK_CONSTRAINT,
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "tied_weights": ["boolean"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "output_activation": [StrOptions({"identity", "sigmoid"})],
        "loss": [StrOptions({"mse", "bce"})],
        "pretrain": [StrOptions({"layerwise"}), None],
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
        pretrain=None,
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
        self.pretrain = pretrain

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        if any(not isinstance(s, Integral) or s < 1 for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must contain positive integers only; "
                f"got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _reconstruction_loss(self):
        return self.loss

    def _check_params(self, X):
        self._hidden_sizes()
        check_reconstruction_settings(self, X)
        refuse_with_networks(self, self._settings_needing_own_network())

    def _settings_needing_own_network(self):
        """Parameters whose current value only skae's dense stack can honour."""
        return {"tied_weights": self.tied_weights, "pretrain": self.pretrain is not None}

    def _code_activation(self):
        """Activation of the coding layer; linear unless a family needs a range."""
        return "identity"

    def _corruption(self):
        """Input corruption applied in training only; none for a plain autoencoder."""
        return None

    def training_spec(self, X, y=None, *, fitted_module=None, streaming=False):
        spec = super().training_spec(X, y, fitted_module=fitted_module, streaming=streaming)
        # A subclass without the parameter (the variational family) does not pretrain.
        if self.get_params(deep=False).get("pretrain") != "layerwise" \
                or fitted_module is not None:
            return spec
        curves = pretrain_layerwise(
            spec.module, X,
            loss=self._reconstruction_loss(),
            penalties=spec.penalties,
            epochs=self.max_epochs,
        )
        return replace(spec, context={"pretraining_loss_curves": curves})

    training_spec.__doc__ = BaseAutoencoder.training_spec.__doc__

    def fitted_attributes(self, net, X, spec):
        attributes = super().fitted_attributes(net, X, spec)
        if spec.context and "pretraining_loss_curves" in spec.context:
            attributes["pretraining_loss_curves_"] = spec.context["pretraining_loss_curves"]
        return attributes

    fitted_attributes.__doc__ = BaseAutoencoder.fitted_attributes.__doc__

    def _build_module(self, n_features):
        if not given_networks(self):
            return DenseAutoencoderModule(
                n_features,
                self.n_components,
                self._hidden_sizes(),
                activation=self.activation,
                code_activation=self._code_activation(),
                output_activation=self.output_activation,
                tied_weights=self.tied_weights,
                corruption=self._corruption(),
            )
        encoder, decoder = self._networks(n_features)
        return ComposedAutoencoderModule(
            encoder,
            decoder,
            n_features,
            self.n_components,
            code_activation=self._code_activation(),
            output_activation=self.output_activation,
            corruption=self._corruption(),
        )

    def _networks(self, n_features):
        """The user's encoder and decoder, or the dense half standing in for one not given."""
        sizes = (n_features, *self._hidden_sizes(), self.n_components)
        shapes = {"n_features": n_features, "n_components": self.n_components}
        encoder = (
            dense_stack(sizes, self.activation) if self.encoder is None
            else build_network("encoder", self.encoder, **shapes)
        )
        decoder = (
            dense_stack(sizes[::-1], self.activation) if self.decoder is None
            else build_network("decoder", self.decoder, **shapes)
        )
        check_network_shapes(encoder, decoder, **shapes)
        return encoder, decoder
