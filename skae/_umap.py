"""ParametricUMAP: a network trained on UMAP's fuzzy-graph cross-entropy, whose transform maps new points."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from scipy import sparse
from scipy.optimize import curve_fit
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import VALID_METRICS, NearestNeighbors
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._compat import _fit_context
from ._network import NETWORK_CONSTRAINT, build_network, check_network_shapes
from .extend import Interval, StrOptions, TorchEstimatorMixin, TrainingSpec, apply_module
from .extend import restore_on_failure
from .nn import ACTIVATIONS, dense_stack
from .nn._tsne import EmbeddingModule, NetworkEmbeddingModule
from .nn._umap import EdgeSampler, ParametricUMAPModule, UMAPLoss, reconstruction_error

# umap-learn's own switch: below this many rows it computes neighbours
# exactly, above it with pynndescent.
_EXACT_NEIGHBORS_MAX_ROWS = 4096

# umap-learn's smooth_knn_dist constants.
_SMOOTH_K_TOLERANCE = 1e-5
_MIN_K_DIST_SCALE = 1e-3
_BINARY_SEARCH_STEPS = 64

# umap-learn's disconnection distances: a neighbour at least this far (in a
# bounded metric) is no neighbour.
_DISCONNECTION_DISTANCES = {"correlation": 2, "cosine": 2, "hamming": 1, "jaccard": 1,
                            "dice": 1}

# Rows the landmarks are placed from and the noise is sized on: a sample
# bounds the cost on large data.
_SAMPLED_ROWS = 20_000


def find_ab_params(spread, min_dist):
    """The curve ``1 / (1 + a d^(2b))`` closest to UMAP's target membership, as umap-learn fits it.

    The target is 1 up to ``min_dist`` and ``exp(-(d - min_dist) / spread)``
    beyond, on 300 points of [0, 3 spread] (umap-learn's ``find_ab_params``).
    """

    def curve(x, a, b):
        return 1.0 / (1.0 + a * x ** (2 * b))

    xv = np.linspace(0, spread * 3, 300)
    yv = np.where(xv < min_dist, 1.0, np.exp(-(xv - min_dist) / spread))
    (a, b), _ = curve_fit(curve, xv, yv)
    return float(a), float(b)


def nearest_neighbors(X, n_neighbors, *, metric, metric_params, method, random_state, n_jobs):
    """Each row's ``n_neighbors`` nearest training rows (itself among them), with distances."""
    if method == "auto":
        method = "exact"
        if X.shape[0] > _EXACT_NEIGHBORS_MAX_ROWS and isinstance(metric, str):
            try:
                import pynndescent  # noqa: F401
            except ImportError:
                pass
            else:
                method = "pynndescent"
    if method == "pynndescent":
        try:
            from pynndescent import NNDescent
        except ImportError as error:
            raise ImportError(
                "neighbor_search='pynndescent' needs the pynndescent package "
                "(pip install pynndescent); or use neighbor_search='exact'."
            ) from error
        index = NNDescent(
            X, n_neighbors=n_neighbors, metric=metric, metric_kwds=metric_params,
            random_state=np.random.RandomState(random_state), n_jobs=n_jobs or 1,
            low_memory=True, verbose=False,
        )
        indices, distances = index.neighbor_graph
        return distances.astype(np.float64), indices.astype(np.int64)
    search = NearestNeighbors(n_neighbors=n_neighbors, metric=metric, metric_params=metric_params,
                              n_jobs=n_jobs)
    try:
        distances, indices = search.fit(X).kneighbors(X)
    except TypeError as error:
        if not metric_params:
            raise
        raise TypeError(f"metric_params={metric_params!r} are not parameters of "
                        f"metric={metric!r}: {error}") from error
    return distances.astype(np.float64), indices.astype(np.int64)


def smooth_knn_distances(distances, *, local_connectivity=1.0):
    """UMAP's per-row rho (distance to the nearest neighbour) and sigma (the kernel's width).

    umap-learn's ``smooth_knn_dist``, with all rows bisected at once: sigma
    makes the memberships ``exp(-(d - rho) / sigma)`` of a row's neighbours
    (its first column, itself, left out) sum to ``log2(n_neighbors)``.
    """
    n_rows, n_neighbors = distances.shape
    target = np.log2(n_neighbors)
    # Neighbour distances are sorted: the non-zero ones are each row's tail.
    n_zero = (distances <= 0).sum(axis=1)
    n_nonzero = n_neighbors - n_zero
    index = int(np.floor(local_connectivity))
    interpolation = local_connectivity - index
    rows = np.arange(n_rows)
    take = lambda offset: distances[rows, np.clip(n_zero + offset, 0, n_neighbors - 1)]  # noqa: E731
    if index > 0:
        rho = take(index - 1)
        if interpolation > _SMOOTH_K_TOLERANCE:
            rho = rho + interpolation * (take(index) - take(index - 1))
    else:
        rho = interpolation * take(0)
    rho = np.where(n_nonzero >= local_connectivity, rho,
                   np.where(n_nonzero > 0, distances.max(axis=1), 0.0))

    low = np.zeros(n_rows)
    high = np.full(n_rows, np.inf)
    mid = np.ones(n_rows)
    done = np.zeros(n_rows, dtype=bool)
    excess = np.maximum(distances[:, 1:] - rho[:, None], 0.0)
    for _ in range(_BINARY_SEARCH_STEPS):
        total = np.exp(-excess / mid[:, None]).sum(axis=1)
        done |= np.abs(total - target) < _SMOOTH_K_TOLERANCE
        above = (total > target) & ~done
        below = (total <= target) & ~done
        high = np.where(above, mid, high)
        low = np.where(below, mid, low)
        mid = np.where(above, (low + high) / 2,
                       np.where(below, np.where(np.isinf(high), mid * 2, (low + high) / 2), mid))
        if done.all():
            break
    row_means = distances.mean(axis=1)
    floor = np.where(rho > 0, row_means, distances.mean()) * _MIN_K_DIST_SCALE
    sigma = np.maximum(mid, floor)
    return rho, sigma


def fuzzy_simplicial_set(distances, indices, *, local_connectivity=1.0, set_op_mix_ratio=1.0,
                         disconnection_distance=np.inf):
    """UMAP's fuzzy graph over the rows, from each row's neighbours, as a CSR matrix.

    Memberships ``exp(-(d - rho) / sigma)`` (1 for the nearest neighbours),
    then the fuzzy union ``P + P.T - P * P.T`` (``set_op_mix_ratio=1``), or
    its mix with the intersection ``P * P.T``, as umap-learn's
    ``fuzzy_simplicial_set``.
    """
    n_rows, n_neighbors = distances.shape
    rho, sigma = smooth_knn_distances(distances, local_connectivity=local_connectivity)
    excess = distances - rho[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        strengths = np.where((excess <= 0) | (sigma[:, None] == 0), 1.0,
                             np.exp(-excess / sigma[:, None]))
    heads = np.repeat(np.arange(n_rows), n_neighbors)
    keep = (indices.ravel() != heads) & (indices.ravel() >= 0) & (
        distances.ravel() < disconnection_distance)
    graph = sparse.coo_matrix(
        (strengths.ravel()[keep], (heads[keep], indices.ravel()[keep])), shape=(n_rows, n_rows)
    ).tocsr()
    graph.eliminate_zeros()
    transpose = graph.T.tocsr()
    both = graph.multiply(transpose)
    graph = (set_op_mix_ratio * (graph + transpose - both)
             + (1.0 - set_op_mix_ratio) * both).tocsr()
    graph.eliminate_zeros()
    graph.sort_indices()
    return graph


def trustworthiness_score(X, Y, n_neighbors, *, metric="euclidean", metric_params=None):
    """scikit-learn's ``trustworthiness`` of the map Y of X, in memory linear in the rows.

    Distances in X are computed a block of rows at a time; a row's map
    neighbour ranked r-th among its neighbours in X costs ``r - n_neighbors``
    when r exceeds ``n_neighbors``.
    """
    n_samples = X.shape[0]
    map_neighbors = NearestNeighbors(n_neighbors=n_neighbors).fit(Y).kneighbors(
        return_distance=False
    )

    def penalties(block, start):
        rows = np.arange(start, start + len(block))
        block = np.array(block, dtype=np.float64)
        block[np.arange(len(block)), rows] = -np.inf  # a row is not its own neighbour
        to_neighbors = np.take_along_axis(block, map_neighbors[rows], axis=1)
        # The rank of each map neighbour among the row's neighbours in X.
        ranks = (block[:, None, :] < to_neighbors[:, :, None]).sum(axis=2)
        return np.maximum(ranks - n_neighbors, 0).sum(axis=1)

    total = sum(chunk.sum() for chunk in pairwise_distances_chunked(
        X, reduce_func=penalties, metric=metric, **(metric_params or {})
    ))
    k = n_neighbors
    return float(1.0 - total * (2.0 / (n_samples * k * (2.0 * n_samples - 3.0 * k - 1.0))))


def _embed(module, x):
    return module.encode(x)


def _decode(module, z):
    return module.decode(z)


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


def _release(module):
    def release():
        module.sampler = None

    return release


class ParametricUMAP(
    TorchEstimatorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Parametric UMAP: a network trained on UMAP's fuzzy graph, whose transform places new points.

    ``fit(X)`` builds UMAP's fuzzy neighbour graph over the rows of X (as
    umap-learn's ``UMAP`` does) and trains a network, with the same training
    engine as the skae autoencoders, to map the rows to ``n_components``
    dimensions by UMAP's cross-entropy: edges of the graph are drawn in
    proportion to their weights and pull their ends together, and
    ``negative_sample_rate`` uniformly drawn rows per edge push its head
    away (the parametric UMAP of Sainburg, McInnes and Gentner [1]_).
    ``transform(X_new)`` places new points with one forward pass. With
    ``reconstruction_weight > 0`` a decoder is trained jointly and
    ``inverse_transform`` maps points of the map back to input space.

    Read more in the :ref:`User Guide <parametric_umap>`.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the map.
    encoder : torch.nn.Module, callable or None, default=None
        Your own encoder network: a module, copied at every fit with its
        layers' ``reset_parameters()`` re-run under ``random_state``, or a
        callable ``encoder(n_features=..., n_components=...)`` returning
        one. It maps (n_samples, n_features) rows, centred and divided by
        one scale, with the training noise of ``input_noise``, to
        (n_samples, n_components) points of the map; ``pca_components``,
        ``n_landmarks``, ``hidden_layer_sizes`` and ``activation``, which
        shape skae's own encoder, are then ignored. None builds that
        network. Read more in :ref:`own_network`.
    decoder : torch.nn.Module, callable or None, default=None
        Your own decoder, used when ``reconstruction_weight > 0``: it maps
        (n_samples, n_components) points to (n_samples, n_features) rows,
        centred and divided by the encoder's scale (the estimator adds
        them back). A module is copied at every fit, a callable is called
        as ``decoder(n_features=..., n_components=...)``. None builds a
        dense network mirroring ``hidden_layer_sizes``.
    n_neighbors : int, default=15
        Neighbours of each row in the fuzzy graph, the row itself included
        (umap-learn's meaning): larger values keep more of the global
        structure. At least 2; above the number of samples it is cut to
        ``n_samples - 1`` with a warning, as umap-learn does.
    min_dist : float, default=0.1
        The smallest distance of points on the map, through the curve
        ``1 / (1 + a d^(2b))`` fitted to it and ``spread``. At most
        ``spread``.
    spread : float, default=1.0
        The scale of the map's clusters (with ``min_dist``).
    metric : str or callable, default="euclidean"
        Distance between rows of X for the neighbour search, any metric of
        :class:`~sklearn.neighbors.NearestNeighbors` but "precomputed" (a
        network needs features).
    metric_params : dict, default=None
        Extra arguments of the metric.
    neighbor_search : {"auto", "exact", "pynndescent"}, default="auto"
        How the neighbours are found: "exact" with
        :class:`~sklearn.neighbors.NearestNeighbors`; "pynndescent" with
        the approximate search umap-learn uses (the optional ``pynndescent``
        package); "auto" is exact up to 4,096 rows (umap-learn's switch) and
        pynndescent above when it is installed and the metric is named.
    local_connectivity : float, default=1.0
        Neighbours each row is assumed connected to (umap-learn's
        meaning): that many nearest ones get membership 1.
    set_op_mix_ratio : float, default=1.0
        Symmetrisation of the graph: 1 is the fuzzy union, 0 the fuzzy
        intersection, in between a mix.
    negative_sample_rate : int, default=5
        Uniformly drawn rows each sampled edge's head is pushed away from.
    repulsion_strength : float, default=1.0
        Weight of the negative samples in the cross-entropy.
    reconstruction_weight : float, default=0.0
        0 trains no decoder. Above 0 a decoder is trained jointly, its mean
        squared error on the standardised rows (1 for predicting the mean)
        added with this weight to the map's loss, and
        :meth:`inverse_transform` decodes points of the map.
    pca_components : int or None, default=30
        The rows are projected onto this many principal components of the
        training data inside the encoder; the graph is built from the rows
        themselves. None, or a number at least the number of features or
        rows, feeds the encoder the centred rows whole.
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
        Hidden layers of the encoder (the decoder mirrors them).
    activation : {"relu", "elu", "selu", "tanh", "sigmoid", "identity"}, default="tanh"
        Activation of the hidden layers. The output layers are linear.
    optimizer : {"adam", "sgd", "rmsprop", "adadelta"} or torch.optim.Optimizer class, default="adam"
        The optimizer, by name or as a ``torch.optim`` class: "adam"
        uses the fused implementation; "sgd" uses momentum 0.9.
    learning_rate : float, default=0.01
        Initial learning rate.
    learning_rate_schedule : {"constant", "cosine"}, default="cosine"
        Learning rate over the epochs of :meth:`fit`: "constant" keeps
        ``learning_rate`` (and stops when the loss stops improving, see
        ``n_iter_no_change``); "cosine" anneals it to zero over
        ``max_epochs``.
    batch_size : int, default=1024
        Sampled edges per gradient step.
    max_epochs : int, default=50
        Epochs of :meth:`fit`. An epoch draws as many edges as the graph's
        weights sum to (relative to the largest): umap-learn's epoch, in
        which an edge of weight 1 is sampled once.
    weight_decay : float, default=0.0
        L2 penalty: the optimizer's ``weight_decay``, passed only when
        non-zero.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before training
        stops; under a cosine schedule the training loss is not watched, so
        all ``max_epochs`` run.
    tol : float, default=1e-4
        Relative improvement of the training loss that counts as progress.
    random_state : int, RandomState instance or None, default=None
        Seeds the neighbour search (pynndescent), the weights, the edge and
        negative sampling and the noise: the same seed gives the same model
        on the same device. None draws a fresh seed without touching
        numpy's global random state.
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device, default="auto"
        Where to train and infer; "auto" picks CUDA when available.
    verbose : int, default=0
        0 is silent; 1 shows one progress bar over the epochs of a fit,
        with the latest losses; 2 also prints a line per epoch.
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
    graph_ : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        The fuzzy graph of the training rows, symmetric, as umap-learn's ``graph_``.
    a_ : float
        The curve's ``a``, fitted from ``min_dist`` and ``spread``.
    b_ : float
        The curve's ``b``.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during :meth:`fit`. Defined only when X
        has feature names that are all strings.
    n_iter_ : int
        Number of training epochs run: the length of ``history_``.
    loss_curve_ : list of float
        Training loss per epoch. Here the mean over the epoch's sampled
        edges of the cross-entropy (plus the weighted reconstruction error).
    history_ : skorch.History
        Everything recorded during training: the History of ``net_``.
    net_ : skorch.NeuralNet
        The fitted skorch net, which holds the module, the optimizer and
        the history.
    module_ : torch.nn.Module
        The fitted torch module: the same object as ``net_.module_``.

    See Also
    --------
    ParametricTSNE : The same idea on t-SNE's objective.
    Autoencoder : Codes to build the map on, in a Pipeline.

    Notes
    -----
    **Graph.** As umap-learn's: each row's ``n_neighbors`` nearest rows
    (itself included), memberships ``exp(-(d - rho_i) / sigma_i)`` with
    ``rho_i`` the distance to the nearest other row and ``sigma_i`` found by
    bisection so that a row's memberships sum to ``log2(n_neighbors)``, then
    the fuzzy union. Duplicate rows are each other's neighbours at distance
    0 (membership 1); rows whose neighbours all lie at a bounded metric's
    disconnection distance (cosine, correlation: 2) get no edge, are
    placed by the network like new points, and a warning says how many.

    **Training.** Each step draws ``batch_size`` edges with probability
    proportional to their weights (umap-learn's ``epochs_per_sample`` in
    expectation) and ``negative_sample_rate`` uniformly drawn rows per
    edge, and minimises the cross-entropy between the graph (1 for an edge,
    0 for a negative pair) and the map's memberships. Memory is that of the
    graph (linear in the rows) and of one batch: the loss never forms an
    (n, n) matrix. When a batch would encode more rows than the data hold,
    all rows are encoded once per step instead.

    **Encoder.** :class:`ParametricTSNE`'s: the rows centred, projected on
    ``pca_components`` principal components and scaled, a layer of soft
    landmarks, then the hidden layers and a linear output. The graph's
    memory and training steps do not grow with the square of the rows;
    the exact neighbour search does, in time, which is why larger data
    use pynndescent.

    **Score.** :meth:`score` is the trustworthiness of the map of X with
    ``n_neighbors`` neighbours (capped below half the rows): how well the
    map's neighbourhoods of X's rows are neighbourhoods in X, between 0 and
    1, higher better. ``GridSearchCV(ParametricUMAP(), grid)`` therefore
    picks the parameters that place held-out rows most faithfully. It
    computes X's distances a block at a time: time quadratic in the rows
    scored, memory linear.

    References
    ----------
    .. [1] T. Sainburg, L. McInnes and T. Q. Gentner, "Parametric UMAP
       embeddings for representation and semisupervised learning", Neural
       Computation 33, 2021.
    .. [2] L. McInnes, J. Healy and J. Melville, "UMAP: Uniform Manifold
       Approximation and Projection for dimension reduction", arXiv
       1802.03426, 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import ParametricUMAP
    >>> X, _ = load_digits(return_X_y=True)
    >>> umap = ParametricUMAP(max_epochs=2, random_state=0).fit(X[:1500] / 16)
    >>> umap.embedding_.shape, umap.graph_.shape
    ((1500, 2), (1500, 1500))
    >>> umap.transform(X[1500:] / 16).shape
    (297, 2)
    """

    _parameter_constraints: dict = {
        **TorchEstimatorMixin._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "encoder": NETWORK_CONSTRAINT,
        "decoder": NETWORK_CONSTRAINT,
        "n_neighbors": [Interval(Integral, 2, None, closed="left")],
        "min_dist": [Interval(Real, 0, None, closed="left")],
        "spread": [Interval(Real, 0, None, closed="neither")],
        # NaN is refused in X, so the metric that skips NaN has nothing to do.
        "metric": [StrOptions(set(VALID_METRICS["brute"]) - {"precomputed", "nan_euclidean"}),
                   callable],
        "metric_params": [dict, None],
        "neighbor_search": [StrOptions({"auto", "exact", "pynndescent"})],
        "local_connectivity": [Interval(Real, 0, None, closed="left")],
        "set_op_mix_ratio": [Interval(Real, 0, 1, closed="both")],
        "negative_sample_rate": [Interval(Integral, 0, None, closed="left")],
        "repulsion_strength": [Interval(Real, 0, None, closed="left")],
        "reconstruction_weight": [Interval(Real, 0, None, closed="left")],
        "pca_components": [Interval(Integral, 1, None, closed="left"), None],
        "n_landmarks": [Interval(Integral, 1, None, closed="left"), None],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "n_jobs": [Integral, None],
    }

    # No held-out validation: every row's edges are part of the one graph
    # the map is trained on (the engine reads these two settings).
    early_stopping = False
    validation_fraction = None

    def __init__(
        self,
        n_components=2,
        *,
        encoder=None,
        decoder=None,
        n_neighbors=15,
        min_dist=0.1,
        spread=1.0,
        metric="euclidean",
        metric_params=None,
        neighbor_search="auto",
        local_connectivity=1.0,
        set_op_mix_ratio=1.0,
        negative_sample_rate=5,
        repulsion_strength=1.0,
        reconstruction_weight=0.0,
        pca_components=30,
        n_landmarks=256,
        input_noise=1.0,
        hidden_layer_sizes=(128, 128),
        activation="tanh",
        optimizer="adam",
        learning_rate=0.01,
        learning_rate_schedule="cosine",
        batch_size=1024,
        max_epochs=50,
        weight_decay=0.0,
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
        self.decoder = decoder
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.spread = spread
        self.metric = metric
        self.metric_params = metric_params
        self.neighbor_search = neighbor_search
        self.local_connectivity = local_connectivity
        self.set_op_mix_ratio = set_op_mix_ratio
        self.negative_sample_rate = negative_sample_rate
        self.repulsion_strength = repulsion_strength
        self.reconstruction_weight = reconstruction_weight
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
        if self.min_dist > self.spread:
            raise ValueError(
                f"min_dist must be less than or equal to spread; got min_dist={self.min_dist} "
                f"and spread={self.spread}."
            )
        if self.decoder is not None and self.reconstruction_weight == 0:
            raise ValueError(
                "decoder= is trained only with reconstruction_weight > 0; got "
                "reconstruction_weight=0. Set it (1.0 is a good start), or leave decoder=None."
            )
        # Runs seeded: this draw and the ones below follow random_state.
        seed = int(torch.randint(2**31 - 1, ()).item())
        graph = self._fuzzy_graph(X, seed)
        a, b = find_ab_params(float(self.spread), float(self.min_dist))
        module = self._build_module(X, n_features, n_samples, seed)
        heads, tails = graph.nonzero()
        weights = graph.data if len(graph.data) else np.ones(0)
        if len(weights) == 0:
            raise ValueError(
                f"The fuzzy graph of these {n_samples} rows has no edge (every neighbour lies at "
                f"the disconnection distance of metric={self.metric!r}): there is nothing to map."
            )
        rows = torch.as_tensor(np.asarray(X, dtype=np.float32))
        module.sampler = EdgeSampler(rows, torch.as_tensor(heads, dtype=torch.int64),
                                     torch.as_tensor(tails, dtype=torch.int64),
                                     torch.as_tensor(weights))
        # An epoch draws as many edges as umap-learn's: each edge weight / max weight times.
        edges_per_epoch = max(1, math.ceil(weights.sum() / weights.max()))
        return TrainingSpec(
            module=module,
            epochs=self.max_epochs,
            criterion=UMAPLoss,
            criterion_params={
                "a": a, "b": b, "negative_sample_rate": int(self.negative_sample_rate),
                "repulsion_strength": float(self.repulsion_strength),
            },
            penalties=self._penalties(),
            # Each slot is one edge drawn by the module's forward pass: the
            # slots set the epoch's length, the module draws what fills them.
            inputs=np.zeros((edges_per_epoch, 1), dtype=np.float32),
            context={"graph": graph, "a": a, "b": b},
            release=_release(module),
        )

    training_spec.__doc__ = TorchEstimatorMixin.training_spec.__doc__

    def fitted_attributes(self, net, X, spec):
        graph = spec.context["graph"]
        return {
            "embedding_": apply_module(_embed, X, net.module_),
            # The graph's arrays, from which graph_ is built: plain arrays
            # that pickle and skae.save write as they are.
            "_graph_parts": {"data": graph.data, "indices": graph.indices,
                             "indptr": graph.indptr, "shape": graph.shape},
            "a_": spec.context["a"],
            "b_": spec.context["b"],
        }

    fitted_attributes.__doc__ = TorchEstimatorMixin.fitted_attributes.__doc__

    def _penalties(self):
        # The decoder's error, with its weight, beside the map's cross-entropy.
        if self.reconstruction_weight > 0:
            return [(float(self.reconstruction_weight), reconstruction_error)]
        return []

    @property
    def graph_(self):
        """The fuzzy graph of the training rows, symmetric, as umap-learn's ``graph_``."""
        check_is_fitted(self)
        parts = self._graph_parts
        return sparse.csr_matrix((parts["data"], parts["indices"], parts["indptr"]),
                                 shape=tuple(parts["shape"]))

    def _fuzzy_graph(self, X, seed):
        n_samples = X.shape[0]
        n_neighbors = self.n_neighbors
        if n_neighbors >= n_samples:
            # umap-learn's behaviour, with its message.
            n_neighbors = max(2, n_samples - 1)
            warnings.warn(
                f"n_neighbors={self.n_neighbors} is not smaller than the dataset size "
                f"({n_samples} samples); truncating to {n_neighbors}.",
                UserWarning,
                stacklevel=4,
            )
        distances, indices = nearest_neighbors(
            X, n_neighbors, metric=self.metric, metric_params=self.metric_params,
            method=self.neighbor_search, random_state=seed, n_jobs=self.n_jobs,
        )
        disconnection = (_DISCONNECTION_DISTANCES.get(self.metric, np.inf)
                         if isinstance(self.metric, str) else np.inf)
        graph = fuzzy_simplicial_set(
            distances, indices, local_connectivity=float(self.local_connectivity),
            set_op_mix_ratio=float(self.set_op_mix_ratio), disconnection_distance=disconnection,
        )
        isolated = int((np.diff(graph.indptr) == 0).sum())
        if isolated:
            warnings.warn(
                f"{isolated} of {n_samples} rows have no edge in the fuzzy graph (their "
                f"neighbours lie at the disconnection distance of metric={self.metric!r}, "
                f"{disconnection}): nothing attracts them, and the network places them as "
                "it places new points.",
                UserWarning,
                stacklevel=4,
            )
        return graph

    def _build_module(self, X, n_features, n_samples, seed):
        if self.encoder is not None:
            network = build_network("encoder", self.encoder, n_features=n_features,
                                    n_components=self.n_components)
            check_network_shapes(network, n_features=n_features, n_components=self.n_components)
            encoder = NetworkEmbeddingModule(network, n_features, self.n_components,
                                             input_noise=float(self.input_noise))
        else:
            n_inputs = self.pca_components
            if n_inputs is not None and n_inputs >= min(n_features, n_samples):
                # As many directions as the data have: a projection changes nothing.
                n_inputs = None
            encoder = EmbeddingModule(
                n_features, self.n_components, _hidden_sizes(self.hidden_layer_sizes),
                activation=self.activation, n_inputs=n_inputs,
                n_landmarks=None if self.n_landmarks is None else min(self.n_landmarks,
                                                                       n_samples),
                input_noise=float(self.input_noise),
            )
        _set_input_statistics(encoder, X, float(self.input_noise), seed)
        decoder = None
        if self.reconstruction_weight > 0:
            if self.decoder is not None:
                decoder = build_network("decoder", self.decoder, n_features=n_features,
                                        n_components=self.n_components)
                check_network_shapes(encoder, decoder, n_features=n_features,
                                     n_components=self.n_components)
            else:
                sizes = [self.n_components, *reversed(_hidden_sizes(self.hidden_layer_sizes)),
                         n_features]
                decoder = dense_stack(sizes, self.activation)
        return ParametricUMAPModule(encoder, decoder,
                                    negative_sample_rate=int(self.negative_sample_rate))

    # -------------------------------------------------------------- training
    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_failure
    def fit(self, X, y=None):
        """Build the fuzzy graph of X and train the network to map X.

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
        # The engine's fit: the one TorchEstimatorMixin offers its families
        # (ParametricTSNE's too) until the contract names a public one.
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
        """Place the rows of X on the map: one forward pass of the encoder.

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
        return apply_module(_embed, X, self.module_)

    def inverse_transform(self, X):
        """Map points of the map back to input space with the decoder.

        Needs a decoder: fit with ``reconstruction_weight > 0``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Points of the map (from :meth:`transform`, a grid over it, an
            interpolation between two points).

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Decoded rows, in the points' float dtype.
        """
        check_is_fitted(self)
        if self.module_.decoder is None:
            raise ValueError(
                f"inverse_transform needs a decoder, and this {type(self).__name__} was fitted "
                f"with reconstruction_weight={self.reconstruction_weight}: set "
                "reconstruction_weight > 0 (1.0 is a good start) and fit again."
            )
        Z = check_array(X, dtype=[np.float64, np.float32])
        if Z.shape[1] != self.module_.n_components:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects points of "
                f"the map, with n_components={self.module_.n_components} features."
            )
        return apply_module(_decode, Z, self.module_)

    def score(self, X, y=None):
        """Trustworthiness of the map of X (higher is better, at most 1).

        How well the map's ``n_neighbors`` nearest neighbours of each row
        (capped below half the rows of X) are its neighbours in X, as
        :func:`sklearn.manifold.trustworthiness` computes it with this
        estimator's metric, in memory linear in the rows. Score held-out
        rows to judge how faithfully new points are placed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to map and score; at least 4.
        y : None
            Ignored.

        Returns
        -------
        score : float
            The trustworthiness, between 0 and 1.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32],
                          ensure_min_samples=4)
        n_neighbors = min(self.n_neighbors, (X.shape[0] - 1) // 2)
        return trustworthiness_score(X, self.transform(X), n_neighbors, metric=self.metric,
                                     metric_params=self.metric_params)

    @property
    def _n_features_out(self):
        return self.embedding_.shape[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _set_input_statistics(encoder, X, input_noise, seed):
    """The encoder's input shift, projection and scale, the noise's size and the landmarks."""
    projection = getattr(encoder, "projection", None)
    if projection is None:
        shift = X.mean(axis=0, dtype=np.float64)
        standardised = X - shift
        components = None
    else:
        pca = PCA(projection.shape[1], svd_solver="covariance_eigh").fit(X)
        shift, components = pca.mean_, pca.components_.T
        standardised = pca.transform(X)
    # One scale for all directions (their root mean variance) keeps the
    # geometry the graph was built from.
    scale = float(np.sqrt(standardised.var(axis=0, dtype=np.float64).mean()))
    scale = scale if np.isfinite(scale) and scale > 0 else 1.0
    rows = np.random.RandomState(seed).permutation(len(X))[:_SAMPLED_ROWS]
    sample = standardised[rows] / scale
    encoder.set_input_statistics(
        torch.as_tensor(shift, dtype=encoder.shift.dtype),
        scale,
        None if components is None else torch.as_tensor(components, dtype=projection.dtype),
        input_noise=input_noise * _neighbour_gap(sample) / np.sqrt(sample.shape[1]),
    )
    landmarks = getattr(encoder, "landmarks", None)
    if landmarks is not None:
        _place_landmarks(landmarks, sample, seed)


def _neighbour_gap(rows):
    """Median distance from a row to its nearest other row (1 if all rows coincide)."""
    if len(rows) < 2:
        return 1.0
    distances = NearestNeighbors(n_neighbors=2).fit(rows).kneighbors(rows)[0][:, 1]
    distances = distances[distances > 0]
    return float(np.median(distances)) if len(distances) else 1.0


def _place_landmarks(landmarks, rows, seed):
    """Landmarks at k-means centres of the rows; the temperature from their spacing."""
    n_landmarks = landmarks.centres.shape[0]
    with warnings.catch_warnings():
        # Fewer distinct rows than landmarks leaves duplicate centres: harmless.
        warnings.simplefilter("ignore", ConvergenceWarning)
        kmeans = KMeans(n_landmarks, n_init=1, max_iter=20, random_state=seed).fit(rows)
    distances = np.sort(kmeans.transform(rows), axis=1)[:, min(1, n_landmarks - 1)]
    temperature = float(np.median(distances) ** 2)
    landmarks.place(
        torch.as_tensor(kmeans.cluster_centers_, dtype=landmarks.centres.dtype),
        temperature if temperature > 0 else 1.0,
    )
