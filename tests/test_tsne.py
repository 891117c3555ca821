"""ParametricTSNE: the affinities, the minibatch loss, the fit and the map of new points."""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.manifold import trustworthiness
from sklearn.manifold._t_sne import _kl_divergence
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import Autoencoder, ParametricTSNE
from skae._tsne import neighbour_affinities
from skae.nn._tsne import (
    EmbeddingModule,
    NeighbourAffinities,
    SoftLandmarks,
    TSNELoss,
    log_partition,
)


def quick(**params):
    """A small, briefly trained map: these tests check behaviour, not the benchmark."""
    settings = {"hidden_layer_sizes": (32,), "n_landmarks": 32, "perplexity": 10, "max_epochs": 20,
                "learning_rate": 0.01, "random_state": 0, "device": "cpu"}
    return ParametricTSNE(**{**settings, **params})


@pytest.fixture(scope="module")
def split_digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0
    y = y[:600]
    return X[:450], y[:450], X[450:], y[450:]


def dense_affinities(affinities):
    n = len(affinities)
    P = np.zeros((n, n))
    for i in range(n):
        for column, value in zip(affinities.columns[i].tolist(), affinities.values[i].tolist()):
            if value:
                P[i, column] += value
    return P


def test_affinities_are_sklearns_symmetric_p(blobs):
    affinities = neighbour_affinities(blobs, perplexity=5)
    P = dense_affinities(affinities)
    assert_allclose(P, P.T, atol=1e-9)
    assert P.sum() == pytest.approx(1.0, rel=1e-5)
    assert np.all(np.diag(P) == 0)
    # Non-zero only between rows that are among each other's 16 nearest
    # neighbours (3 * perplexity + 1).
    neighbours = NearestNeighbors(n_neighbors=16).fit(blobs).kneighbors_graph().toarray()
    assert np.all((P > 0) <= ((neighbours + neighbours.T) > 0))


