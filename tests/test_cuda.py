"""CUDA paths; skipped cleanly on machines without a GPU."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from skae import Autoencoder, LinearAutoencoder

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


@pytest.mark.parametrize("estimator_class", [LinearAutoencoder, Autoencoder])
def test_fit_and_transform_on_cuda(estimator_class, digits):
    X, _ = digits
    est = estimator_class(8, max_epochs=5, random_state=0, device="cuda").fit(X)
    assert next(est.module_.parameters()).device.type == "cuda"
    codes = est.transform(X.astype(np.float32))
    assert codes.dtype == np.float32 and isinstance(codes, np.ndarray)
    assert est.loss_curve_[-1] < est.loss_curve_[0]


def test_auto_picks_cuda(digits):
    X, _ = digits
    est = Autoencoder(4, max_epochs=1, device="auto").fit(X)
    assert next(est.module_.parameters()).device.type == "cuda"


def test_same_seed_same_codes_on_cuda(digits):
    X, _ = digits
    first = Autoencoder(8, max_epochs=3, random_state=0, device="cuda").fit(X)
    second = Autoencoder(8, max_epochs=3, random_state=0, device="cuda").fit(X)
    assert_allclose(first.transform(X), second.transform(X), rtol=1e-6, atol=1e-6)


def test_cuda_model_pickles_and_transforms_on_cuda(digits):
    import pickle

    X, _ = digits
    est = Autoencoder(8, max_epochs=2, random_state=0, device="cuda").fit(X)
    restored = pickle.loads(pickle.dumps(est))
    assert_allclose(restored.transform(X), est.transform(X))
