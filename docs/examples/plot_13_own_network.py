"""
Your own network
================

:class:`~skae.Autoencoder` trains skae's dense stack unless you hand it a
network of your own with ``encoder=`` and ``decoder=``. Here the network is
written in this file: a residual MLP whose blocks are normalised with
``LayerNorm``. Passed as :func:`functools.partial` factories, its width
becomes an ordinary parameter value that
:class:`~sklearn.model_selection.GridSearchCV` tunes by the autoencoder's
own score, minus the reconstruction error, with no labels. The tuned network
then meets the built-in :class:`~skae.Autoencoder`, tuned by the same kind
of search, and ``PCA``, all with codes of 8 numbers per 8x8 digit, on
digits none of them saw. Read more in :ref:`own_network`.
"""

# %%
# The network
# -----------
# Each block adds a correction to its input instead of replacing it, so the
# identity path carries the signal and the gradients through however many
# blocks there are. ``LayerNorm`` normalises each row on its own, unlike
# batch normalisation, so the network computes the same thing on a batch
# of 64 rows in training, on the two rows of skae's dry run that checks
# the shapes before training, and on one row at ``transform``.
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, train_test_split
from torch import nn

from skae import Autoencoder
from skae.plotting import plot_image_rows


class ResidualMLP(nn.Module):
    def __init__(self, n_in, n_out, width, n_blocks=2):
        super().__init__()
        self.inp = nn.Linear(n_in, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(),
                          nn.Linear(width, width))
            for _ in range(n_blocks)
        )
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, n_out)

    def forward(self, x):
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(self.norm(h))


# skae calls a factory as ``factory(n_features=..., n_components=...)``:
# these two constructors take exactly those keywords, the encoder mapping
# pixels to codes and the decoder codes to pixels, so that ``partial``
# only has to fix the width.
class Encoder(ResidualMLP):
    def __init__(self, n_features, n_components, width=64):
        super().__init__(n_features, n_components, width)


class Decoder(ResidualMLP):
    def __init__(self, n_features, n_components, width=64):
        super().__init__(n_components, n_features, width)


# %%
# The digits, split
# -----------------
# The 1,797 digits of 8x8 pixels, scaled to [0, 1]; 450 of them are kept
# out of every fit and of the search, to compare the tuned models at the
# end.
X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=450, random_state=0)

# %%
# Tuning the width
# ----------------
# The grid is a list of sub-grids, one per width, so that the decoder always
# has the encoder's width instead of every pairing of the two. The learning
# rate is searched too: the step that suits one network can be too large
# for another, and a single rate shared by all would favour whichever
# network it happens to suit. The built-in autoencoder, with one hidden
# layer on each side of its code, gets the same search over its hidden
# width and the same rates, so that both come out of the same budget. Both
# train for 60 epochs under a cosine-annealed rate, with a sigmoid output
# that keeps the reconstructions in [0, 1], where the pixels lie; the score
# of each candidate is minus its mean squared reconstruction error on the
# third of the training split that each fold holds out.
widths = [32, 64, 128]
learning_rates = [0.001, 0.01]
training = dict(n_components=8, output_activation="sigmoid", max_epochs=60,
                learning_rate_schedule="cosine", random_state=0)

own_search = GridSearchCV(
    Autoencoder(**training),
    [{"encoder": [partial(Encoder, width=w)], "decoder": [partial(Decoder, width=w)],
      "learning_rate": learning_rates} for w in widths],
    cv=3,
).fit(X_train)
builtin_search = GridSearchCV(
    Autoencoder(**training),
    {"hidden_layer_sizes": [(64,), (128,), (256,)], "learning_rate": learning_rates},
    cv=3,
).fit(X_train)

best_width = own_search.best_params_["encoder"].keywords["width"]
print(f"own network: width {best_width}, "
      f"learning rate {own_search.best_params_['learning_rate']}")
print(f"built-in: hidden_layer_sizes={builtin_search.best_params_['hidden_layer_sizes']}, "
      f"learning rate {builtin_search.best_params_['learning_rate']}")

# %%
# On held-out digits
# ------------------
# Each search refits its best candidate on the whole training split; the
# table gives the mean squared error per pixel on the 450 held-out digits,
# and the number of weights each model holds. On these digits the residual
# network buys nothing over the built-in one: the two reach about the same
# error, the residual network with several times as many weights, and both
# make less than half of PCA's error. Residual blocks and normalisation
# are made for deeper networks than 8x8 digits call for; what this example
# shows is the route: a network of your own gets the same search and the
# same comparison as any scikit-learn estimator.
own = own_search.best_estimator_
builtin = builtin_search.best_estimator_
pca = PCA(n_components=8).fit(X_train)


def test_mse(model):
    return np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2)


models = {
    f"residual MLP, width {best_width}": (own, sum(p.numel() for p in own.module_.parameters())),
    f"Autoencoder, hidden {builtin.hidden_layer_sizes}": (
        builtin, sum(p.numel() for p in builtin.module_.parameters())),
    "PCA(8)": (pca, pca.components_.size + pca.mean_.size),
}
mse = {name: test_mse(model) for name, (model, _) in models.items()}
print(f"{'model':<28}{'parameters':>12}{'held-out MSE':>15}")
for name, (_, n_parameters) in models.items():
    print(f"{name:<28}{n_parameters:>12,}{mse[name]:>15.4f}")

# %%
# Originals and reconstructions
# -----------------------------
# Ten held-out digits above what each model rebuilds from their 8 codes.
originals = X_test[:10]
labels = [name.replace(", ", "\n") + f"\nMSE {mse[name]:.4f}" for name in models]
fig, _ = plot_image_rows(
    [originals] + [model.inverse_transform(model.transform(originals))
                   for model, _ in models.values()],
    (8, 8),
    ["original", *labels],
    title="Held-out digits rebuilt from 8 codes each (MSE over all 450 test digits)",
)
fig.subplots_adjust(left=0.2, right=0.98, bottom=0.02, top=0.88)

# %%
# The search
# ----------
# Minus the cross-validated score, the mean squared error on the held-out
# fold, of each width of the residual MLP at each learning rate, with the
# best candidate of the built-in autoencoder's search for scale. At the
# smaller rate the error falls as the network widens; at the larger one the
# wider networks train worse, so the best width depends on the rate, which
# is why the two are searched together.
results = own_search.cv_results_
fig, ax = plt.subplots(figsize=(6, 3.8))
for rate in learning_rates:
    rows = [i for i, params in enumerate(results["params"]) if params["learning_rate"] == rate]
    ax.plot([results["params"][i]["encoder"].keywords["width"] for i in rows],
            -results["mean_test_score"][rows], marker="o", label=f"learning rate {rate}")
ax.axhline(-builtin_search.best_score_, color="k", linestyle="--",
           label=f"Autoencoder, hidden {builtin.hidden_layer_sizes}, "
                 f"rate {builtin.learning_rate}")
ax.set_xscale("log", base=2)
ax.set_xticks(widths, [str(w) for w in widths])
ax.set_xlabel("width of the residual MLP")
ax.set_ylabel("3-fold cross-validated MSE")
ax.set_title("Residual MLP with LayerNorm, 8 codes")
ax.legend()
fig.tight_layout()
