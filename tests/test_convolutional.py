import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skae import Autoencoder, ConvolutionalAutoencoder


def n_parameters(estimator):
    return sum(p.numel() for p in estimator.module_.parameters())


# Even kernels would need padding="same", which warns on every fit; they get
# an explicit padding layer instead, hence the warnings turned into errors.
# One epoch on purpose: the shapes are the point, not convergence.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("kernel_size", [2, 3, 4])
@pytest.mark.parametrize("image_shape", [(1, 28, 28), (1, 8, 8), (1, 30, 17), (3, 9, 6),
                                         (1, 1, 12)])
def test_reconstructions_come_back_at_exactly_the_image_shape(image_shape, kernel_size):
    n_features = int(np.prod(image_shape))
    X = np.random.RandomState(0).uniform(size=(6, n_features))
    cae = ConvolutionalAutoencoder(4, image_shape=image_shape, channels=(4, 8),
                                   kernel_size=kernel_size, max_epochs=1, device="cpu").fit(X)
    assert cae.image_shape_ == image_shape
    assert cae.transform(X).shape == (6, 4)
    assert cae.inverse_transform(cae.transform(X)).shape == (6, n_features)


def test_image_arrays_and_flat_rows_give_the_same_model(digits):
    X, _ = digits
    images = X.reshape(-1, 8, 8)
    settings = dict(n_components=6, channels=(4, 8), max_epochs=2, random_state=0, device="cpu")
    flat = ConvolutionalAutoencoder(**settings).fit(X)
    three_d = ConvolutionalAutoencoder(**settings).fit(images)
    four_d = ConvolutionalAutoencoder(**settings).fit(images[:, None])
    assert flat.image_shape_ == three_d.image_shape_ == four_d.image_shape_ == (1, 8, 8)
    np.testing.assert_allclose(flat.transform(X), three_d.transform(images))
    np.testing.assert_allclose(flat.transform(X), four_d.transform(images[:, None]))


def test_non_square_rows_without_image_shape_are_one_row_images():
    X = np.random.RandomState(0).uniform(size=(10, 12))
    cae = ConvolutionalAutoencoder(3, channels=(4,), max_epochs=1, device="cpu").fit(X)
    assert cae.image_shape_ == (1, 1, 12)


def test_width_that_does_not_match_image_shape_names_both_numbers():
    X = np.zeros((5, 100))
    with pytest.raises(ValueError, match=r"100 features .* image_shape=\(1, 8, 8\) needs 64"):
        ConvolutionalAutoencoder(image_shape=(1, 8, 8), device="cpu").fit(X)


@pytest.mark.parametrize("image_shape", [(1, -8, -8), (0, 8, 8), (8, 8), (1, 1, 8, 8),
                                         (1, 8.0, 8)])
def test_a_bad_image_shape_is_named_before_training(image_shape):
    cae = ConvolutionalAutoencoder(image_shape=image_shape, device="cpu")
    with pytest.raises(ValueError, match=r"image_shape must be None or \(C, H, W\), 3 "
                                         r"positive integers; got"):
        cae.fit(np.zeros((5, 64)))
    assert not hasattr(cae, "net_")


def test_even_kernels_learn(digits):
    X, _ = digits
    cae = ConvolutionalAutoencoder(8, channels=(4, 8), kernel_size=4, max_epochs=5,
                                   learning_rate=0.01, random_state=0, device="cpu").fit(X)
    assert cae.loss_curve_[-1] < 0.7 * cae.loss_curve_[0]


def test_images_of_another_shape_at_transform_are_refused(digits):
    X, _ = digits
    cae = ConvolutionalAutoencoder(4, channels=(4,), max_epochs=1, device="cpu").fit(X)
    with pytest.raises(ValueError, match="features|shape"):
        cae.transform(np.zeros((3, 10, 10)))


def test_denoising_corruption_is_available(digits):
    X, _ = digits
    cae = ConvolutionalAutoencoder(8, channels=(4, 8), noise="gaussian", noise_level=0.3,
                                   max_epochs=2, random_state=0, device="cpu").fit(X)
    assert type(cae.module_.corruption).__name__ == "GaussianNoise"
    assert np.array_equal(cae.transform(X[:10]), cae.transform(X[:10]))


def test_mnist_conv_beats_mean_and_a_dense_net_of_similar_size(mnist_subset):
    X_train, _, X_test, _ = mnist_subset
    X_train, X_test = X_train[:1000], X_test[:400]
    settings = dict(max_epochs=4, learning_rate=5e-3, random_state=0, device="cpu")
    cae = ConvolutionalAutoencoder(16, channels=(8, 16), **settings)
    cae.fit(X_train.reshape(-1, 28, 28))
    # Symmetric 784-h-16 dense net with about the conv net's parameter count.
    hidden = round(n_parameters(cae) / (2 * (784 + 16)))
    dense = Autoencoder(16, hidden_layer_sizes=(hidden,), **settings).fit(X_train)
    assert 0.8 < n_parameters(dense) / n_parameters(cae) < 1.25

    def held_out_mse(estimator):
        return np.mean((estimator.inverse_transform(estimator.transform(X_test)) - X_test) ** 2)

    mean_mse = np.mean((X_test - X_train.mean(axis=0)) ** 2)
    assert held_out_mse(cae) < 0.6 * mean_mse
    assert held_out_mse(cae) < 0.8 * held_out_mse(dense)


def test_mnist_sigmoid_output_with_default_activation_keeps_learning(mnist_subset):
    # With ReLU here the net collapses to a blank image within an epoch.
    X_train, _, X_test, _ = mnist_subset
    X_train, X_test = X_train[:1000], X_test[:400]
    cae = ConvolutionalAutoencoder(16, channels=(8, 16), output_activation="sigmoid",
                                   max_epochs=4, learning_rate=5e-3, random_state=0,
                                   device="cpu").fit(X_train)
    held_out_mse = np.mean((cae.inverse_transform(cae.transform(X_test)) - X_test) ** 2)
    mean_mse = np.mean((X_test - X_train.mean(axis=0)) ** 2)
    assert held_out_mse < 0.7 * mean_mse


def test_grid_search_without_y_prefers_the_larger_code_on_digits(digits):
    X, _ = digits
    grid = GridSearchCV(
        ConvolutionalAutoencoder(channels=(4, 8), max_epochs=10, learning_rate=0.01,
                                 random_state=0, device="cpu"),
        {"n_components": [1, 8]},
        cv=2,
    )
    grid.fit(X[:600])
    assert grid.best_params_ == {"n_components": 8}
