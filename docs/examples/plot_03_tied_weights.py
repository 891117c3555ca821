"""
Tied weights: half the parameters, the same error
==================================================

In a symmetric autoencoder each decoder layer can reuse the transposed
weight matrix of its mirror encoder layer instead of learning its own
(``tied_weights=True``). That halves the weight parameters, trains faster
per step and regularises, usually at no cost in reconstruction error. Here
two :class:`~skae.Autoencoder` 64-128-32-16-32-128-64 on the 8x8 digits,
identical but for the tying, trained with the same budget.
"""

# %%
# Two autoencoders, tied and untied
# ---------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import Autoencoder

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

results = {}
for tied in (False, True):
    ae = Autoencoder(n_components=16, hidden_layer_sizes=(128, 32), tied_weights=tied,
                     output_activation="sigmoid", learning_rate=0.003,
                     learning_rate_schedule="cosine", max_epochs=60,
                     random_state=0).fit(X_train)
    n_parameters = sum(p.numel() for p in ae.module_.parameters())
    test_mse = np.mean((ae.inverse_transform(ae.transform(X_test)) - X_test) ** 2)
    results["tied" if tied else "untied"] = (ae, n_parameters, test_mse)
    print(f"{'tied' if tied else 'untied':>6}: {n_parameters:6d} parameters, "
          f"test MSE {test_mse:.4f}")

# %%
# Parameters, error and training curves
# -------------------------------------
# The tied net keeps its own biases in the decoder, so it has a little more
# than half the parameters.
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
names = list(results)
colors = ["tab:blue", "tab:orange"]
bars = axes[0].bar(names, [results[n][1] for n in names], color=colors)
axes[0].bar_label(bars, fmt="{:,.0f}")
axes[0].margins(y=0.12)
axes[0].set_ylabel("trainable parameters")
axes[0].set_title("Model size")
bars = axes[1].bar(names, [results[n][2] for n in names], color=colors)
axes[1].bar_label(bars, fmt="{:.4f}")
axes[1].margins(y=0.12)
axes[1].set_ylabel("test MSE per pixel")
axes[1].set_title("Reconstruction error (450 held-out digits)")
for name, color in zip(names, colors):
    ae = results[name][0]
    axes[2].plot(np.arange(1, ae.n_iter_ + 1), ae.loss_curve_, color=color, label=name)
axes[2].set_yscale("log")
axes[2].set_xlabel("epoch")
axes[2].set_ylabel("training MSE per pixel")
axes[2].set_title("Training curves")
axes[2].legend()
fig.suptitle("Autoencoder 64-128-32-16-32-128-64 on the 8x8 digits, with and without tied weights")
fig.tight_layout()
