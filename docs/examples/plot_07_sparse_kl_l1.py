"""
Sparse codes: the KL penalty against the L1 penalty
===================================================

A sparse autoencoder adds a penalty on its coding layer so that each input
activates only a few coding units. That lets the coding layer be larger
than the input (overcomplete) without the net learning to copy it.
:class:`~skae.SparseAutoencoder` offers the two classic penalties:

* ``sparsity="kl"``: sigmoid codes in [0, 1]; the loss adds the
  Kullback-Leibler divergence between a target activation ``p`` and each
  unit's mean activation over the batch, so every unit is pushed to be
  active for about a share ``p`` of the inputs;
* ``sparsity="l1"``: ReLU codes; the loss adds the mean absolute code,
  which drives most codes to exactly zero.

Here both learn 100 coding units (more than the 64 pixels) on the 8x8
digits.
"""

# %%
# Fit both penalties
# ------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import SparseAutoencoder

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=450, random_state=0)

settings = dict(n_components=100, hidden_layer_sizes=(128,), output_activation="sigmoid",
                learning_rate=0.01, learning_rate_schedule="cosine", max_epochs=60,
                random_state=0)
target = 0.05
models = {
    "KL": SparseAutoencoder(sparsity="kl", sparsity_target=target, sparsity_weight=0.003,
                            **settings).fit(X_train),
    "L1": SparseAutoencoder(sparsity="l1", sparsity_weight=0.03, **settings).fit(X_train),
}
codes = {name: model.transform(X_test) for name, model in models.items()}
test_mse = {}
for name, model in models.items():
    mse = test_mse[name] = np.mean((model.inverse_transform(codes[name]) - X_test) ** 2)
    print(f"{name}: test MSE {mse:.4f}, mean code {codes[name].mean():.3f}, "
          f"exact zeros {np.mean(codes[name] == 0):.0%}, "
          f"codes below 0.01 {np.mean(np.abs(codes[name]) < 0.01):.0%}, "
          f"units above 0.1 per digit {np.mean((codes[name] > 0.1).sum(axis=1)):.1f}")

# %%
# Activation histograms
# ---------------------
# The values of all 100 codes of the 450 test digits (45,000 values). The
# KL penalty gives sigmoid activations piled up near zero, none exactly
# zero, with a thin tail of strong responses; the L1 penalty gives a spike
# of exact zeros and a spread of larger values.
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for ax, (name, values) in zip(axes, codes.items()):
    ax.hist(values.ravel(), bins=60, color="tab:blue" if name == "KL" else "tab:orange")
    ax.set_yscale("log")
    ax.set_xlabel("activation of a coding unit")
    ax.set_ylabel("count (log scale)")
    zeros = np.mean(values == 0)
    ax.set_title(f"{name} penalty: {zeros:.0%} exact zeros, mean activation "
                 f"{values.mean():.3f}\ntest reconstruction MSE {test_mse[name]:.4f}")
fig.suptitle("Sparse autoencoder 64-128-100 on the 8x8 digits: codes of 450 test images")
fig.tight_layout()

# %%
# How often each unit fires
# -------------------------
# Left, the mean activation of each of the 100 units over the test digits,
# sorted, with the KL target ``p``: the KL penalty holds every unit near
# it, so all units share the work. The L1 penalty only asks for small codes
# overall: a minority of units does all the work and the others never fire
# (dead units). Right, how many units respond (above 0.1) to each digit:
# about the same number for both.
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for name, values in codes.items():
    axes[0].plot(np.sort(values.mean(axis=0))[::-1], label=name)
    axes[1].hist((values > 0.1).sum(axis=1), bins=np.arange(0, 61, 2), alpha=0.6,
                 label=name)
axes[0].axhline(target, color="k", linestyle="--", label=f"KL target p = {target}")
axes[0].set_xlabel("coding unit (sorted by mean activation)")
axes[0].set_ylabel("mean activation on the test digits")
axes[0].legend()
axes[1].set_xlim(0, 60)
axes[1].set_xlabel("units above 0.1 for one digit (of 100)")
axes[1].set_ylabel("test digits")
axes[1].legend()
fig.suptitle("Activity of the 100 coding units")
fig.tight_layout()
