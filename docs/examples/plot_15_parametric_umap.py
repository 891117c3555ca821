"""
A UMAP map that places new points and decodes back
===================================================

:class:`~skae.ParametricUMAP` builds UMAP's fuzzy neighbour graph over the
training rows and trains a network on UMAP's cross-entropy, so the map is a
function: ``transform`` places rows that arrive later with one forward pass.
With ``reconstruction_weight > 0`` a decoder is trained beside it, and
``inverse_transform`` turns any point of the map (here a grid over it) back
into an image.
"""

# %%
# A map of three quarters of the digits, the last quarter placed on it
# --------------------------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import ParametricUMAP

X, y = load_digits(return_X_y=True)
X_train, X_new, y_train, y_new = train_test_split(
    X / 16, y, test_size=0.25, random_state=0, stratify=y
)
umap = ParametricUMAP(reconstruction_weight=1.0, max_epochs=30, random_state=0, device="cpu")
umap.fit(X_train)
placed = umap.transform(X_new)
print("held-out trustworthiness:", round(umap.score(X_new), 3))

# %%
# The map, and a grid over it decoded
# -----------------------------------
low, high = umap.embedding_.min(axis=0), umap.embedding_.max(axis=0)
steps = 9
u, v = np.meshgrid(np.linspace(low[0], high[0], steps), np.linspace(high[1], low[1], steps))
decoded = umap.inverse_transform(np.c_[u.ravel(), v.ravel()])

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5))
left.scatter(*umap.embedding_.T, c=y_train, cmap="tab10", s=4, alpha=0.4)
points = left.scatter(*placed.T, c=y_new, cmap="tab10", s=18, marker="x")
left.set_title("training map (dots), held-out rows placed (crosses)")
fig.colorbar(points, ax=left, ticks=range(10))
# Each decoded 8x8 digit framed by a blank pixel, so that the tiles stand apart.
tiles = np.pad(decoded.clip(0, 1).reshape(steps, steps, 8, 8), ((0, 0), (0, 0), (1, 1), (1, 1)))
mosaic = tiles.transpose(0, 2, 1, 3).reshape(steps * 10, steps * 10)
right.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1)
right.set_title("a 9 x 9 grid over the map, decoded")
right.axis("off")
fig.tight_layout()
plt.show()
