"""ParametricTSNE: a network trained with t-SNE's objective, whose transform maps new points."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import VALID_METRICS, NearestNeighbors
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import Callback

from ._compat import Interval, StrOptions, _fit_context, _joint_probabilities_nn
from .extend import TorchEstimatorMixin, TrainingSpec, restore_on_failure
from .nn import ACTIVATIONS
from ._network import NETWORK_CONSTRAINT, build_network, check_network_shapes
from .nn._tsne import EmbeddingModule, NetworkEmbeddingModule, NeighbourAffinities, TSNELoss

# Share of max_epochs trained with early exaggeration: a quarter, as
# scikit-learn's TSNE spends 250 of its default 1000 iterations.
_EXAGGERATION_SHARE = 0.25

# Rows the landmarks are placed from (k-means), their temperature and the
# noise's size are set from: a sample bounds the cost on large data, and is
# plenty for 256 centres.
_SAMPLED_ROWS = 20_000


def _neighbour_gap(rows):
    """Median distance from a row to its nearest other row (1 if all rows coincide)."""
    if len(rows) < 2:
        return 1.0
    distances = NearestNeighbors(n_neighbors=2).fit(rows).kneighbors(rows)[0][:, 1]
    distances = distances[distances > 0]
    return float(np.median(distances)) if len(distances) else 1.0


def _embed(module, x):
    return module.encode(x)


def _hidden_sizes(hidden_layer_sizes):
    sizes = (hidden_layer_sizes,) if isinstance(hidden_layer_sizes, Integral) else tuple(
        hidden_layer_sizes
    )
    if any(not isinstance(s, Integral) or s < 1 for s in sizes):
        raise ValueError(
            "hidden_layer_sizes must contain positive integers only; "
            f"got {hidden_layer_sizes!r}."
        )
    return tuple(int(s) for s in sizes)


def neighbour_affinities(X, *, perplexity, metric="euclidean", metric_params=None, n_jobs=None):
    """t-SNE's symmetric affinities P over the rows of X, as scikit-learn's TSNE computes them.

    The ``3 * perplexity`` nearest neighbours of each row come from
    :class:`~sklearn.neighbors.NearestNeighbors`; their squared distances
    are calibrated to ``perplexity`` and symmetrised by scikit-learn's own
    t-SNE code. Returns the rows of P (which sums to 1) as padded tensors.
    """
    n_samples = X.shape[0]
    n_neighbors = min(n_samples - 1, int(3.0 * perplexity + 1))
    knn = NearestNeighbors(
        n_neighbors=n_neighbors, metric=metric, metric_params=metric_params, n_jobs=n_jobs
    )
    distances = knn.fit(X).kneighbors_graph(mode="distance")
    # Squared for every metric, as TSNE does: the calibration expects squared
    # euclidean distances.
    distances.data **= 2
    P = _joint_probabilities_nn(distances, perplexity, 0)
    P = P.tocsr()
    P.sort_indices()
    counts = np.diff(P.indptr)
    width = max(1, int(counts.max()))
    rows = np.repeat(np.arange(n_samples), counts)
    slots = np.arange(P.nnz) - np.repeat(P.indptr[:-1], counts)
    # Padding points at column n_samples, which no batch holds.
    columns = np.full((n_samples, width), n_samples, dtype=np.int64)
    values = np.zeros((n_samples, width), dtype=np.float32)
    columns[rows, slots] = P.indices
    values[rows, slots] = P.data
    return NeighbourAffinities(torch.from_numpy(columns), torch.from_numpy(values))


class EarlyExaggeration(Callback):
    """Multiply the attraction by ``factor`` during the first ``n_epochs`` epochs.

    Parameters
    ----------
    factor : float
        The exaggeration (t-SNE's ``early_exaggeration``).
    n_epochs : int
        Epochs of a fit trained with it; the later ones use 1.
    """

    def __init__(self, factor, n_epochs):
        self.factor = factor
        self.n_epochs = n_epochs

    def on_epoch_begin(self, net, **kwargs):
        # The net opens the epoch's history row before the callbacks run.
        epoch = len(net.history)
        net.criterion_.exaggeration = self.factor if epoch <= self.n_epochs else 1.0

    def on_train_end(self, net, **kwargs):
        net.criterion_.exaggeration = 1.0


class ParametricTSNE(
    TorchEstimatorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Parametric t-SNE: a dense network trained to map X by t-SNE's objective.

    ``fit(X)`` computes t-SNE's neighbour affinities P over the rows of X
    and trains a dense network, with the same training engine as the skae
    autoencoders, to map the rows to ``n_components`` dimensions so that
    the Student-t similarities Q of the mapped points match P (the
    Kullback-Leibler divergence KL(P || Q) is minimised, as by
    :class:`~sklearn.manifold.TSNE`). Unlike TSNE, the result is a
    function: ``transform(X_new)`` places new points on the map with one
    forward pass of the network.

    Read more in the :ref:`User Guide <parametric_tsne>`.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the map.
    encoder : torch.nn.Module, callable or None, default=None
        Your own encoder network: a module, copied at every fit with its
        layers' ``reset_parameters()`` re-run under ``random_state``, or a
        callable ``encoder(n_features=..., n_components=...)`` returning
        one. It maps (n_samples, n_features) rows to
        (n_samples, n_components) points of the map. It sees the rows centred and
        divided by one scale, with the training noise of ``input_noise``;
        ``pca_components``, ``n_landmarks``, ``hidden_layer_sizes`` and
        ``activation``, which shape skae's own network, are then ignored.
        None builds that network. Read more in :ref:`own_network`.
    perplexity : float, default=30.0
        The perplexity of t-SNE: the effective number of neighbours each point's
        affinities are calibrated to. It must be less than the number of
        samples; ``3 * perplexity`` nearest neighbours are searched.
    early_exaggeration : float, default=4.0
        The attraction between neighbours is multiplied by this factor
        during the first quarter of ``max_epochs`` (as TSNE does for its
        first 250 of 1000 iterations), which lets clusters form before
        they settle. 1 turns it off. Lower than TSNE's 12 (see Notes).
    dof : float, default=1.0
        Degrees of freedom of the Student-t kernel of the map's
        similarities. 1 is t-SNE's Cauchy kernel; van der Maaten (2009)
        suggests ``n_components - 1`` for maps of more than two
        dimensions; values below 1 give heavier tails and tighter, more
        separated clusters.
    metric : str or callable, default="euclidean"
        Distance between rows of X for the neighbour search, any metric of
        :class:`~sklearn.neighbors.NearestNeighbors` but "precomputed" (a
        network needs features). Distances are squared before the
        perplexity calibration, as in TSNE.
    metric_params : dict, default=None
        Extra arguments of the metric.
    pca_components : int or None, default=30
        The rows are projected onto this many principal components of the
        training data (computed once, by :class:`~sklearn.decomposition.PCA`)
        before the network; the affinities P are computed from the rows
        themselves. None, or a number at least the number of features or
        rows, feeds the network the centred rows whole.
    n_landmarks : int or None, default=256
        Width of the network's first layer, a soft assignment of each
        (projected) row to this many learned landmarks, placed by k-means
        on the training rows (at most one per row; see Notes). None makes
        the first layer a plain dense one.
    input_noise : float, default=1.0
        Size of the Gaussian noise added to the (projected) inputs while
        training, relative to the median distance between a training row
        and its nearest other row: the noise added to a row has about that
        length times ``input_noise``. 0 turns it off. Makes the network place
        new points more faithfully, at a small cost to the training map
        (see Notes).
    hidden_layer_sizes : array-like of int, default=(128, 128)
        Hidden layers of the network, between the landmark layer (or the
        input) and the map.
    activation : {"relu", "elu", "selu", "tanh", "sigmoid", "identity"}, default="tanh"
        Activation of the hidden layers. The output layer is linear.
    optimizer : {"adam", "sgd", "rmsprop", "adadelta"} or torch.optim.Optimizer class, default="adam"
        The optimizer, by name or as a ``torch.optim`` class: "adam"
        uses the fused implementation; "sgd" uses momentum 0.9.
    learning_rate : float, default=0.02
        Initial learning rate.
    learning_rate_schedule : {"constant", "cosine"}, default="cosine"
        Learning rate over the epochs of :meth:`fit`: "constant" keeps
        ``learning_rate``; "cosine" anneals it to zero over
        ``max_epochs`` and trains for all of them unless
        ``early_stopping`` stops it.
    batch_size : int, default=1000
        Rows per gradient step. Each step matches P restricted to the
        batch's rows (see Notes); with ``batch_size`` at least the
        number of samples, every step minimises the exact t-SNE
        objective.
    max_epochs : int, default=200
        Maximum number of passes over the data in :meth:`fit`.
    weight_decay : float, default=0.0
        L2 penalty: the optimizer's ``weight_decay``, passed only when
        non-zero.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows and stop
        when their loss stops improving, restoring the best weights.
        When False, the training loss is watched instead (see
        ``n_iter_no_change``). Here the loss of the held-out rows is the
        KL divergence between their affinities among themselves and
        their map's similarities.
    validation_fraction : float, default=0.1
        Share of the training rows held out for validation when
        ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before
        training stops; under a cosine schedule the training loss is not
        watched, so all ``max_epochs`` run.
    tol : float, default=1e-4
        Relative improvement of the monitored loss (the training loss,
        or the validation loss with early stopping) that counts as
        progress; relative, so that one default suits data of any scale.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the shuffling and the validation split: the
        same seed gives the same model on the same device. None draws a
        fresh seed without touching numpy's global random state.
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device, default="auto"
        Where to train and infer; "auto" picks CUDA when available.
    verbose : int, default=0
        0 is silent; 1 shows one progress bar over the epochs of a fit,
        with the latest losses; 2 also prints a line per epoch
        (``partial_fit`` prints its pass's line at 1).
    callbacks : list of skorch callbacks or (name, callback) pairs, default=None
        Extra skorch callbacks (instances, classes or (name, callback)
        pairs), passed to the net as they are.
    precision : {"float32", "tf32", "bfloat16"}, default="float32"
        Arithmetic of training on CUDA: "tf32" lets float32 matrix
        products round their operands to TF32, "bfloat16" runs the
        forward pass and the loss under bf16 autocast (weights,
        gradients and optimizer state stay float32). Both are several
        times faster on recent GPUs and reach about the same error, but
        change the results in the last digits, so float32 is the
        default. Ignored on the CPU, which always trains in float32;
        inference always runs in the input's dtype.
    n_jobs : int, default=None
        Parallel jobs of the neighbour search (scikit-learn's meaning).

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components)
        The map of the training rows (``transform`` of them), in their dtype.
    kl_divergence_ : float
        Mean over the last epoch's batches of each batch's KL divergence
        (the full data's KL divergence when one batch holds all rows).
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during :meth:`fit`. Defined only when X
        has feature names that are all strings.
    n_iter_ : int
        Number of training epochs run: the length of ``history_``.
    loss_curve_ : list of float
        Training loss per epoch. Here the batches' KL divergence,
        exaggerated epochs included.
    validation_scores_ : list of float
        Minus the validation loss per epoch. Defined only when
        ``early_stopping=True``.
    history_ : skorch.History
        Everything recorded during training: the History of ``net_``.
    net_ : skorch.NeuralNet
        The fitted skorch net, which holds the module, the optimizer and
        the history.
    module_ : torch.nn.Module
        The fitted torch module: the same object as ``net_.module_``.

    See Also
    --------
    sklearn.manifold.TSNE : The t-SNE of scikit-learn, which maps its training rows only.
    Autoencoder : Codes to run t-SNE on, in a Pipeline.

    Notes
    -----
    **Affinities.** P is the one scikit-learn's :class:`~sklearn.manifold.TSNE`
    computes (its default Barnes-Hut path): the ``3 * perplexity`` nearest
    neighbours of every row from :class:`~sklearn.neighbors.NearestNeighbors`,
    their squared distances calibrated to ``perplexity`` by binary search and
    symmetrised, by the function TSNE itself calls
    (``sklearn.manifold._t_sne._joint_probabilities_nn``, imported in one
    place). openTSNE's public ``openTSNE.affinity.PerplexityBasedNN`` does the
    same job, but would make openTSNE (and its approximate neighbour search) a
    dependency of skae; scikit-learn's is already one, and using TSNE's own
    code makes the comparison of the training map with TSNE's like for like.
    P is computed once, over all training rows, and not kept in the fitted
    model.

    **Minibatch objective.** A batch of rows is mapped by the network and
    its loss is KL(P_b || Q_b): P restricted to the batch's rows and
    renormalised to sum to 1, and Q the Student-t kernel normalised over
    the batch's ordered pairs (every pair, computed exactly, no
    Barnes-Hut or negative-sampling estimate of the normalisation). Each
    batch is thus the exact t-SNE problem of its rows, as in van der
    Maaten's parametric t-SNE [1]_, which computed P within fixed batches of
    5,000 rows; here the neighbours are found in the whole data, so a row's
    affinities in a batch are its true neighbours' that happen to be there.
    With ``batch_size`` at least the number of rows, the loss is t-SNE's
    full objective. With smaller batches a row keeps about
    ``batch_size / n_samples`` of its neighbours per step, so batches should
    stay large (the default 1,000; a step costs ``batch_size ** 2`` kernel
    values). Contrastive formulations (umap-learn's ParametricUMAP [3]_
    samples graph edges and negative pairs; Damrich et al. [4]_ estimate
    t-SNE's normalisation from negative samples) scale to small batches of
    edges, but only approximate t-SNE's normalised Q; on data of a few
    thousand rows the exact batch normalisation is affordable.
    The gradient of log Z is written out (one kernel matrix and one matrix
    product per step) rather than left to autograd, and the attraction is
    summed over the pairs of P that lie inside the batch only.

    **Kernel and exaggeration.** The map's similarities use a Student-t
    kernel with ``dof`` degrees of freedom (1, t-SNE's, by default; van
    der Maaten [1]_ suggests ``n_components - 1``). During the first
    quarter of ``max_epochs`` the attraction is multiplied by
    ``early_exaggeration``; its default is 4 rather than TSNE's 12: a
    network's map is smooth already, and on digits a factor of 12 gave a
    less trustworthy final map. The loss recorded in ``loss_curve_`` is the
    batches' KL divergence in every epoch, exaggerated or not.

    **Network.** The inputs are centred, projected onto their first
    ``pca_components`` principal components and divided by one scale (their
    root mean variance), inside the network, so the defaults suit data of
    any magnitude without changing its geometry. The first layer is a soft
    assignment to ``n_landmarks`` learned landmarks: a row becomes
    ``softmax_k(-|z - c_k|^2 / t)`` over the centres ``c_k``, which start at
    k-means centres of the training rows, and a temperature ``t``, which
    starts at the median squared distance from a training row to its
    second-nearest centre; both are then trained with the rest. Two dense
    tanh layers of 128 units and a linear output follow. The landmark layer
    is the idea of kernel t-SNE (Gisbrecht et al. [5]_, a map that is a
    normalised kernel expansion over training points) with learned centres
    and a network after it: a new row is mapped from where it lies among
    the landmarks, as the training rows around it are, rather than from its
    raw coordinates, where a plain dense network extrapolates between
    training rows less faithfully. While training, Gaussian noise is added
    to the projected inputs, so that the network also sees points between
    the training rows; its length is about ``input_noise`` times the median
    distance from a training row to its nearest other row, so that it
    fills the gaps between rows whatever the data's dimension.

    **Training.** Adam with a cosine-annealed learning rate over
    ``max_epochs``. The defaults were chosen on digits and the MNIST
    subset, with held-out rows placed on a map of the others (means of 3
    seeds). Against a plain dense network of three hidden layers of 256
    units on the raw rows (``pca_components=None, n_landmarks=None,
    input_noise=0, hidden_layer_sizes=(256, 256, 256), activation="relu"``), the projection,
    landmarks and noise raised the held-out trustworthiness from 0.955 to
    0.979 on digits and from 0.947 to 0.965 on MNIST, and the held-out 5-NN
    accuracy from 0.930 to 0.977 and from 0.980 to 0.988; the training
    map's trustworthiness stayed at 0.991 on digits and went from 0.986
    to 0.983 on MNIST. Noise of a fixed size in every direction (rather
    than relative to the gaps between rows) helped raw pixels as much but
    cost the training map of 8-dimensional autoencoder codes up to 0.008 of
    trustworthiness; noise alone, 20 or 50 principal components, 512
    landmarks, centres at random training rows, perplexity 20 or
    ``dof=0.8`` did no better, and two hidden layers of 256 after the
    landmarks no better than two of 128, which place new rows 1.5 to 1.7
    times as fast. Once the loss's step had been made cheaper, a learning
    rate of 0.02 and 200 epochs (rather than 0.01 and 150) and tanh rather
    than ReLU hidden layers raised the held-out trustworthiness from 0.9653
    to 0.9695 on MNIST, from 0.9744 to 0.9795 on its 8-dimensional
    autoencoder codes and from 0.9781 to 0.9825 on those of digits (on
    digits' pixels it went from 0.9789 to 0.9772, within the seeds'
    spread), and fit stayed faster than TSNE's on the MNIST subset. The engine, devices,
    callbacks, seeding, validation and failure handling are those of the
    skae autoencoders.

    **New points.** ``transform`` is one forward pass, orders of magnitude
    faster than openTSNE's ``transform``, which optimises the new points
    against the fixed map: with the projection, its cost per row is
    ``n_features * pca_components`` plus the small network's. How well new
    points are placed depends on how well the network generalises from the
    training rows (see the benchmark report's t-SNE section for a
    comparison with openTSNE's placement).

    References
    ----------
    .. [1] L. van der Maaten, "Learning a parametric embedding by preserving
       local structure", AISTATS 2009.
    .. [2] L. van der Maaten and G. Hinton, "Visualizing data using t-SNE",
       JMLR 9, 2008.
    .. [3] T. Sainburg, L. McInnes and T. Q. Gentner, "Parametric UMAP
       embeddings for representation and semisupervised learning", Neural
       Computation 33, 2021.
    .. [4] S. Damrich, J. N. Böhm, F. A. Hamprecht and D. Kobak, "From
       t-SNE to UMAP with contrastive learning", ICLR 2023.
    .. [5] A. Gisbrecht, A. Schulz and B. Hammer, "Parametric nonlinear
       dimensionality reduction using kernel t-SNE", Neurocomputing 147,
       2015.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import ParametricTSNE
    >>> X, _ = load_digits(return_X_y=True)
    >>> tsne = ParametricTSNE(max_epochs=5, random_state=0).fit(X[:1500])
    >>> tsne.embedding_.shape
    (1500, 2)
    >>> tsne.transform(X[1500:]).shape
    (297, 2)
    """

    _parameter_constraints: dict = {
        **TorchEstimatorMixin._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "encoder": NETWORK_CONSTRAINT,
        "perplexity": [Interval(Real, 0, None, closed="neither")],
        "early_exaggeration": [Interval(Real, 1, None, closed="left")],
        "dof": [Interval(Real, 0, None, closed="neither")],
        "metric": [StrOptions(set(VALID_METRICS["brute"]) - {"precomputed"}), callable],
        "metric_params": [dict, None],
        "pca_components": [Interval(Integral, 1, None, closed="left"), None],
        "n_landmarks": [Interval(Integral, 1, None, closed="left"), None],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        n_components=2,
        *,
        encoder=None,
        perplexity=30.0,
        early_exaggeration=4.0,
        dof=1.0,
        metric="euclidean",
        metric_params=None,
        pca_components=30,
        n_landmarks=256,
        input_noise=1.0,
        hidden_layer_sizes=(128, 128),
        activation="tanh",
        optimizer="adam",
        learning_rate=0.02,
        learning_rate_schedule="cosine",
        batch_size=1000,
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
        n_jobs=None,
    ):
        self.n_components = n_components
        self.encoder = encoder
        self.perplexity = perplexity
        self.early_exaggeration = early_exaggeration
        self.dof = dof
        self.metric = metric
        self.metric_params = metric_params
        self.pca_components = pca_components
        self.n_landmarks = n_landmarks
        self.input_noise = input_noise
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
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
        self.n_jobs = n_jobs

    # ------------------------------------------------------------- contract
    def training_spec(self, X, y=None, *, fitted_module=None, streaming=False):
        n_samples, n_features = X.shape
        if self.perplexity >= n_samples:
            raise ValueError(
                f"perplexity must be less than n_samples; got perplexity={self.perplexity} "
                f"for {n_samples} samples."
            )
        module = self._build_module(n_features, n_samples)
        self._set_input_statistics(module, X)
        affinities = neighbour_affinities(
            X,
            perplexity=self.perplexity,
            metric=self.metric,
            metric_params=self.metric_params,
            n_jobs=self.n_jobs,
        )
        exaggeration = EarlyExaggeration(
            float(self.early_exaggeration), round(_EXAGGERATION_SHARE * self.max_epochs)
        )
        return TrainingSpec(
            module=module,
            epochs=self.max_epochs,
            criterion=TSNELoss,
            criterion_params={"affinities": affinities, "dof": float(self.dof)},
            callbacks=[("early_exaggeration", exaggeration)],
            # The targets are the rows' own indices: each batch's loss reads
            # the affinities among the rows it holds.
            target=np.arange(n_samples),
            release=affinities.release,
        )

    training_spec.__doc__ = TorchEstimatorMixin.training_spec.__doc__

    def fitted_attributes(self, net, X, spec):
        return {
            "embedding_": self._apply(_embed, X, net.module_),
            "kl_divergence_": float(net.history[-1, "train_loss"]),
        }

    fitted_attributes.__doc__ = TorchEstimatorMixin.fitted_attributes.__doc__

    def _build_module(self, n_features, n_samples):
        if self.encoder is not None:
            network = build_network("encoder", self.encoder, n_features=n_features,
                                    n_components=self.n_components)
            check_network_shapes(network, n_features=n_features, n_components=self.n_components)
            return NetworkEmbeddingModule(
                network, n_features, self.n_components, input_noise=float(self.input_noise)
            )
        n_inputs = self.pca_components
        if n_inputs is not None and n_inputs >= min(n_features, n_samples):
            # As many directions as the data have: a projection changes nothing.
            n_inputs = None
        return EmbeddingModule(
            n_features,
            self.n_components,
            _hidden_sizes(self.hidden_layer_sizes),
            activation=self.activation,
            n_inputs=n_inputs,
            n_landmarks=None if self.n_landmarks is None else min(self.n_landmarks, n_samples),
            input_noise=float(self.input_noise),
        )

    def _set_input_statistics(self, module, X):
        """The input's shift, projection and scale, the noise's size and the landmarks."""
        # Runs seeded: the draws below follow random_state.
        seed = int(torch.randint(2**31 - 1, ()).item())
        if module.projection is None:
            shift = X.mean(axis=0, dtype=np.float64)
            standardised = X - shift
            projection = None
        else:
            pca = PCA(module.projection.shape[1], svd_solver="covariance_eigh").fit(X)
            shift, projection = pca.mean_, pca.components_.T
            standardised = pca.transform(X)
        # One scale for all directions (their root mean variance) keeps the
        # geometry P was computed from.
        scale = float(np.sqrt(standardised.var(axis=0, dtype=np.float64).mean()))
        scale = scale if np.isfinite(scale) and scale > 0 else 1.0
        rows = np.random.RandomState(seed).permutation(len(X))[:_SAMPLED_ROWS]
        sample = standardised[rows] / scale
        module.set_input_statistics(
            torch.as_tensor(shift, dtype=module.shift.dtype),
            scale,
            None if projection is None else torch.as_tensor(projection,
                                                             dtype=module.projection.dtype),
            input_noise=self.input_noise * _neighbour_gap(sample) / np.sqrt(sample.shape[1]),
        )
        if module.landmarks is not None:
            self._place_landmarks(module.landmarks, sample, seed)

    @staticmethod
    def _place_landmarks(landmarks, rows, seed):
        """Landmarks at k-means centres of the rows; the temperature from their spacing."""
        n_landmarks = landmarks.centres.shape[0]
        with warnings.catch_warnings():
            # Fewer distinct rows than landmarks leaves duplicate centres: harmless.
            warnings.simplefilter("ignore", ConvergenceWarning)
            kmeans = KMeans(n_landmarks, n_init=1, max_iter=20, random_state=seed).fit(rows)
        # A row's softmax then spreads over its nearest few landmarks: the
        # temperature is the median squared distance to the second nearest.
        distances = np.sort(kmeans.transform(rows), axis=1)[:, min(1, n_landmarks - 1)]
        temperature = float(np.median(distances) ** 2)
        landmarks.place(
            torch.as_tensor(kmeans.cluster_centers_, dtype=landmarks.centres.dtype),
            temperature if temperature > 0 else 1.0,
        )

    # -------------------------------------------------------------- training
    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_failure
    def fit(self, X, y=None):
        """Compute the affinities of X and train the network to map X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; accepted for Pipeline compatibility.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        return self.train(X, resume=False, streaming=False)

    def fit_transform(self, X, y=None):
        """Fit to X and return the map of its rows (``embedding_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            The map of the training rows, in X's float dtype.
        """
        return self.fit(X).embedding_

    def transform(self, X):
        """Place the rows of X on the map: one forward pass of the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows with the training data's features.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Map coordinates, in X's float dtype.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._apply(_embed, X)

    @property
    def _n_features_out(self):
        return self.embedding_.shape[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
