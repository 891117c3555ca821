import numpy as np
import pytest
import torch

from skae import DenoisingAutoencoder


@pytest.mark.parametrize("noise, noise_level", [("gaussian", 0.3), ("dropout", 0.3)])
def test_reconstruction_of_noisy_held_out_digits_is_closer_to_the_clean_image(
    digits, noise, noise_level
):
    X, _ = digits
    X_train, X_test = X[:1500], X[1500:]
    rng = np.random.RandomState(1)
    if noise == "gaussian":
        X_noisy = X_test + noise_level * rng.normal(size=X_test.shape)
    else:
        X_noisy = X_test * (rng.uniform(size=X_test.shape) >= noise_level) / (1 - noise_level)
    dae = DenoisingAutoencoder(32, hidden_layer_sizes=(64,), noise=noise, noise_level=noise_level,
                               max_epochs=30, learning_rate=3e-3, random_state=0,
                               device="cpu").fit(X_train)
    denoised = dae.inverse_transform(dae.transform(X_noisy))
    noisy_error = np.mean((X_noisy - X_test) ** 2)
    denoised_error = np.mean((denoised - X_test) ** 2)
    assert denoised_error < 0.5 * noisy_error


def test_no_corruption_outside_training(digits):
    X, _ = digits
    dae = DenoisingAutoencoder(8, hidden_layer_sizes=(16,), noise_level=1.0, max_epochs=2,
                               random_state=0, device="cpu").fit(X)
    assert np.array_equal(dae.transform(X[:20]), dae.transform(X[:20]))
    assert np.array_equal(dae.score_samples(X[:20]), dae.score_samples(X[:20]))


def test_training_sees_corrupted_inputs(digits):
    X, _ = digits
    dae = DenoisingAutoencoder(8, hidden_layer_sizes=(16,), noise="dropout", noise_level=0.5,
                               max_epochs=1, random_state=0, device="cpu").fit(X)
    batch = torch.tensor(X[:50], dtype=torch.float32)
    dae.module_.train()
    with torch.no_grad():
        assert not torch.equal(dae.module_.corruption(batch), batch)
    dae.module_.eval()
    with torch.no_grad():
        assert torch.equal(dae.module_.corruption(batch), batch)


def test_dropout_probability_must_be_below_one(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="noise_level .* below 1"):
        DenoisingAutoencoder(noise="dropout", noise_level=1.0, device="cpu").fit(X)
