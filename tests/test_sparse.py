import numpy as np
import pytest
import torch

from skae import SparseAutoencoder
from skae.nn import kl_sparsity


@pytest.mark.parametrize("sparsity, weight", [("kl", 0.5), ("l1", 0.05)])
def test_penalty_lowers_the_mean_coding_activation(digits, sparsity, weight):
    X, _ = digits
    settings = dict(n_components=64, hidden_layer_sizes=(64,), sparsity=sparsity,
                    sparsity_target=0.05, max_epochs=15, learning_rate=3e-3,
                    random_state=0, device="cpu")
    sparse = SparseAutoencoder(sparsity_weight=weight, **settings).fit(X)
    dense = SparseAutoencoder(sparsity_weight=0.0, **settings).fit(X)
    assert sparse.mean_activation_.shape == (64,)
    assert sparse.mean_activation_.mean() < 0.5 * dense.mean_activation_.mean()
    # Sparse, yet still a useful code: better than predicting the mean.
    assert -sparse.score(X) < np.mean((X - X.mean(axis=0)) ** 2)


def test_kl_sparsity_matches_the_formula():
    code = torch.tensor([[0.2, 0.9], [0.4, 0.7]])
    p = 0.1
    q = np.array([0.3, 0.8])
    expected = np.sum(p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q)))
    assert kl_sparsity(code, p).item() == pytest.approx(expected, rel=1e-5)
    assert kl_sparsity(torch.full((4, 3), p), p).item() == pytest.approx(0.0, abs=1e-6)


def test_coding_layer_range_follows_the_penalty(digits):
    X, _ = digits
    kl = SparseAutoencoder(8, hidden_layer_sizes=(16,), max_epochs=1, device="cpu").fit(X)
    l1 = SparseAutoencoder(8, hidden_layer_sizes=(16,), sparsity="l1", max_epochs=1,
                           device="cpu").fit(X)
    kl_codes, l1_codes = kl.transform(X), l1.transform(X)
    assert kl_codes.min() > 0 and kl_codes.max() < 1
    assert l1_codes.min() >= 0
