"""scikit-learn's estimator checks and the integration contract, for every estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import Autoencoder, LinearAutoencoder

# Small, short-trained instances: the checks test the contract, not the fit.
CHECKED_ESTIMATORS = [
    LinearAutoencoder(max_epochs=5, device="cpu"),
    Autoencoder(hidden_layer_sizes=(8,), max_epochs=5, device="cpu"),
]


@parametrize_with_checks(CHECKED_ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
