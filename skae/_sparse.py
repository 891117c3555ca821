"""SparseAutoencoder: a sparsity penalty on the coding layer."""

from functools import partial
from numbers import Real


from .extend import encode_rows as _encode
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

    Read more in the :ref:`User Guide <sparse_autoencoder>`.

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
        costs time. The sparsity penalty applies to the stage that trains the
        coding layer.
    sparsity : {"kl", "l1"}, default="kl"
        The sparsity penalty: "kl" gives the coding layer a sigmoid and
        penalises the KL divergence of each unit's mean activation from
        ``sparsity_target``; "l1" gives it a ReLU and penalises the mean
        absolute code.
    sparsity_target : float, default=0.1
        Target mean activation ``p`` of each coding unit, in (0, 1); used by
        "kl" only.
    sparsity_weight : float, default=0.05
        Weight of the penalty in the loss.

    Attributes
    ----------
    n_components_ : int
        Size of the coding layer of the fitted model.
    mean_activation_ : ndarray of shape (n_components,)
        Mean activation of each coding unit on the data of the last :meth:`fit`
        (or :meth:`partial_fit` chunk).
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
        sparsity="kl",
        sparsity_target=0.1,
        sparsity_weight=0.05,
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

    def fitted_attributes(self, net, X, spec):
        attributes = super().fitted_attributes(net, X, spec)
        attributes["mean_activation_"] = self._apply(_encode, X, net.module_).mean(axis=0)
        return attributes

    fitted_attributes.__doc__ = Autoencoder.fitted_attributes.__doc__
