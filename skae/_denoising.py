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

    Read more in the :ref:`User Guide <denoising_autoencoder>`.

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
        costs time. With ``noise``, it gives the stacked denoising autoencoder
        of Vincent et al.: the first stage learns to denoise the inputs.
    noise : {"gaussian", "dropout"}, default="gaussian"
        Corruption of the training inputs: "gaussian" adds ``noise_level`` *
        N(0, 1) to every input; "dropout" zeroes each input with probability
        ``noise_level`` and scales the others by 1 / (1 - noise_level), as
        ``torch.nn.Dropout`` does. :meth:`transform`, :meth:`inverse_transform`
        and :meth:`score` never corrupt.
    noise_level : float, default=0.2
        Standard deviation of the Gaussian noise, or the dropout probability
        (below 1).

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
        noise="gaussian",
        noise_level=0.2,
    ):
        super().__init__(
            n_components,
            encoder=encoder,
            decoder=decoder,
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
