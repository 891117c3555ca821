"""
AE + t-SNE maps
===============

An autoencoder compresses the 8x8 digits to a short code; t-SNE then draws
the codes as a 2-D map. scikit-learn's :class:`~sklearn.manifold.TSNE` maps
the rows it is fitted on and nothing else. :class:`~skae.ParametricTSNE`
trains a network with the same objective, so rows that arrive later are
placed on the same map by ``transform``, one forward pass.

Here both map the codes of three quarters of the digits; the held-out
quarter is then placed on the parametric map.
"""

# %%
# Codes of the training and held-out digits
# -----------------------------------------
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.manifold import TSNE, trustworthiness
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from skae import Autoencoder, ParametricTSNE

X, y = load_digits(return_X_y=True)
X_train, X_new, y_train, y_new = train_test_split(
    X / 16, y, test_size=0.25, random_state=0, stratify=y
)
autoencoder = Autoencoder(8, hidden_layer_sizes=(64,), max_epochs=50,
                          learning_rate_schedule="cosine", random_state=0)
codes_train = autoencoder.fit_transform(X_train)
codes_new = autoencoder.transform(X_new)
print(f"codes: {codes_train.shape} training, {codes_new.shape} held out")

# %%
# Two maps of the training codes
# ------------------------------
# Trustworthiness (5 neighbours) measures how well each map keeps the
# codes' nearest neighbours together (1 is perfect).
tsne_map = TSNE(random_state=0).fit_transform(codes_train)
parametric = ParametricTSNE(random_state=0).fit(codes_train)
parametric_map = parametric.embedding_
for name, embedding in [("TSNE", tsne_map), ("ParametricTSNE", parametric_map)]:
    score = trustworthiness(codes_train, embedding, n_neighbors=5)
    print(f"{name:>15}: trustworthiness {score:.3f}")

# %%
# New digits on the parametric map
# --------------------------------
# ``transform`` places the held-out codes; a 5-nearest-neighbour vote among
# the training points of the map labels them.
placed = parametric.transform(codes_new)
accuracy = KNeighborsClassifier(5).fit(parametric_map, y_train).score(placed, y_new)
print(f"held-out digits labelled by their neighbours on the map: {accuracy:.1%}")

fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
colours = plt.get_cmap("tab10")
axes[0].scatter(*tsne_map.T, c=colours(y_train), s=4)
axes[0].set_title("TSNE of the codes\n(training digits only)")
axes[1].scatter(*parametric_map.T, c=colours(y_train), s=4, alpha=0.5)
axes[1].scatter(*placed.T, c=colours(y_new), s=18, edgecolors="black", linewidths=0.5)
axes[1].set_title("ParametricTSNE of the codes\nheld-out digits placed by transform: black-edged")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
handles = [plt.Line2D([], [], marker="o", linestyle="", color=colours(d), label=str(d))
           for d in range(10)]
fig.legend(handles=handles, loc="center right", title="digit")
fig.tight_layout(rect=(0, 0, 0.93, 1))
plt.show()
