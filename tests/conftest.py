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
