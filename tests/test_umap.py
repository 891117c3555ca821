"""ParametricUMAP: the fuzzy graph, the loss, the fit, the map of new points, the decoder."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy import sparse
from sklearn.base import clone
from sklearn.manifold import trustworthiness
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import ParametricUMAP
from skae._umap import (
    find_ab_params,
    fuzzy_simplicial_set,
    smooth_knn_distances,
    trustworthiness_score,
)
from skae.nn._umap import EdgeSampler, UMAPLoss, pack_edge_points


def quick(**params):
    """A small, briefly trained map: these tests check behaviour, not the benchmark."""
    settings = {"hidden_layer_sizes": (32,), "n_landmarks": 32, "n_neighbors": 10,
                "max_epochs": 10, "batch_size": 256, "random_state": 0, "device": "cpu"}
    return ParametricUMAP(**{**settings, **params})


@pytest.fixture(scope="module")
def split_digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0
    y = y[:600]
    return X[:450], y[:450], X[450:], y[450:]


# ------------------------------------------------------------------- graph
def test_ab_params_match_umap_learns_defaults():
    # umap-learn's find_ab_params(1.0, 0.1) gives a = 1.577, b = 0.895.
    a, b = find_ab_params(1.0, 0.1)
    assert a == pytest.approx(1.577, abs=2e-3)
    assert b == pytest.approx(0.895, abs=2e-3)


def test_sigmas_make_memberships_sum_to_log2_k(blobs):
    distances, _ = NearestNeighbors(n_neighbors=10).fit(blobs).kneighbors(blobs)
    rho, sigma = smooth_knn_distances(distances)
    assert_allclose(rho, distances[:, 1])  # the nearest other row
    memberships = np.exp(-np.maximum(distances[:, 1:] - rho[:, None], 0) / sigma[:, None])
    assert_allclose(memberships.sum(axis=1), np.log2(10), rtol=1e-4)


def test_fuzzy_union_is_symmetric_and_in_unit_interval(blobs):
    distances, indices = NearestNeighbors(n_neighbors=10).fit(blobs).kneighbors(blobs)
    graph = fuzzy_simplicial_set(distances, indices)
    dense = graph.toarray()
    assert_allclose(dense, dense.T)
    assert np.all(np.diag(dense) == 0)
    assert dense.max() <= 1 + 1e-12 and dense.min() >= 0
    # Every row's nearest other row has membership 1 (rho).
    assert_allclose(dense[np.arange(len(blobs)), indices[:, 1]], 1.0)
    # Intersection: only mutual neighbours keep an edge.
    intersection = fuzzy_simplicial_set(distances, indices, set_op_mix_ratio=0.0).toarray()
    assert np.all((intersection > 0) <= (dense > 0))
    assert (intersection > 0).sum() < (dense > 0).sum()


def test_graph_matches_umap_learn_when_installed(blobs):
    umap = pytest.importorskip("umap")
    reference = umap.UMAP(n_neighbors=10, random_state=0, n_epochs=1).fit(blobs).graph_
    ours = ParametricUMAP(n_neighbors=10, max_epochs=1, device="cpu",
                          random_state=0).fit(blobs).graph_
    assert_allclose(ours.toarray(), reference.toarray(), atol=1e-5)


def test_trustworthiness_score_is_sklearns():
    # Data without tied distances, where the ranks have one definition.
    X = np.random.RandomState(0).normal(size=(200, 6))
    Y = X[:, :2] + 0.3 * X[:, 2:4]
    for k in (5, 15):
        assert trustworthiness_score(X, Y, k) == pytest.approx(
            trustworthiness(X, Y, n_neighbors=k), abs=1e-12)


# -------------------------------------------------------------------- loss
def test_loss_is_umaps_cross_entropy():
    a, b = 1.5, 0.9
    heads, tails, negatives = torch.randn(4, 2), torch.randn(4, 2), torch.randn(8, 2)
    loss = UMAPLoss(a, b, negative_sample_rate=2)(pack_edge_points(heads, tails, negatives))
    q = lambda u, v: 1 / (1 + a * ((u - v).square().sum(1) + 1e-3) ** b)  # noqa: E731
    expected = (-torch.log(q(heads, tails)).sum()
                - torch.log(1 - q(heads.repeat(2, 1), negatives)).sum()) / 4
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_edges_are_sampled_in_proportion_to_their_weights():
    torch.manual_seed(0)
    sampler = EdgeSampler(torch.zeros(3, 1), torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0]),
                          torch.tensor([0.1, 0.3, 0.6]))
    heads, tails = sampler.sample(60_000)
    shares = np.bincount(heads.numpy(), minlength=3) / 60_000
    assert_allclose(shares, [0.1, 0.3, 0.6], atol=0.01)
    assert torch.equal(tails, (heads + 1) % 3)


# --------------------------------------------------------------------- fit
def test_fit_transform_shapes_and_attributes(split_digits):
    X, _, X_new, _ = split_digits
    est = quick(n_components=3).fit(X)
    assert est.embedding_.shape == (len(X), 3)
    assert_allclose(est.transform(X), est.embedding_)
    assert est.transform(X_new).shape == (len(X_new), 3)
    assert est.n_iter_ == len(est.loss_curve_) == 10
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert sparse.issparse(est.graph_) and est.graph_.shape == (len(X), len(X))
    assert est.a_ > 0 and est.b_ > 0
    assert list(est.get_feature_names_out()) == ["parametricumap0", "parametricumap1",
                                                 "parametricumap2"]
    # The training rows and graph are not kept in the module.
    assert est.module_.sampler is None
    assert len(pickle.dumps(est)) < 4 * X.nbytes


def test_map_keeps_neighbourhoods_and_places_new_points(split_digits):
    X, y, X_new, y_new = split_digits
    est = quick(hidden_layer_sizes=(64, 64), n_landmarks=64, max_epochs=30).fit(X)
    assert trustworthiness(X, est.embedding_, n_neighbors=10) > 0.93
    Y_new = est.transform(X_new)
    knn = KNeighborsClassifier(5).fit(est.embedding_, y)
    assert knn.score(Y_new, y_new) > 0.8
    assert 0.85 < est.score(X_new) <= 1.0


def test_same_random_state_same_map(split_digits):
    X = split_digits[0][:200]
    first = quick(random_state=3, max_epochs=3).fit(X)
    second = quick(random_state=3, max_epochs=3).fit(X)
    other = quick(random_state=4, max_epochs=3).fit(X)
    assert_allclose(first.embedding_, second.embedding_, rtol=0, atol=0)
    assert first.loss_curve_ == second.loss_curve_
    assert not np.allclose(first.embedding_, other.embedding_)


def test_large_batches_and_small_batches_both_train(split_digits):
    # Batches that encode every row once, and batches that gather their rows.
    X = split_digits[0]
    for batch_size in (4096, 16):
        est = quick(batch_size=batch_size, max_epochs=2).fit(X)
        assert np.all(np.isfinite(est.embedding_))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype, blobs):
    est = quick(max_epochs=2, reconstruction_weight=1.0).fit(blobs.astype(dtype))
    assert est.embedding_.dtype == dtype
    assert est.transform(blobs.astype(dtype)).dtype == dtype
    assert est.inverse_transform(est.embedding_).dtype == dtype


# ----------------------------------------------------------------- decoder
def test_decoder_reconstructs_better_than_the_mean(split_digits):
    X, _, X_new, _ = split_digits
    est = quick(reconstruction_weight=1.0, max_epochs=30).fit(X)
    decoded = est.inverse_transform(est.transform(X_new))
    assert decoded.shape == X_new.shape
    error = np.mean((decoded - X_new) ** 2)
    assert error < 0.8 * np.mean((X_new - X.mean(axis=0)) ** 2)
    # A grid over the map decodes too.
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 3), np.linspace(-1, 1, 3)), -1).reshape(-1, 2)
    assert est.inverse_transform(grid).shape == (9, X.shape[1])


def test_inverse_transform_without_decoder_says_how_to_get_one(blobs):
    est = quick(max_epochs=1).fit(blobs)
    with pytest.raises(ValueError, match="reconstruction_weight > 0"):
        est.inverse_transform(est.embedding_)


def test_inverse_transform_checks_the_points_width(blobs):
    est = quick(max_epochs=1, reconstruction_weight=1.0).fit(blobs)
    with pytest.raises(ValueError, match="n_components=2"):
        est.inverse_transform(np.zeros((2, 3)))


def test_own_encoder_and_decoder(blobs):
    encoder = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    decoder = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 10))
    est = quick(encoder=encoder, decoder=decoder, reconstruction_weight=1.0, max_epochs=3)
    est.fit(blobs)
    assert est.module_.encoder.network is not encoder  # copied
    assert est.transform(blobs).shape == (len(blobs), 2)
    assert est.inverse_transform(est.embedding_).shape == blobs.shape
    with pytest.raises(ValueError, match="encoder"):
        quick(encoder=torch.nn.Linear(10, 3)).fit(blobs)
    with pytest.raises(ValueError, match="reconstruction_weight > 0"):
        quick(decoder=decoder).fit(blobs)


# ---------------------------------------------------- what users throw at it
def test_too_few_rows_for_n_neighbors_truncates_as_umap_learn(blobs):
    with pytest.warns(UserWarning,
                      match=r"not smaller than the dataset size \(12 samples\); truncating to 11"):
        est = quick(n_neighbors=50, max_epochs=1).fit(blobs[:12])
    assert est.embedding_.shape == (12, 2)
    # Two rows still make a map.
    with pytest.warns(UserWarning, match="truncating"):
        assert quick(max_epochs=1).fit(blobs[:2]).embedding_.shape == (2, 2)


def test_one_row_is_refused(blobs):
    with pytest.raises(ValueError, match="minimum of 2"):
        quick().fit(blobs[:1])


def test_duplicate_rows(blobs):
    X = np.vstack([blobs, blobs[:30]])
    est = quick(max_epochs=3).fit(X)
    assert np.all(np.isfinite(est.embedding_))
    # Duplicates are each other's neighbours with full membership, and map to one point.
    assert est.graph_[0, len(blobs)] == pytest.approx(1.0)
    assert_allclose(est.embedding_[:30], est.embedding_[len(blobs):], atol=1e-6)
    # All rows identical: a graph of full memberships, still finite.
    same = quick(max_epochs=2).fit(np.ones((20, 4)))
    assert np.all(np.isfinite(same.embedding_))


def test_disconnected_rows_are_placed_and_named(blobs):
    # Under the cosine metric, rows pointing the opposite way are at the
    # disconnection distance 2 from the others.
    X = np.vstack([np.c_[np.arange(1.0, 11.0), np.zeros(10)], [[-1.0, 0.0]]])
    with pytest.warns(UserWarning, match="1 of 11 rows have no edge in the fuzzy graph"):
        est = quick(metric="cosine", n_neighbors=5, max_epochs=2).fit(X)
    assert est.graph_[10].nnz == 0
    assert np.all(np.isfinite(est.embedding_))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_refused_before_training(bad, blobs):
    X = blobs.copy()
    X[3, 4] = bad
    est = quick()
    with pytest.raises(ValueError, match="NaN|infinity"):
        est.fit(X)
    assert not hasattr(est, "net_")


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_neighbors": 1}, "n_neighbors"),
        ({"min_dist": 2.0}, "min_dist must be less than or equal to spread"),
        ({"spread": 0}, "spread"),
        ({"metric": "precomputed"}, "metric"),
        ({"negative_sample_rate": -1}, "negative_sample_rate"),
        ({"reconstruction_weight": -1}, "reconstruction_weight"),
        ({"set_op_mix_ratio": 1.5}, "set_op_mix_ratio"),
        ({"neighbor_search": "annoy"}, "neighbor_search"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
    ],
)
def test_bad_parameters_are_refused_before_training(params, match, blobs):
    est = quick(**params)
    with pytest.raises(ValueError, match=match):
        est.fit(blobs)
    assert not hasattr(est, "net_")


def test_transform_checks(blobs):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        quick().transform(blobs)
    est = quick(max_epochs=1).fit(blobs)
    with pytest.raises(ValueError, match="X has 4 features"):
        est.transform(blobs[:, :4])


def test_failed_fit_keeps_the_fitted_map(blobs):
    est = quick(max_epochs=2).fit(blobs)
    embedding, net = est.embedding_.copy(), est.net_
    with pytest.raises(ValueError, match="min_dist"):
        est.set_params(min_dist=5.0).fit(blobs)
    assert est.net_ is net
    assert_allclose(est.transform(blobs), embedding)


def test_pandas_in_pandas_out(blobs):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(blobs, columns=[f"f{i}" for i in range(10)])
    est = quick(max_epochs=1).set_output(transform="pandas").fit(frame)
    out = est.transform(frame)
    assert list(out.columns) == ["parametricumap0", "parametricumap1"]
    assert list(est.feature_names_in_) == list(frame.columns)


def test_pipeline_clone_pickle_and_gridsearch(split_digits):
    X, _, X_new, _ = split_digits
    pipeline = make_pipeline(StandardScaler(), quick(max_epochs=3, reconstruction_weight=0.5))
    pipeline.fit(X)
    expected = pipeline.transform(X_new)
    restored = pickle.loads(pickle.dumps(pipeline))
    assert_allclose(restored.transform(X_new), expected)
    assert_allclose(restored.inverse_transform(expected), pipeline.inverse_transform(expected))
    fresh = clone(pipeline[-1])
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == pipeline[-1].get_params()
    # score is the trustworthiness: a grid search needs no y.
    search = GridSearchCV(quick(max_epochs=2), {"n_neighbors": [5, 10]}, cv=2).fit(X[:200])
    assert search.best_params_["n_neighbors"] in (5, 10)
    assert 0 < search.best_score_ <= 1


def test_skae_save_and_load_keep_the_graph(blobs, tmp_path):
    import skae

    est = quick(max_epochs=2, reconstruction_weight=1.0).fit(blobs)
    skae.save(est, tmp_path / "map.skae")
    loaded = skae.load(tmp_path / "map.skae")
    assert_allclose(loaded.transform(blobs), est.transform(blobs), rtol=0, atol=0)
    assert_allclose(loaded.inverse_transform(est.embedding_),
                    est.inverse_transform(est.embedding_), rtol=0, atol=0)
    assert (loaded.graph_ != est.graph_).nnz == 0


def test_approximate_neighbours_when_asked(blobs):
    pytest.importorskip("pynndescent")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's own warnings
        est = quick(neighbor_search="pynndescent", max_epochs=1).fit(blobs)
    exact = quick(neighbor_search="exact", max_epochs=1).fit(blobs)
    # On 120 rows the approximate search finds the exact neighbours.
    assert abs(est.graph_ - exact.graph_).max() < 1e-5  # float32 distances
