"""A family written outside the package, on skae.extend alone, gets every guarantee."""

import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import TrainingDivergedError

_EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "huber_autoencoder.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("huber_autoencoder", _EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    # Registered, so that pickles of its estimators find their class.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = _load_example()
HuberAutoencoder = example.HuberAutoencoder


def small(**params):
    return HuberAutoencoder(**{"n_components": 3, "hidden_size": 8, "max_epochs": 5,
                               "random_state": 0, "device": "cpu", **params})


@parametrize_with_checks([small()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_fits_reproducibly_and_keeps_dtypes(digits):
    X = digits[0].astype(np.float32)
    first, second = small().fit(X), small().fit(X)
    assert_array_equal(first.transform(X), second.transform(X))
    assert first.transform(X).dtype == np.float32
    assert first.transform(X.astype(np.float64)).dtype == np.float64
    assert first.residual_scale_.shape == (X.shape[1],)


def test_the_huber_loss_resists_outlying_rows_better_than_the_squared_error(digits):
    X = digits[0]
    rng = np.random.RandomState(0)
    polluted = X.copy()
    outliers = rng.choice(len(X), 40, replace=False)
    polluted[outliers] += 30.0
    clean = np.setdiff1d(np.arange(len(X)), outliers)
    settings = dict(max_epochs=40, learning_rate=3e-3)
    robust = small(delta=0.05, **settings).fit(polluted)
    squared = small(delta=1e6, **settings).fit(polluted)  # Huber with a huge delta is the MSE
    assert robust.score(X[clean]) > squared.score(X[clean])


def test_pickles_continue_and_search(digits):
    X = digits[0][:400]
    est = small(warm_start=True).fit(X)
    loaded = pickle.loads(pickle.dumps(est))
    assert_allclose(loaded.transform(X), est.transform(X))
    loaded.fit(X)
    assert loaded.n_iter_ == 10
    search = GridSearchCV(small(), {"delta": [0.1, 1.0]}, cv=2).fit(X)
    assert search.best_params_["delta"] in (0.1, 1.0)


def test_a_diverging_fit_leaves_it_unfitted(digits):
    est = small(learning_rate=1e6)
    with pytest.raises(TrainingDivergedError):
        est.fit(digits[0] * 1e3)
    assert not est.__sklearn_is_fitted__()
    assert not hasattr(est, "residual_scale_")


def test_saved_with_skae_save_and_loaded_when_its_classes_are_trusted(digits):
    import io

    import skae

    pytest.importorskip("safetensors")
    X = digits[0][:300]
    est = small().fit(X)
    buffer = io.BytesIO()
    skae.save(est, buffer)
    with pytest.raises(TypeError, match="huber_autoencoder.HuberAutoencoder"):
        skae.load(io.BytesIO(buffer.getvalue()))
    loaded = skae.load(io.BytesIO(buffer.getvalue()),
                       trusted=[HuberAutoencoder, example.HuberModule, example.HuberLoss])
    assert_array_equal(loaded.transform(X), est.transform(X))
    # Training continues from the saved optimizer state, as on the original.
    assert_array_equal(loaded.partial_fit(X).transform(X), est.partial_fit(X).transform(X))
