"""
A linear autoencoder finds PCA's plane
======================================

An autoencoder with linear encoder and decoder, a coding layer smaller than
its input and the mean squared reconstruction error as its loss, learns the
same subspace as principal component analysis: the minimisers of its loss
span the top principal directions (Baldi and Hornik, 1989). Here a cloud of
200 synthetic points in 3-D lies close to a tilted plane; a
:class:`~skae.LinearAutoencoder` with two coding units, trained by gradient
descent from random weights, projects it onto the same plane as
:class:`~sklearn.decomposition.PCA`.
"""

# %%
# A 3-D cloud near a plane
# ------------------------
# The points follow a bent arc in the (x, y) plane, lifted onto a tilted
# plane ``z = 0.2 x + 0.4 y`` with a little noise off it, so two directions
# carry almost all the variance and the third very little.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA

from skae import LinearAutoencoder

rng = np.random.RandomState(4)
n_points = 200
angle = rng.uniform(-0.6, 1.4 * np.pi, n_points)
x = np.cos(angle) + 0.4 * np.sin(angle) + 0.06 * rng.randn(n_points)
y = 0.8 * np.sin(angle) + 0.06 * rng.randn(n_points)
z = 0.2 * x + 0.4 * y + 0.1 * rng.randn(n_points)
X = np.column_stack([x, y, z])

# %%
# Fit both
# --------
# The autoencoder never sees PCA's solution: its weights start random and
# Adam minimises the reconstruction error. After training skae expresses
# the learned plane in PCA's ordered basis, so the codes can be compared
# coordinate by coordinate.
ae = LinearAutoencoder(n_components=2, random_state=0).fit(X)
pca = PCA(n_components=2).fit(X)
codes_ae = ae.transform(X)
codes_pca = pca.transform(X)


def reconstruction_mse(model):
    return np.mean((model.inverse_transform(model.transform(X)) - X) ** 2)


# The angles between the two planes: zero when they are the same plane.
cosines = np.linalg.svd(ae.components_ @ pca.components_.T, compute_uv=False)
print(f"reconstruction MSE: linear autoencoder {reconstruction_mse(ae):.5f}, "
      f"PCA {reconstruction_mse(pca):.5f}")
print("largest angle between the two planes: "
      f"{np.degrees(np.arccos(np.clip(cosines.min(), -1, 1))):.3f} degrees")
print(f"epochs of gradient descent: {ae.n_iter_}")

# %%
# The projections side by side
# ----------------------------
# Left, the cloud in 3-D; middle, the autoencoder's 2-D codes; right,
# PCA's projection. The two projections coincide.
fig = plt.figure(figsize=(12, 4))
ax = fig.add_subplot(1, 3, 1, projection="3d")
ax.scatter(X[:, 0], X[:, 1], X[:, 2], c=angle, cmap="viridis", s=8)
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_zlabel("z")
ax.view_init(elev=20, azim=-60)
ax.set_title("200 synthetic points in 3-D")

for position, codes, name in [(2, codes_ae, "linear autoencoder"), (3, codes_pca, "PCA")]:
    ax = fig.add_subplot(1, 3, position)
    ax.scatter(codes[:, 0], codes[:, 1], c=angle, cmap="viridis", s=8)
    ax.set_xlabel("code 1")
    ax.set_ylabel("code 2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(f"{name}: 2-D codes\nreconstruction MSE "
                 f"{reconstruction_mse(ae if codes is codes_ae else pca):.4f}")
fig.suptitle("Colour: position along the arc (the same points in every panel)")
fig.tight_layout()

# %%
# Training reaches PCA's floor
# ----------------------------
# skae records the loss of each epoch as the share of the variance left
# unexplained; PCA's ``1 - explained_variance_ratio_.sum()`` is the lowest
# value any 2-D linear projection can reach (Eckart-Young).
floor = 1 - pca.explained_variance_ratio_.sum()
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(np.arange(1, ae.n_iter_ + 1), ae.loss_curve_, label="linear autoencoder")
ax.axhline(floor, color="k", linestyle="--", label=f"PCA's floor ({floor:.4f})")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("share of variance unexplained")
ax.set_title("Gradient descent on the 3-D cloud, 2 coding units")
ax.legend()
fig.tight_layout()

# sphinx_gallery_thumbnail_number = 1
