import numpy as np
import pytest

from skae import RecurrentAutoencoder


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sequences_and_flat_rows_give_the_same_model(cell):
    rng = np.random.RandomState(0)
    sequences = rng.normal(size=(30, 7, 3))
    settings = dict(n_components=4, cell=cell, hidden_size=8, max_epochs=2, random_state=0,
                    device="cpu")
    flat = RecurrentAutoencoder(sequence_shape=(7, 3), **settings).fit(sequences.reshape(30, -1))
    three_d = RecurrentAutoencoder(**settings).fit(sequences)
    assert flat.sequence_shape_ == three_d.sequence_shape_ == (7, 3)
    np.testing.assert_allclose(flat.transform(sequences.reshape(30, -1)),
                               three_d.transform(sequences))
    assert three_d.inverse_transform(three_d.transform(sequences)).shape == (30, 21)


def test_flat_rows_without_sequence_shape_are_univariate_sequences():
    X = np.random.RandomState(0).normal(size=(10, 12))
    rae = RecurrentAutoencoder(2, hidden_size=4, max_epochs=1, device="cpu").fit(X)
    assert rae.sequence_shape_ == (12, 1)


def test_width_that_does_not_match_sequence_shape_names_both_numbers():
    with pytest.raises(ValueError, match=r"50 features .* sequence_shape=\(7, 3\) needs 21"):
        RecurrentAutoencoder(sequence_shape=(7, 3), device="cpu").fit(np.zeros((4, 50)))


@pytest.mark.parametrize("sequence_shape", [(-8, -8), (0, 64), (64,), (4, 4, 4), (8, 8.0)])
def test_a_bad_sequence_shape_is_named_before_training(sequence_shape):
    rae = RecurrentAutoencoder(sequence_shape=sequence_shape, device="cpu")
    with pytest.raises(ValueError, match=r"sequence_shape must be None or \(T, F\), 2 "
                                         r"positive integers; got"):
        rae.fit(np.zeros((5, 64)))
    assert not hasattr(rae, "net_")


def test_learns_phase_shifted_sine_waves():
    # Synthetic: one latent factor (the phase) explains every sequence.
    t = np.linspace(0, 2 * np.pi, 16)
    phases = np.random.RandomState(0).uniform(0, 2 * np.pi, size=(300, 1))
    X = np.sin(t + phases)
    rae = RecurrentAutoencoder(2, hidden_size=16, cell="gru", max_epochs=40, learning_rate=1e-2,
                               random_state=0, device="cpu").fit(X)
    assert -rae.score(X) < 0.2 * np.mean((X - X.mean(axis=0)) ** 2)


def test_mnist_rows_as_sequences_beat_the_mean(mnist_subset):
    X_train, _, X_test, _ = mnist_subset
    X_train, X_test = X_train[:1000], X_test[:400]
    rae = RecurrentAutoencoder(16, hidden_size=64, batch_size=32, max_epochs=8,
                               learning_rate=5e-3, random_state=0, device="cpu")
    rae.fit(X_train.reshape(-1, 28, 28))
    recon = rae.inverse_transform(rae.transform(X_test.reshape(-1, 28, 28)))
    mean_mse = np.mean((X_test - X_train.mean(axis=0)) ** 2)
    assert np.mean((recon - X_test) ** 2) < 0.7 * mean_mse
