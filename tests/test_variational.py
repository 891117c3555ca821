import numpy as np
import pytest
import torch

from skae import VariationalAutoencoder
from skae.nn import gaussian_kl


def test_kl_term_matches_a_direct_computation():
    mean = torch.tensor([[0.5, -1.0], [0.0, 0.0]])
    log_var = torch.tensor([[np.log(2.0), np.log(0.5)], [0.0, 0.0]])
    # KL(N(mu, s2) || N(0, 1)) = 1/2 (s2 + mu^2 - 1 - log s2), per dimension.
    s2, mu = np.array([2.0, 0.5]), np.array([0.5, -1.0])
    expected_first = 0.5 * np.sum(s2 + mu**2 - 1 - np.log(s2))
    kl = gaussian_kl(mean, log_var)
    assert kl[0].item() == pytest.approx(expected_first, rel=1e-6)
    assert kl[1].item() == pytest.approx(0.0, abs=1e-7)


@pytest.fixture(scope="module")
def fitted_vae(digits):
    X, _ = digits
    vae = VariationalAutoencoder(4, hidden_layer_sizes=(64,), output_activation="sigmoid",
                                 loss="bce", max_epochs=25, learning_rate=3e-3,
                                 random_state=0, device="cpu")
    return vae.fit(X), X


def test_codes_are_close_to_the_prior(fitted_vae):
    vae, X = fitted_vae
    codes = vae.transform(X)
    assert np.all(np.abs(codes.mean(axis=0)) < 0.5)
    assert np.all((codes.std(axis=0) > 0.05) & (codes.std(axis=0) < 2.0))


def test_transform_is_deterministic(fitted_vae):
    vae, X = fitted_vae
    assert np.array_equal(vae.transform(X[:50]), vae.transform(X[:50]))


def test_samples_have_the_input_shape_and_are_finite(fitted_vae):
    vae, _ = fitted_vae
    samples = vae.sample(7, random_state=0)
    assert samples.shape == (7, 64)
    assert np.all(np.isfinite(samples)) and samples.min() >= 0 and samples.max() <= 1
    assert np.array_equal(samples, vae.sample(7, random_state=0))
    assert not np.array_equal(samples, vae.sample(7, random_state=1))


@pytest.mark.parametrize("n_samples", [0, -1, 2.5, "3"])
def test_sample_needs_a_positive_integer_count(fitted_vae, n_samples):
    vae, _ = fitted_vae
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        vae.sample(n_samples)


def test_elbo_of_data_beats_shuffled_pixel_noise(fitted_vae):
    vae, X = fitted_vae
    rng = np.random.RandomState(0)
    noise = np.array([rng.permutation(row) for row in X])
    assert vae.score(X) > vae.score(noise) + 0.05
    assert vae.score(X) == pytest.approx(vae.score_samples(X).mean())


def test_elbo_adds_the_kl_term_to_the_reconstruction(fitted_vae):
    vae, X = fitted_vae
    reconstruction = vae.inverse_transform(vae.transform(X))
    eps = 1e-12
    bce = -np.mean(X * np.log(reconstruction + eps) + (1 - X) * np.log(1 - reconstruction + eps),
                   axis=1)
    # The ELBO is below minus the reconstruction loss by KL / n_features >= 0.
    gap = -bce - vae.score_samples(X)
    assert np.all(gap > -1e-6)
    assert gap.mean() > 1e-3


def test_bce_training_is_numerically_safe_on_binary_data():
    X = (np.random.RandomState(0).uniform(size=(200, 30)) > 0.5).astype(float)
    vae = VariationalAutoencoder(2, hidden_layer_sizes=(16,), output_activation="sigmoid",
                                 loss="bce", learning_rate=0.05, max_epochs=20,
                                 random_state=0, device="cpu").fit(X)
    assert np.all(np.isfinite(vae.loss_curve_))
    assert np.all(np.isfinite(vae.score_samples(X)))
