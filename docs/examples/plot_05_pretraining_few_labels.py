"""
Unsupervised pretraining for a classifier with few labels
=========================================================

When labels are scarce and unlabelled data plentiful, an autoencoder can
learn the data's structure from every row, and a classifier built on its
encoder then needs few labels to separate the classes. This is what
:class:`~skae.AutoencoderClassifier` does: it fits an autoencoder on all of
X, puts a softmax layer on the encoder and fine-tunes both on the labelled
rows (``y == -1`` marks an unlabelled row, as in scikit-learn's
semi-supervised estimators).

Here 1,347 of the 8x8 digits are the training rows, of which only 20 to 200
carry their label; the other 450 digits are the test set. The baseline is a
:class:`~sklearn.linear_model.LogisticRegression` on the labelled rows
alone.
"""

# %%
# Labels hidden at random
# -----------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skae import AutoencoderClassifier, DenoisingAutoencoder

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=450, random_state=0, stratify=y)

label_counts = [20, 50, 100, 200]
seeds = [0, 1]

# %%
# The pretrained classifier
# -------------------------
# A denoising autoencoder 64-256-64 (tanh units, Gaussian noise of 0.3 on
# the inputs) is pretrained on all 1,347 training digits; its encoder and a
# softmax head are then fine-tuned on the labelled ones for 100 epochs.


def pretrained_classifier(seed):
    autoencoder = DenoisingAutoencoder(
        n_components=64, hidden_layer_sizes=(256,), activation="tanh",
        noise="gaussian", noise_level=0.3, learning_rate=0.003,
        learning_rate_schedule="cosine", max_epochs=60)
    return AutoencoderClassifier(autoencoder, learning_rate=0.001, weight_decay=1e-4,
                                 learning_rate_schedule="cosine", max_epochs=100,
                                 random_state=seed)


accuracy = {"pretrained": np.zeros((len(label_counts), len(seeds))),
            "logistic": np.zeros((len(label_counts), len(seeds)))}
for i, n_labels in enumerate(label_counts):
    for j, seed in enumerate(seeds):
        labelled = np.random.RandomState(seed).permutation(len(y_train))[:n_labels]
        y_partial = np.full_like(y_train, -1)
        y_partial[labelled] = y_train[labelled]

        model = pretrained_classifier(seed).fit(X_train, y_partial)
        accuracy["pretrained"][i, j] = model.score(X_test, y_test)
        baseline = LogisticRegression(max_iter=2000).fit(X_train[labelled], y_train[labelled])
        accuracy["logistic"][i, j] = baseline.score(X_test, y_test)
    print(f"{n_labels:3d} labels: pretrained autoencoder "
          f"{accuracy['pretrained'][i].mean():.3f}, logistic regression "
          f"{accuracy['logistic'][i].mean():.3f} (test accuracy, mean of {len(seeds)} draws)")

# %%
# Accuracy against the number of labels
# -------------------------------------
# Each point is the mean over two random draws of the labelled rows; the
# bars span the two draws. Pretraining helps most with the fewest labels;
# from about 100 labels on, logistic regression on the raw pixels does as
# well on these small, clean images.
fig, ax = plt.subplots(figsize=(6.5, 4))
for name, label in [("pretrained",
                     "denoising AE 64-256-64 pretrained on all 1,347 rows, fine-tuned"),
                    ("logistic", "logistic regression on the labelled rows alone")]:
    scores = accuracy[name]
    mean = scores.mean(axis=1)
    ax.errorbar(label_counts, mean,
                yerr=[mean - scores.min(axis=1), scores.max(axis=1) - mean],
                marker="o", capsize=3, label=label)
ax.set_xscale("log")
ax.minorticks_off()
ax.set_xticks(label_counts, [str(n) for n in label_counts])
ax.set_xlabel("labelled training digits (of 1,347)")
ax.set_ylabel("accuracy on 450 test digits")
ax.set_title("Digits (8x8, 10 classes) with few labels")
ax.legend(fontsize="small", loc="lower right")
fig.tight_layout()