def test_batch_loss_is_the_exact_kl_divergence_on_all_rows(blobs):
    # One batch holding every row: the loss is t-SNE's KL(P || Q), as
    # scikit-learn's exact t-SNE computes it, and so is its gradient.
    affinities = neighbour_affinities(blobs, perplexity=5)
    P = dense_affinities(affinities)
    rng = np.random.RandomState(0)
    Y = rng.normal(size=(len(blobs), 2))
    from scipy.spatial.distance import squareform

    expected, expected_grad = _kl_divergence(Y.ravel(), squareform(P, checks=False), 1.0,
                                             len(blobs), 2)
    embedding = torch.tensor(Y, requires_grad=True)
    loss = TSNELoss(affinities)(embedding, torch.arange(len(blobs)))
    loss.backward()
    # sklearn's KL omits the entropy of P's zero entries; both drop them.
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-4)
    assert_allclose(embedding.grad.numpy().ravel(), expected_grad, rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize("dof", [1.0, 0.5, 3.0])
def test_log_partition_gradient(dof):
    y = torch.randn(12, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: log_partition(t, dof), (y,))
    d = torch.cdist(y, y).square()
    kernel = (1 + d / dof).pow(-(dof + 1) / 2)
    direct = torch.log(kernel.sum() - len(y))
    assert float(log_partition(y, dof).detach()) == pytest.approx(float(direct.detach()))


def test_batch_restriction_keeps_pairs_inside_the_batch():
    # Rows 0-2 of four; row 3 is the padding column.
    columns = torch.tensor([[1, 2], [0, 3], [0, 3]])
    values = torch.tensor([[0.3, 0.2], [0.3, 0.0], [0.2, 0.0]])
    affinities = NeighbourAffinities(columns, values)
    heads, tails, batch_values = affinities.restricted(torch.tensor([2, 0]))
    # Row 2 (position 0) pairs with row 0 (position 1) and row 0 with row 2;
    # the pair of rows 0 and 1 and the padding are left out.
    assert heads.tolist() == [0, 1]
    assert tails.tolist() == [1, 0]
    assert_allclose(batch_values.numpy(), [0.2, 0.2])


def test_exaggeration_changes_the_gradient_not_the_reported_kl(blobs):
    affinities = neighbour_affinities(blobs, perplexity=5)
    rows = torch.arange(len(blobs))
    Y = torch.randn(len(blobs), 2, dtype=torch.float64)
    plain, exaggerated = Y.clone().requires_grad_(), Y.clone().requires_grad_()
    loss = TSNELoss(affinities)(plain, rows)
    loss_x = TSNELoss(affinities, exaggeration=12.0)(exaggerated, rows)
    loss.backward()
    loss_x.backward()
    assert float(loss_x.detach()) == pytest.approx(float(loss.detach()))
    assert not torch.allclose(plain.grad, exaggerated.grad)


def test_fit_transform_shapes_and_attributes(split_digits):
    X, _, X_new, _ = split_digits
    est = quick(n_components=3).fit(X)
    assert est.embedding_.shape == (len(X), 3)
    assert est.transform(X_new).shape == (len(X_new), 3)
    assert_allclose(est.transform(X), est.embedding_)
    assert est.n_iter_ == len(est.loss_curve_) == 20
    assert est.kl_divergence_ == est.loss_curve_[-1]
    # Training lowers the KL divergence.
    assert est.loss_curve_[-1] < 0.85 * est.loss_curve_[0]
    assert list(est.get_feature_names_out()) == ["parametrictsne0", "parametrictsne1",
                                                 "parametrictsne2"]
    # The affinities are not kept in the fitted model.
    assert est.net_.criterion_.affinities.values.numel() == 0
    assert not hasattr(est, "_training_affinities")


def test_map_keeps_neighbourhoods_and_places_new_points_near_their_neighbours(split_digits):
    X, y, X_new, y_new = split_digits
    est = quick(hidden_layer_sizes=(64, 64), learning_rate=0.003, max_epochs=60).fit(X)
    assert trustworthiness(X, est.embedding_, n_neighbors=5) > 0.9
    Y_new = est.transform(X_new)
    # A held-out point lands among the map points of its nearest training rows:
    # much closer to them than to the typical training point (a ratio of about
    # 1 for a map that ignored the data).
    nearest = NearestNeighbors(n_neighbors=5).fit(X).kneighbors(X_new, return_distance=False)
    to_neighbours = np.linalg.norm(Y_new[:, None] - est.embedding_[nearest], axis=2).mean(1)
    to_all = np.linalg.norm(Y_new[:, None] - est.embedding_[None], axis=2).mean(1)
    assert np.median(to_neighbours / to_all) < 0.35
    # Classified by the labels of the training map's points (chance is 0.1;
    # 450 training rows leave the network much to interpolate).
    knn = KNeighborsClassifier(5).fit(est.embedding_, y)
    assert knn.score(Y_new, y_new) > 0.6


def test_same_random_state_same_map(split_digits):
    X = split_digits[0][:200]
    first = quick(random_state=3, max_epochs=5).fit(X)
    second = quick(random_state=3, max_epochs=5).fit(X)
    other = quick(random_state=4, max_epochs=5).fit(X)
    assert_allclose(first.embedding_, second.embedding_, rtol=0, atol=0)
    assert first.loss_curve_ == second.loss_curve_
    assert not np.allclose(first.embedding_, other.embedding_)


def test_minibatches_and_early_stopping(split_digits):
    X = split_digits[0]
    est = quick(batch_size=150, early_stopping=True, validation_fraction=0.2,
                n_iter_no_change=3, max_epochs=30).fit(X)
    assert len(est.validation_scores_) == est.n_iter_
    assert np.all(np.isfinite(est.validation_scores_))
    assert est.embedding_.shape == (len(X), 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype, blobs):
    est = quick(perplexity=5, max_epochs=3).fit(blobs.astype(dtype))
    assert est.embedding_.dtype == dtype
    assert est.transform(blobs.astype(dtype)).dtype == dtype


def test_exaggeration_runs_for_the_first_quarter(blobs):
    from skorch.callbacks import Callback

    seen = []

    class Record(Callback):
        def on_epoch_end(self, net, **kwargs):
            seen.append(net.criterion_.exaggeration)

    quick(perplexity=5, max_epochs=8, early_exaggeration=4.0, callbacks=[Record()]).fit(blobs)
    assert seen == [4.0, 4.0] + [1.0] * 6


@pytest.mark.parametrize(
    "params, match",
    [
        ({"perplexity": 500}, "perplexity must be less than n_samples"),
        ({"perplexity": 0}, "perplexity"),
        ({"early_exaggeration": 0.5}, "early_exaggeration"),
        ({"metric": "precomputed"}, "metric"),
        ({"dof": 0}, "dof"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
        ({"pca_components": 0}, "pca_components"),
        ({"n_landmarks": 0}, "n_landmarks"),
        ({"input_noise": -0.1}, "input_noise"),
    ],
)
def test_bad_parameters_are_refused_before_training(params, match, blobs):
    est = quick(**params)
    with pytest.raises(ValueError, match=match):
        est.fit(blobs)
    assert not hasattr(est, "net_")


def test_other_metric(blobs):
    est = quick(perplexity=5, metric="manhattan", max_epochs=3).fit(blobs)
    assert est.embedding_.shape == (len(blobs), 2)


def test_pipeline_clone_and_pickle(split_digits):
    X, _, X_new, _ = split_digits
    pipeline = make_pipeline(
        StandardScaler(),
        Autoencoder(8, hidden_layer_sizes=(32,), max_epochs=5, random_state=0, device="cpu"),
        quick(max_epochs=5),
    )
    Y = pipeline.fit_transform(X)
    assert Y.shape == (len(X), 2)
    expected = pipeline.transform(X_new)
    restored = pickle.loads(pickle.dumps(pipeline))
    assert_allclose(restored.transform(X_new), expected)
    fresh = clone(pipeline[-1])
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == pipeline[-1].get_params()


@pytest.mark.parametrize("dof", [1.0, 0.7])
def test_batch_loss_gradient_on_a_subset_of_rows(dof, blobs):
    # The hand-written gradients read each pair from both of its rows; a
    # batch of some of the rows keeps P's restriction symmetric.
    affinities = neighbour_affinities(blobs, perplexity=5)
    rows = torch.arange(0, len(blobs), 3)
    y = torch.randn(len(rows), 2, dtype=torch.float64, requires_grad=True)
    loss = TSNELoss(affinities, dof=dof)
    assert torch.autograd.gradcheck(lambda t: loss(t, rows), (y,))


def test_failed_fit_keeps_the_fitted_map(blobs):
    est = quick(perplexity=5, max_epochs=3).fit(blobs)
    embedding, net = est.embedding_.copy(), est.net_
    bad = blobs.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad)
    assert est.net_ is net
    assert_allclose(est.transform(blobs), embedding)


def test_network_inputs_are_the_training_rows_principal_components(split_digits):
    from sklearn.decomposition import PCA

    X = split_digits[0]
    est = quick(pca_components=7, max_epochs=2).fit(X)
    module = est.module_
    Z = PCA(7).fit(X).transform(X)
    seen = module.standardise(torch.as_tensor(X, dtype=torch.float32)).detach().numpy()
    scale = np.sqrt(Z.var(axis=0).mean())
    # Up to the sign of each component, which PCA leaves free.
    assert_allclose(np.abs(seen), np.abs(Z / scale), atol=1e-4)
    assert_allclose(seen.var(axis=0).mean(), 1.0, rtol=1e-3)


def test_landmarks_start_at_kmeans_centres_of_the_training_rows(split_digits):
    X = split_digits[0]
    # One epoch at a negligible learning rate leaves the placed landmarks as they are.
    est = quick(n_landmarks=12, max_epochs=1, learning_rate=1e-12).fit(X)
    module = est.module_
    rows = module.standardise(torch.as_tensor(X, dtype=torch.float32))
    distances = torch.cdist(rows, module.landmarks.centres).detach()
    owner = distances.argmin(dim=1)
    # Each centre is (about) the mean of the rows nearest to it: k-means.
    for k in owner.unique():
        centre = rows[owner == k].mean(dim=0).detach()
        assert torch.allclose(module.landmarks.centres[k].detach(), centre, atol=0.3)
    # The temperature spreads a row's assignment over a few landmarks.
    weights = module.landmarks(rows).detach() / module.landmarks.gain
    assert_allclose(weights.sum(dim=1).numpy(), 1.0, rtol=1e-5)
    top = weights.max(dim=1).values
    assert 0.2 < float(top.median()) < 0.99


def test_more_landmarks_than_rows_and_fewer_features_than_components(blobs):
    est = quick(perplexity=5, max_epochs=2, n_landmarks=1000, pca_components=30).fit(blobs)
    assert est.module_.landmarks.centres.shape == (len(blobs), blobs.shape[1])
    assert est.module_.projection is None
    plain = quick(perplexity=5, max_epochs=2, n_landmarks=None, pca_components=None).fit(blobs)
    assert plain.module_.landmarks is None
    assert plain.embedding_.shape == (len(blobs), 2)


def test_input_noise_in_training_mode_only():
    module = EmbeddingModule(6, 2, (8,), n_inputs=3, n_landmarks=5, input_noise=0.5)
    x = torch.randn(20, 6)
    module.eval()
    assert torch.equal(module(x), module(x))
    module.train()
    assert not torch.allclose(module(x), module(x))
    quiet = EmbeddingModule(6, 2, (8,), n_inputs=3, n_landmarks=5, input_noise=0.0).train()
    assert torch.equal(quiet(x), quiet(x))


def test_landmark_weights_are_the_softmax_of_minus_squared_distances():
    landmarks = SoftLandmarks(5, 7)
    landmarks.place(torch.randn(7, 5) * 3, 2.5)
    x = torch.randn(40, 5, dtype=torch.float64) * 3 + 10
    temperature = torch.exp(landmarks.log_temperature.double())
    squared = torch.cdist(x, landmarks.centres.double()).square()
    expected = torch.softmax(-squared / temperature, dim=1) * landmarks.gain
    assert_allclose(landmarks(x).detach().numpy(), expected.detach().numpy(), rtol=1e-9)
    with torch.no_grad():
        assert_allclose(landmarks(x).numpy(), expected.detach().numpy(), rtol=1e-9)


def test_landmark_distances_stay_float32_under_bf16_autocast():
    landmarks = SoftLandmarks(4, 3)
    landmarks.place(torch.eye(3, 4), 0.5)
    x = torch.tensor([[1.0, 0.001, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        weights = landmarks(x)
    assert weights.dtype == torch.float32
    assert_allclose(weights.detach().numpy(), landmarks(x).detach().numpy(), rtol=1e-6)
    assert int(weights[0].argmax()) == 0 and int(weights[1].argmax()) == 2


def test_input_noise_follows_the_gaps_between_rows_not_the_data_scale(split_digits):
    X = split_digits[0][:200]
    settings = {"pca_components": 10, "n_landmarks": 16, "max_epochs": 1}
    base = quick(**settings).fit(X).module_.noise.std
    assert base > 0
    # In units of the scale: the same for data 1,000 times larger.
    assert quick(**settings).fit(X * 1000).module_.noise.std == pytest.approx(base, rel=1e-4)
    assert quick(input_noise=2.0, **settings).fit(X).module_.noise.std == pytest.approx(2 * base)
    # Each row with a near-duplicate beside it: the gap to the nearest row,
    # and with it the noise, shrinks.
    jitter = np.random.RandomState(0).normal(scale=1e-3, size=X.shape)
    dense = quick(**settings).fit(np.vstack([X, X + jitter])).module_.noise.std
    assert dense < 0.1 * base
    assert quick(input_noise=0, **settings).fit(X).module_.noise.std == 0
