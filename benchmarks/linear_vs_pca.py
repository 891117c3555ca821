"""LinearAutoencoder against PCA (and a nonlinear Autoencoder) across code sizes."""

import time

import numpy as np
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from skae import Autoencoder, LinearAutoencoder


def reconstruction_mse(estimator, X):
    return float(np.mean((estimator.inverse_transform(estimator.transform(X)) - X) ** 2))


def _timed_fit(estimator, X):
    start = time.perf_counter()
    estimator.fit(X)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    estimator.transform(X)
    return estimator, fit_seconds, time.perf_counter() - start


def compare(X_train, X_test, n_components_grid, *, nonlinear_epochs=200, random_state=0):
    """One row per n_components: errors, error ratio, largest principal angle, times.

    LinearAutoencoder runs with its default training settings, as a user
    swapping it in for PCA would.
    """
    rows = []
    for k in n_components_grid:
        pca, pca_fit, pca_transform = _timed_fit(PCA(n_components=k), X_train)
        linear, linear_fit, linear_transform = _timed_fit(
            LinearAutoencoder(n_components=k, random_state=random_state, device="cpu"), X_train
        )
        deep, deep_fit, _ = _timed_fit(
            Autoencoder(n_components=k, hidden_layer_sizes=(128,), learning_rate=3e-3,
                        max_epochs=nonlinear_epochs, random_state=random_state, device="cpu"),
            X_train,
        )
        pca_mse = reconstruction_mse(pca, X_train)
        linear_mse = reconstruction_mse(linear, X_train)
        angles = subspace_angles(pca.components_.T, linear.components_.T)
        rows.append(
            {
                "n_components": k,
                "PCA train MSE": pca_mse,
                "linear AE train MSE": linear_mse,
                "linear AE / PCA": linear_mse / pca_mse,
                "largest angle (deg)": float(np.degrees(angles.max())),
                "PCA test MSE": reconstruction_mse(pca, X_test),
                "linear AE test MSE": reconstruction_mse(linear, X_test),
                "deep AE test MSE": reconstruction_mse(deep, X_test),
                "linear AE epochs": linear.n_iter_,
                "PCA fit (s)": pca_fit,
                "linear AE fit (s)": linear_fit,
                "deep AE fit (s)": deep_fit,
                "PCA transform (s)": pca_transform,
                "linear AE transform (s)": linear_transform,
            }
        )
    return rows


def plot(rows, path, dataset):
    import matplotlib.pyplot as plt

    ks = [row["n_components"] for row in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for column, style in [("PCA test MSE", "o-"), ("linear AE test MSE", "x--"),
                          ("deep AE test MSE", "s-")]:
        ax.plot(ks, [row[column] for row in rows], style, label=column.replace(" test MSE", ""))
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("n_components")
    ax.set_ylabel("held-out reconstruction MSE")
    ax.set_title(f"{dataset}: held-out error against code size", fontsize=10)
    ax.legend(title="reducer")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def wide_low_rank(random_state=0, n_train=15, n_test=500, n_features=100):
    """Rank-5 data plus noise, with fewer training rows than features."""
    rng = np.random.RandomState(random_state)
    basis = np.linalg.qr(rng.normal(size=(n_features, 5)))[0]

    def draw(n_rows):
        signal = rng.normal(size=(n_rows, 5)) * [5.0, 4.0, 3.0, 2.0, 1.5]
        return signal @ basis.T + 0.3 * rng.normal(size=(n_rows, n_features))

    return draw(n_train), draw(n_test)


def drop_in_cases(mnist=None, random_state=0):
    """LinearAutoencoder's defaults against PCA on small, wide and image data.

    ``mnist`` is an optional (X_train, X_test) pair. Error ratios are
    reconstruction MSEs divided by PCA's; held-out ratios where a test set
    exists. Iris has no held-out rows: all 150 are the data PCA describes.
    """
    from sklearn.datasets import load_digits, load_iris

    cases = [
        ("iris (150 x 4)", load_iris().data, None, (2, 3)),
        ("digits (1797 x 64)", load_digits().data / 16.0, None, (8, 16)),
        ("wide (15 x 100, rank 5 + noise)", *wide_low_rank(random_state), (5,)),
    ]
    if mnist is not None:
        cases.insert(2, ("MNIST subset (2000 x 784)", *mnist, (16,)))
    rows = []
    for name, X, X_test, grid in cases:
        for k in grid:
            pca, pca_fit, _ = _timed_fit(PCA(n_components=k), X)
            linear, linear_fit, _ = _timed_fit(
                LinearAutoencoder(n_components=k, random_state=random_state, device="cpu"), X
            )
            held_out = "-"
            if X_test is not None:
                held_out = reconstruction_mse(linear, X_test) / reconstruction_mse(pca, X_test)
                held_out = f"{held_out:.4f}"
            rows.append(
                {
                    "data": name,
                    "n_components": k,
                    "PCA unexplained variance": float(1 - pca.explained_variance_ratio_.sum()),
                    # Four decimals: the 1 % bound is the point.
                    "linear AE / PCA (train)":
                        f"{reconstruction_mse(linear, X) / reconstruction_mse(pca, X):.4f}",
                    "linear AE / PCA (held-out)": held_out,
                    "linear AE epochs": linear.n_iter_,
                    "PCA fit (s)": pca_fit,
                    "linear AE fit (s)": linear_fit,
                }
            )
    return rows
