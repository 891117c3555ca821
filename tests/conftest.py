from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

MNIST_SUBSET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist_0169_subset.npz"


@pytest.fixture(scope="session")
def digits():
    """sklearn's 8x8 digits scaled to [0, 1], with labels."""
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="session")
def mnist_subset():
    """The real 28x28 MNIST subset beside the checkout, scaled to [0, 1]."""
    if not MNIST_SUBSET.exists():
        pytest.skip(f"{MNIST_SUBSET} is not present")
    data = np.load(MNIST_SUBSET)
    return (
        data["X_train"] / 255.0,
        data["y_train"],
        data["X_test"] / 255.0,
        data["y_test"],
    )


@pytest.fixture
def blobs():
    """Small synthetic data: 3 Gaussian blobs in 10 dimensions."""
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=3.0, size=(3, 10))
    X = np.concatenate([c + rng.normal(size=(40, 10)) for c in centres])
    return X


# ---------------------------------------------------------------- estimators
# Every estimator skae exports, derived from the package so that a new
# family is covered by every test that reads this list without an edit.
def _exported_estimators():
    import skae
    from sklearn.base import BaseEstimator

    return [
        getattr(skae, name) for name in skae.__all__
        if isinstance(getattr(skae, name), type) and issubclass(getattr(skae, name), BaseEstimator)
    ]


ESTIMATOR_CLASSES = _exported_estimators()

# Small sizes by parameter name (as scikit-learn's PER_ESTIMATOR_CHECK_PARAMS,
# but keyed by what a parameter means): a family whose size parameters are
# named as these needs no entry of its own.
_QUICK_SIZES = {
    "hidden_layer_sizes": (8,),
    "channels": (4, 8),
    "hidden_size": 8,
    "perplexity": 5,
    "n_landmarks": 16,
    # ParametricUMAP with a decoder, so that the tests calling
    # inverse_transform on every estimator that has it run it.
    "reconstruction_weight": 1.0,
}


def quick(estimator_class, **params):
    """A small, quickly trained instance of ``estimator_class``.

    Wrappers (the classifier, the outlier detector) get a quick inner
    autoencoder; ``params`` override everything.
    """
    import inspect

    from skae import Autoencoder

    accepted = inspect.signature(estimator_class).parameters
    settings = {"max_epochs": 5, "device": "cpu", "random_state": 0}
    settings.update({name: size for name, size in _QUICK_SIZES.items()})
    if "autoencoder" in accepted:
        settings["autoencoder"] = quick(Autoencoder, n_components=3)
    settings.update(params)
    return estimator_class(**{k: v for k, v in settings.items() if k in accepted})
