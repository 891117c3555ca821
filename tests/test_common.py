"""scikit-learn's estimator checks and the integration contract, for every estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import Autoencoder, AutoencoderClassifier, DenoisingAutoencoder, LinearAutoencoder
from skae.extend import BaseAutoencoder

from conftest import ESTIMATOR_CLASSES as ALL_ESTIMATOR_CLASSES, quick

# Small, short-trained instances of every exported estimator, derived from
# the package: the checks test the contract, not the fit. Per-class
# settings only where the quick defaults do not suffice, as scikit-learn's
# PER_ESTIMATOR_CHECK_PARAMS; plus the layer-wise pretraining path.
PER_ESTIMATOR_CHECK_PARAMS = {
    # The classifier must learn the checks' toy problems from its head.
    AutoencoderClassifier: {"max_epochs": 60},
}
CHECKED_ESTIMATORS = [
    quick(cls, **PER_ESTIMATOR_CHECK_PARAMS.get(cls, {})) for cls in ALL_ESTIMATOR_CLASSES
] + [Autoencoder(hidden_layer_sizes=(8, 4), pretrain="layerwise", max_epochs=3, device="cpu")]


def expected_failed_checks(estimator):
    if isinstance(estimator, AutoencoderClassifier):
        return {
            "check_classifiers_classes": (
                "its last case trains on the labels {-1, 1}, but -1 marks unlabelled "
                "rows here, as in sklearn's semi-supervised estimators (which the "
                "check exempts by name); the string-label cases are tested in "
                "tests/test_classifier.py"
            )
        }
    return {}


@parametrize_with_checks(CHECKED_ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


import pickle

import joblib
import numpy as np
import pandas as pd
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from scipy import sparse


def small(estimator_class, **params):
    """A quickly trained instance: the tests below check the contract."""
    return quick(estimator_class, **{"n_components": 3, **params})


# Every exported autoencoder family.
ESTIMATOR_CLASSES = [cls for cls in ALL_ESTIMATOR_CLASSES if issubclass(cls, BaseAutoencoder)]
each_estimator = pytest.mark.parametrize("estimator_class", ESTIMATOR_CLASSES)


@each_estimator
def test_shapes_and_fitted_attributes(estimator_class, blobs):
    est = small(estimator_class).fit(blobs)
    assert est.transform(blobs).shape == (len(blobs), 3)
    assert est.inverse_transform(est.transform(blobs)).shape == blobs.shape
    assert est.n_features_in_ == 10
    assert est.n_iter_ == len(est.loss_curve_) == len(est.history_) == 5
    assert est.module_ is est.net_.module_
    assert not hasattr(est, "validation_scores_")


@each_estimator
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(estimator_class, dtype, blobs):
    X = blobs.astype(dtype)
    est = small(estimator_class).fit(X)
    assert est.transform(X).dtype == dtype
    assert est.inverse_transform(est.transform(X)).dtype == dtype
    assert est.fit_transform(X).dtype == dtype


@each_estimator
def test_same_random_state_same_model(estimator_class, blobs):
    first = small(estimator_class, random_state=7).fit(blobs)
    second = small(estimator_class, random_state=7).fit(blobs)
    other = small(estimator_class, random_state=8).fit(blobs)
    assert_allclose(first.transform(blobs), second.transform(blobs), rtol=0, atol=0)
    assert first.loss_curve_ == second.loss_curve_
    assert not np.allclose(first.transform(blobs), other.transform(blobs))


def test_fit_leaves_global_torch_rng_alone(blobs):
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    small(Autoencoder).fit(blobs)
    assert torch.equal(torch.rand(3), expected)


@each_estimator
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_transform_does_not_depend_on_other_rows(estimator_class, dtype, rtol, blobs):
    # Up to the dtype's rounding: a matrix product is blocked differently
    # for one row than for many.
    est = small(estimator_class).fit(blobs)
    X = blobs.astype(dtype)
    full = est.transform(X)
    one_by_one = np.vstack([est.transform(row[None]) for row in X])
    assert_allclose(one_by_one, full, rtol=rtol, atol=rtol * np.abs(full).max())


@each_estimator
def test_transform_before_fit_raises(estimator_class, blobs):
    with pytest.raises(NotFittedError):
        small(estimator_class).transform(blobs)


@each_estimator
@pytest.mark.parametrize(
    "bad_X, error, match",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), ValueError, "NaN"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), ValueError, "infinity"),
        ([["a", "b"], ["c", "d"]], ValueError, "could not convert|dtype"),
        (np.empty((0, 3)), ValueError, "0 sample"),
        (np.arange(5.0), ValueError, "Expected 2D"),
    ],
)
def test_bad_input_is_rejected_before_training(estimator_class, bad_X, error, match):
    est = small(estimator_class, n_components=1)
    with pytest.raises(error, match=match):
        est.fit(bad_X)
    assert not hasattr(est, "net_")


@each_estimator
def test_sparse_input_is_densified_per_batch_or_refused(estimator_class, blobs):
    est = small(estimator_class)
    if not est._accepted_sparse_formats:
        with pytest.raises(TypeError, match="dense data is required"):
            est.fit(sparse.csr_matrix(blobs))
        assert not hasattr(est, "net_")
        return
    dense = small(estimator_class).fit(blobs)
    est.fit(sparse.csr_matrix(blobs))
    # The same seed on the same rows trains the same model.
    assert_allclose(est.transform(blobs), dense.transform(blobs), rtol=1e-5, atol=1e-6)
    for matrix in (sparse.csr_matrix(blobs), sparse.csc_matrix(blobs)):
        assert_allclose(est.transform(matrix), est.transform(blobs), rtol=1e-12, atol=0)
        assert_allclose(est.score_samples(matrix), est.score_samples(blobs), rtol=1e-12)


@each_estimator
def test_wrong_feature_count_at_transform(estimator_class, blobs):
    est = small(estimator_class).fit(blobs)
    with pytest.raises(ValueError, match="X has 4 features, but .* is expecting 10"):
        est.transform(blobs[:, :4])
    with pytest.raises(ValueError, match="n_components=3"):
        est.inverse_transform(np.zeros((2, 5)))


@each_estimator
@pytest.mark.parametrize(
    "param, value, match",
    [
        ("n_components", 0, "n_components"),
        ("optimizer", "lbfgs-ish", "optimizer"),
        ("learning_rate", -1.0, "learning_rate"),
        ("batch_size", 0, "batch_size"),
        ("device", "tpu", "device"),
    ],
)
def test_bad_parameters_name_themselves(estimator_class, param, value, match, blobs):
    est = small(estimator_class, **{param: value})
    with pytest.raises(ValueError, match=match):
        est.fit(blobs)


@each_estimator
def test_clone_pickle_and_joblib_round_trips(estimator_class, blobs, tmp_path):
    est = small(estimator_class).fit(blobs)
    expected = est.transform(blobs)
    restored = pickle.loads(pickle.dumps(est))
    assert_allclose(restored.transform(blobs), expected)
    joblib.dump(est, tmp_path / "model.joblib")
    assert_allclose(joblib.load(tmp_path / "model.joblib").transform(blobs), expected)
    fresh = clone(est)
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == est.get_params()


def test_pipeline_swaps_pca_for_autoencoders(digits):
    X, y = digits
    grid = GridSearchCV(
        Pipeline([("reduce", PCA()), ("classify", LogisticRegression(max_iter=300))]),
        {
            "reduce": [
                PCA(n_components=8),
                LinearAutoencoder(n_components=8, max_epochs=3, random_state=0, device="cpu"),
                Autoencoder(n_components=8, hidden_layer_sizes=(16,), max_epochs=3,
                            random_state=0, device="cpu"),
            ]
        },
        cv=2,
        n_jobs=2,
    )
    grid.fit(X[:400], y[:400])
    assert grid.best_score_ > 0.5
    assert len(grid.cv_results_["params"]) == 3


@each_estimator
def test_grid_search_without_y_uses_score(estimator_class, blobs):
    grid = GridSearchCV(
        small(estimator_class, max_epochs=100, learning_rate=0.01),
        {"n_components": [1, 5]},
        cv=2,
        n_jobs=2,
    )
    grid.fit(blobs)
    scores = grid.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)
    if estimator_class in (LinearAutoencoder, Autoencoder, DenoisingAutoencoder):
        # More coding units reconstruct better, so the score prefers them (a
        # sparsity or KL penalty may legitimately leave extra units unused;
        # these blobs are no image, so test_convolutional checks it on digits).
        assert grid.best_params_ == {"n_components": 5}


@each_estimator
def test_column_transformer_and_pandas_output(estimator_class, blobs):
    frame = pd.DataFrame(blobs, columns=[f"f{i}" for i in range(10)])
    est = small(estimator_class).set_output(transform="pandas").fit(frame)
    out = est.transform(frame)
    prefix = estimator_class.__name__.lower()
    assert list(out.columns) == [f"{prefix}{i}" for i in range(3)]
    assert list(est.feature_names_in_) == list(frame.columns)
    ct = ColumnTransformer([("codes", small(estimator_class), list(frame.columns[:6])),
                            ("rest", StandardScaler(), list(frame.columns[6:]))])
    assert ct.fit_transform(frame).shape == (len(frame), 3 + 4)


@each_estimator
def test_score_samples_flags_outliers(estimator_class, blobs):
    est = small(estimator_class, max_epochs=60).fit(blobs)
    outliers = blobs[:5] + 25.0
    assert est.score_samples(outliers).max() < np.median(est.score_samples(blobs))
    assert est.score(blobs) == pytest.approx(est.score_samples(blobs).mean())
