"""One check per family, on held-out data, with the figures that show it."""

import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from skae import (
    Autoencoder,
    AutoencoderClassifier,
    ConvolutionalAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)

NOISE_LEVEL = 0.3


def _mse(a, b):
    return float(np.mean((a - b) ** 2))


def _reconstruct(estimator, X):
    return estimator.inverse_transform(estimator.transform(X))


def _n_parameters(estimator):
    return sum(p.numel() for p in estimator.module_.parameters())


def run(data, *, code_size=16, epochs=50, random_state=0):
    """Fit one estimator per family; return table rows and what the figures need.

    Every family trains for the same fixed ``epochs``, converged or not, so
    the ConvergenceWarnings a fit would give are silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _run(data, code_size=code_size, epochs=epochs, random_state=random_state)


def _run(data, *, code_size, epochs, random_state):
    X_train, X_test = data.X_train, data.X_test
    common = dict(learning_rate=3e-3, max_epochs=epochs, random_state=random_state, device="cpu")
    dense_settings = dict(hidden_layer_sizes=(128,), output_activation="sigmoid", **common)
    rng = np.random.RandomState(random_state)
    rows, figures = [], {}

    pca = PCA(code_size).fit(X_train)
    dense = Autoencoder(code_size, **dense_settings).fit(X_train)
    conv = ConvolutionalAutoencoder(
        code_size, image_shape=(1, *data.image_shape), channels=(16, 32),
        output_activation="sigmoid", **common,
    ).fit(X_train)
    mean_mse = _mse(X_test, X_train.mean(axis=0))
    for name, estimator in [("PCA", pca), ("dense Autoencoder", dense),
                            ("ConvolutionalAutoencoder", conv)]:
        n_params = _n_parameters(estimator) if hasattr(estimator, "module_") else pca.components_.size
        rows.append({
            "family": name,
            "check": f"held-out MSE at code size {code_size} ({n_params:,} parameters)",
            "result": f"{_mse(_reconstruct(estimator, X_test), X_test):.4f}",
            "baseline": f"mean predictor {mean_mse:.4f}",
        })
    figures["reconstructions"] = [("original", X_test[:10])] + [
        (f"{name}\n{code_size} codes\nMSE {_mse(_reconstruct(estimator, X_test), X_test):.4f}",
         _reconstruct(estimator, X_test[:10]))
        for name, estimator in [("PCA", pca), ("dense AE", dense), ("conv AE", conv)]
    ]
    figures["reconstructions_title"] = (
        f"{data.name}: held-out test images (top) and their reconstructions; "
        "MSE over all test images"
    )

    denoising = DenoisingAutoencoder(code_size * 2, noise_level=NOISE_LEVEL,
                                     **dense_settings).fit(X_train)
    X_noisy = X_test + NOISE_LEVEL * rng.normal(size=X_test.shape)
    denoised = _reconstruct(denoising, X_noisy)
    rows.append({
        "family": "DenoisingAutoencoder",
        "check": f"MSE to the clean test images, Gaussian noise sd {NOISE_LEVEL}",
        "result": f"denoised {_mse(denoised, X_test):.4f}",
        "baseline": f"noisy input {_mse(X_noisy, X_test):.4f}",
    })
    figures["denoising"] = [
        ("clean", X_test[:10]),
        (f"noisy, sd {NOISE_LEVEL}\nshown clipped\nto [0, 1]\nMSE {_mse(X_noisy, X_test):.4f}",
         np.clip(X_noisy[:10], 0, 1)),
        (f"denoised\n{code_size * 2} codes\nMSE {_mse(denoised, X_test):.4f}", denoised[:10]),
    ]
    figures["denoising_title"] = (
        f"{data.name}: DenoisingAutoencoder on held-out images with Gaussian noise; "
        "MSE to the clean images, over all test images"
    )

    sparse_settings = dict(sparsity_target=0.05, **dense_settings)
    sparse = SparseAutoencoder(64, sparsity_weight=0.5, **sparse_settings).fit(X_train)
    unpenalised = SparseAutoencoder(64, sparsity_weight=0.0, **sparse_settings).fit(X_train)
    rows.append({
        "family": "SparseAutoencoder (KL, target 0.05)",
        "check": "mean coding activation on the training data, 64 units",
        "result": f"{sparse.mean_activation_.mean():.3f}",
        "baseline": f"weight 0: {unpenalised.mean_activation_.mean():.3f}",
    })

    vae = VariationalAutoencoder(
        8, hidden_layer_sizes=(128,), output_activation="sigmoid", loss="bce", **common
    ).fit(X_train)
    shuffled = np.array([rng.permutation(row) for row in X_test])
    rows.append({
        "family": "VariationalAutoencoder",
        "check": "mean ELBO per feature on test images (higher is better)",
        "result": f"{vae.score(X_test):.4f}",
        "baseline": f"shuffled-pixel images {vae.score(shuffled):.4f}",
    })
    figures["vae_samples"] = vae.sample(20, random_state=random_state)
    figures["vae_samples_title"] = (
        f"VariationalAutoencoder (8 codes) trained on {data.name}: 20 images decoded "
        "from draws of its prior N(0, I)"
    )

    labelled = rng.uniform(size=len(X_train)) < 0.1
    y_partial = np.where(labelled, data.y_train, -1)
    classifier = AutoencoderClassifier(
        Autoencoder(code_size * 2, **dense_settings), random_state=random_state, device="cpu"
    ).fit(X_train, y_partial)
    logistic = LogisticRegression(max_iter=2000).fit(X_train[labelled], data.y_train[labelled])
    rows.append({
        "family": "AutoencoderClassifier",
        "check": f"test accuracy with {labelled.sum()} labelled rows of {len(X_train)}",
        "result": f"{classifier.score(X_test, data.y_test):.3f}",
        "baseline": f"logistic regression on the labelled rows {logistic.score(X_test, data.y_test):.3f}",
    })
    return rows, figures


def save_figures(figures, image_shape, out_dir):
    import matplotlib.pyplot as plt

    from skae.plotting import plot_image_rows

    paths = {}
    for name in ("reconstructions", "denoising"):
        labels, images = zip(*figures[name])
        fig, _ = plot_image_rows(images, image_shape, labels, title=figures[f"{name}_title"])
        paths[name] = out_dir / f"{name}.png"
        fig.savefig(paths[name], dpi=100, bbox_inches="tight")
        plt.close(fig)
    samples = figures["vae_samples"]
    fig, _ = plot_image_rows([samples[:10], samples[10:]], image_shape,
                             ["samples\n1-10", "samples\n11-20"],
                             title=figures["vae_samples_title"])
    paths["vae_samples"] = out_dir / "vae_samples.png"
    fig.savefig(paths["vae_samples"], dpi=100, bbox_inches="tight")
    plt.close(fig)
    return paths
