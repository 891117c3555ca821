"""
A stacked autoencoder's reconstructions
=======================================

A stacked (deep) autoencoder puts several hidden layers between the input
and the coding layer, and a decoder that mirrors them. Its nonlinear layers
can bend the coding "surface" to follow the data, so with the same number
of coding units it reconstructs better than PCA's flat subspace. Here an
:class:`~skae.Autoencoder` 64-128-64-8-64-128-64 compresses the 8x8 digits
to 8 numbers per image, next to ``PCA(n_components=8)``.
"""

# %%
# The digits, split
# -----------------
# scikit-learn's 1,797 digits of 8x8 pixels, scaled to [0, 1]; the models
# learn on 1,300 images and are shown the 497 others.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skae import Autoencoder
from skae.plotting import plot_image_rows

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=497, random_state=0, stratify=y)

# %%
# Fit
# ---
# Two hidden layers of 128 and 64 ReLU units on each side of an 8-unit
# code; a sigmoid output keeps the pixels in [0, 1]. A budget of 80 epochs
# with a cosine-annealed learning rate.
ae = Autoencoder(n_components=8, hidden_layer_sizes=(128, 64),
                 output_activation="sigmoid", learning_rate=0.003,
                 learning_rate_schedule="cosine", max_epochs=80,
                 random_state=0).fit(X_train)
pca = PCA(n_components=8).fit(X_train)


def test_mse(model):
    return np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2)


mse_ae, mse_pca = test_mse(ae), test_mse(pca)
print(f"test reconstruction MSE with 8 codes: autoencoder {mse_ae:.4f}, PCA {mse_pca:.4f}")

# %%
# Originals and reconstructions
# -----------------------------
# Ten test digits, one per class, above their reconstructions from 8
# numbers each.
first_of_class = [np.flatnonzero(y_test == digit)[0] for digit in range(10)]
originals = X_test[first_of_class]
fig, _ = plot_image_rows(
    [originals,
     ae.inverse_transform(ae.transform(originals)),
     pca.inverse_transform(pca.transform(originals))],
    (8, 8),
    ["original", f"autoencoder\nMSE {mse_ae:.4f}", f"PCA\nMSE {mse_pca:.4f}"],
    title="Held-out 8x8 digits rebuilt from 8 codes each (MSE over all 497 test images)",
)
fig.subplots_adjust(left=0.16, top=0.85)

# %%
# Training curve
# --------------
# The training loss per epoch (mean squared error on the training images),
# with PCA's training error for scale.
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(np.arange(1, ae.n_iter_ + 1), ae.loss_curve_, label="autoencoder 64-128-64-8")
pca_train = np.mean((pca.inverse_transform(pca.transform(X_train)) - X_train) ** 2)
ax.axhline(pca_train, color="k", linestyle="--", label=f"PCA, 8 components ({pca_train:.4f})")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("training MSE per pixel")
ax.set_title("Digits (1,300 training images), 8 coding units")
ax.legend()
fig.tight_layout()
