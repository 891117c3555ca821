"""LinearAutoencoder against PCA: reconstruction error and subspace angle."""

import time

import numpy as np
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from skae import LinearAutoencoder


def reconstruction_mse(estimator, X):
    return float(np.mean((estimator.inverse_transform(estimator.transform(X)) - X) ** 2))


def compare(X_train, X_test, n_components_grid, random_state=0):
    """One row per n_components: errors, error ratio, largest principal angle, times."""
    rows = []
    for k in n_components_grid:
        start = time.perf_counter()
        pca = PCA(n_components=k).fit(X_train)
        pca_seconds = time.perf_counter() - start
        start = time.perf_counter()
        ae = LinearAutoencoder(n_components=k, random_state=random_state, device="cpu")
        ae.fit(X_train)
        ae_seconds = time.perf_counter() - start
        pca_mse, ae_mse = reconstruction_mse(pca, X_train), reconstruction_mse(ae, X_train)
        rows.append(
            {
                "n_components": k,
                "pca_train_mse": pca_mse,
                "ae_train_mse": ae_mse,
                "train_ratio": ae_mse / pca_mse,
                "pca_test_mse": reconstruction_mse(pca, X_test),
                "ae_test_mse": reconstruction_mse(ae, X_test),
                "max_angle_deg": float(
                    np.degrees(subspace_angles(pca.components_.T, ae.components_.T).max())
                ),
                "ae_epochs": ae.n_iter_,
                "pca_fit_s": pca_seconds,
                "ae_fit_s": ae_seconds,
            }
        )
    return rows
