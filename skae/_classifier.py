"""AutoencoderClassifier: unsupervised pretraining, then a fine-tuned softmax head."""

import copy

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .extend import BaseAutoencoder
from ._compat import _fit_context
from ._dense import Autoencoder
from .extend import draw_seed, resolve_device
from .extend import TorchEstimatorMixin, TrainingSpec, restore_on_failure
from .nn import EncoderClassifierModule

UNLABELLED = -1


def _logits(module, x):
    return module(x)


class AutoencoderClassifier(TorchEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Classifier pretrained as an autoencoder on all rows, fine-tuned on the labelled.

    ``fit(X, y)`` first fits ``autoencoder`` on every row of X — labelled or
    not — then puts a softmax layer on its encoder and trains both (or the
    head alone, with ``freeze_encoder=True``) on the labelled rows with the
    cross-entropy loss. As in scikit-learn's semi-supervised estimators,
    ``y == -1`` marks an unlabelled row. Unsupervised pretraining pays off
    when labels are scarce and unlabelled data plentiful.

    The training parameters below (``optimizer`` to ``precision``) set the
    fine-tuning stage; the autoencoder is pretrained with its own.

    Read more in the :ref:`User Guide <autoencoder_classifier>`.

    Parameters
    ----------
    autoencoder : skae autoencoder or None, default=None
        An unfitted skae autoencoder; it is cloned, and when its
        ``random_state`` is None the clone's is drawn from this estimator's. It
        is pretrained on every row of X, labelled or not. None uses
        ``Autoencoder(n_components=32)``.
    freeze_encoder : bool, default=False
        Train only the softmax head, keeping the pretrained encoder fixed.
    optimizer : {"adam", "sgd", "rmsprop", "adadelta"} or torch.optim.Optimizer class, default="adam"
        The optimizer, by name or as a ``torch.optim`` class: "adam" uses the
        fused implementation; "sgd" uses momentum 0.9.
    learning_rate : float, default=0.01
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
        without touching numpy's global random state. When the autoencoder's
        own ``random_state`` is None, its seed is drawn from this one, so that
        the pretraining is seeded too.
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

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (without the unlabelled marker).
    autoencoder_ : skae autoencoder
        The pretrained autoencoder; its encoder is as it was before
        fine-tuning.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during :meth:`fit`. Defined only when X has
        feature names that are all strings.
    n_iter_ : int
        Number of training epochs run: the length of ``history_``. They are the
        epochs of the fine-tuning stage.
    loss_curve_ : list of float
        Training loss per epoch. It is the cross-entropy of the fine-tuning
        stage.
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
    sklearn.semi_supervised.SelfTrainingClassifier : Another way to use unlabelled rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import Autoencoder, AutoencoderClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> y_partial = np.where(np.arange(len(y)) % 10 == 0, y, -1)  # 10 % labelled
    >>> clf = AutoencoderClassifier(Autoencoder(16, max_epochs=5), max_epochs=20,
    ...                             random_state=0).fit(X / 16, y_partial)
    >>> clf.predict_proba(X[:2] / 16).shape
    (2, 10)
    """

    _parameter_constraints: dict = {
        **TorchEstimatorMixin._parameter_constraints,
        "autoencoder": [BaseAutoencoder, None],
        "freeze_encoder": ["boolean"],
    }

    def __init__(
        self,
        autoencoder=None,
        *,
        freeze_encoder=False,
        optimizer="adam",
        learning_rate=0.01,
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
    ):
        self.autoencoder = autoencoder
        self.freeze_encoder = freeze_encoder
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

    @_fit_context(prefer_skip_nested_validation=False)
    @restore_on_failure
    def fit(self, X, y):
        """Pretrain the autoencoder on all of X, then fine-tune on the labelled rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, labelled and unlabelled rows.
        y : array-like of shape (n_samples,)
            Labels; -1 marks an unlabelled row.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        # Everything that can be checked is checked before the pretraining,
        # which may take long.
        resolve_device(self.device)
        self._check_callbacks()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        labelled = self._labelled_mask(y)
        if not labelled.any():
            raise ValueError(
                "y has no labelled row: every label is -1, the unlabelled marker."
            )
        check_classification_targets(y[labelled])
        return self.train(X, y, resume=False, streaming=False)

    def training_spec(self, X, y=None, *, fitted_module=None, streaming=False):
        labelled = self._labelled_mask(y)
        classes, y_encoded = np.unique(y[labelled], return_inverse=True)
        autoencoder = clone(self.autoencoder if self.autoencoder is not None else Autoencoder(32))
        if autoencoder.random_state is None:
            autoencoder.set_params(random_state=draw_seed(self.random_state))
        autoencoder.fit(X)
        module = EncoderClassifierModule(
            copy.deepcopy(autoencoder.module_), len(classes), freeze_encoder=self.freeze_encoder
        )
        return TrainingSpec(
            module=module,
            epochs=self.max_epochs,
            criterion=nn.CrossEntropyLoss,
            inputs=X[labelled],
            target=y_encoded,
            context={"autoencoder": autoencoder, "classes": classes},
        )

    training_spec.__doc__ = TorchEstimatorMixin.training_spec.__doc__

    def fitted_attributes(self, net, X, spec):
        return {"autoencoder_": spec.context["autoencoder"], "classes_": spec.context["classes"]}

    fitted_attributes.__doc__ = TorchEstimatorMixin.fitted_attributes.__doc__

    @staticmethod
    def _labelled_mask(y):
        if y.dtype.kind in "iuf":
            return y != UNLABELLED
        return np.ones(len(y), dtype=bool)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32],
                          ensure_all_finite=self._scans_input_on_host())
        return softmax(self._apply(_logits, X), axis=1)

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to classify.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The class of highest probability, from ``classes_``.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
