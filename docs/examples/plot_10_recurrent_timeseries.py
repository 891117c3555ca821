"""
A sequence-to-sequence autoencoder on time series
=================================================

A recurrent autoencoder reads a whole sequence with a recurrent network
(LSTM or GRU) and keeps only its final state, mapped to a short coding
(sequence to vector); a second recurrent network unrolls that coding back
into the sequence (vector to sequence). :class:`~skae.RecurrentAutoencoder`
takes sequences as (n, T, F) arrays, or as flat rows with
``sequence_shape=(T, F)``.

The data here are synthetic: 1,000 noisy sine waves of 30 steps, each with
its own frequency (1 to 3 cycles per window), phase and amplitude. Three
numbers describe each wave, so a 3-unit coding suffices in principle.
"""

# %%
# Synthetic sine waves
# --------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA

from skae import RecurrentAutoencoder

rng = np.random.RandomState(0)
n_sequences, n_steps = 1000, 30
t = np.linspace(0, 1, n_steps)
frequency = rng.uniform(1, 3, n_sequences)
phase = rng.uniform(0, 2 * np.pi, n_sequences)
amplitude = rng.uniform(0.5, 1, n_sequences)
X = amplitude[:, None] * np.sin(2 * np.pi * frequency[:, None] * t + phase[:, None])
X += 0.05 * rng.randn(n_sequences, n_steps)
X = X[:, :, None]  # (n, T, F): 30 steps of one feature
X_train, X_test = X[:800], X[800:]

# %%
# Fit
# ---
# An LSTM of 32 units on each side of a 3-unit coding, 100 epochs.
rae = RecurrentAutoencoder(n_components=3, cell="lstm", hidden_size=32, learning_rate=0.01,
                           learning_rate_schedule="cosine", max_epochs=100,
                           random_state=0).fit(X_train)
reconstructed = rae.inverse_transform(rae.transform(X_test)).reshape(X_test.shape)
mse_rae = np.mean((reconstructed - X_test) ** 2)

# PCA on the flattened sequences, with the same code size, for scale.
pca = PCA(n_components=3).fit(X_train[:, :, 0])
mse_pca = np.mean((pca.inverse_transform(pca.transform(X_test[:, :, 0])) - X_test[:, :, 0]) ** 2)
print(f"test MSE with 3 codes: recurrent autoencoder {mse_rae:.4f}, PCA {mse_pca:.4f} "
      f"(the noise alone has variance {0.05 ** 2:.4f})")

# %%
# Test sequences and their reconstructions
# ----------------------------------------
fig, axes = plt.subplots(2, 3, figsize=(11, 4.8), sharex=True, sharey=True)
for ax, i in zip(axes.ravel(), range(6)):
    ax.plot(t, X_test[i, :, 0], ".", color="k", label="sequence")
    ax.plot(t, reconstructed[i, :, 0], color="tab:blue", label="recurrent AE")
    ax.plot(t, pca.inverse_transform(pca.transform(X_test[i:i + 1, :, 0]))[0],
            color="tab:orange", linestyle="--", label="PCA")
    ax.set_title(f"frequency {frequency[800 + i]:.1f} cycles", fontsize="small")
for ax in axes[1]:
    ax.set_xlabel("time (one window)")
for ax in axes[:, 0]:
    ax.set_ylabel("value")
fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncols=3)
fig.suptitle(f"Synthetic sine waves rebuilt from 3 codes (test MSE: recurrent AE "
             f"{mse_rae:.4f}, PCA {mse_pca:.4f})")
fig.tight_layout(rect=(0, 0.06, 1, 1))

# %%
# What the coding holds
# ---------------------
# The first two coding units of the 200 test sequences, coloured by each
# wave's frequency, then by its phase: the frequency runs along the first
# code, while the phase winds around the plane and needs the third code to
# be told apart.
codes = rae.transform(X_test)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, values, label, cmap in [(axes[0], frequency[800:], "frequency (cycles per window)",
                                 "viridis"),
                                (axes[1], phase[800:], "phase (radians)", "twilight")]:
    points = ax.scatter(codes[:, 0], codes[:, 1], c=values, cmap=cmap, s=10)
    fig.colorbar(points, ax=ax, label=label)
    ax.set_xlabel("code 1")
    ax.set_ylabel("code 2")
fig.suptitle("Codes of the 200 synthetic test sequences")
fig.tight_layout()
