import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from skae import Autoencoder, VariationalAutoencoder, plotting  # noqa: E402


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    ae = Autoencoder(4, hidden_layer_sizes=(16,), early_stopping=True, max_epochs=3,
                     random_state=0, device="cpu").fit(X)
    return ae, X, y


def test_plot_reconstructions_draws_originals_and_reconstructions(fitted):
    ae, X, _ = fitted
    fig, axes = plotting.plot_reconstructions(ae, X, (8, 8), n=6)
    assert axes.shape == (2, 6)
    assert all(len(ax.images) == 1 for ax in axes.ravel())
    assert axes[1, 0].get_ylabel() == "Autoencoder"
    matplotlib.pyplot.close(fig)


def test_plot_embedding_has_one_collection_per_class(fitted):
    _, X, y = fitted
    ax = plotting.plot_embedding(X[:, :2], y, title="raw")
    assert len(ax.collections) == len(np.unique(y))
    assert ax.get_title() == "raw"
    with pytest.raises(ValueError, match="n_samples, 2"):
        plotting.plot_embedding(X[:, :3])


def test_plot_loss_curve_shows_train_and_validation(fitted):
    ae, _, _ = fitted
    ax = plotting.plot_loss_curve(ae)
    assert [line.get_label() for line in ax.get_lines()] == ["train", "validation"]
    assert len(ax.get_lines()[0].get_xdata()) == ae.n_iter_


def test_plot_samples(digits):
    X, _ = digits
    vae = VariationalAutoencoder(2, hidden_layer_sizes=(16,), max_epochs=1, device="cpu").fit(X)
    fig, axes = plotting.plot_samples(vae, 5, (8, 8), random_state=0)
    assert axes.shape == (1, 5)
    with pytest.raises(ValueError, match="image_shape"):
        plotting.plot_samples(vae, 5)


def test_missing_matplotlib_names_the_extra(monkeypatch, fitted):
    ae, X, _ = fitted
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"skae\[plot\]"):
        plotting.plot_loss_curve(ae)
