"""
Why a row is an outlier: ``explain``
====================================

:meth:`~skae.AutoencoderOutlierDetector.explain` splits each row's anomaly
score over its features: ``explain(X)`` has one column per feature, larger
means more anomalous, and each row sums to minus its ``score_samples``. An
autoencoder's reconstruction error is already a sum over features, so the
split tells which features the normal rows' model fails to rebuild.

Here the detector learns MNIST's 0s, 1s and 6s and meets 9s (the 28x28
subset beside the checkout, in ``../shared/data``; without it, the 8x8
digits 0 to 7 and their 9s), and then a table with one value planted far
outside its range.
"""

# %%
# Normal digits and nines
# -----------------------
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_digits

from skae import AutoencoderOutlierDetector
from skae.plotting import plot_explanation


def find_mnist_subset():
    """The MNIST subset in a ``shared/data`` folder beside the checkout, or None."""
    for folder in [Path.cwd(), *Path.cwd().parents]:
        candidate = folder / "shared" / "data" / "mnist_0169_subset.npz"
        if candidate.is_file():
            return candidate
    return None


path = find_mnist_subset()
if path is not None:
    data = np.load(path)
    X_train, y_train = data["X_train"] / 255, data["y_train"]
    X_test, y_test = data["X_test"] / 255, data["y_test"]
    image_shape, normal_digits = (28, 28), "0, 1 and 6"
else:
    X, y = load_digits(return_X_y=True)
    X_train, y_train, X_test, y_test = X[:1200] / 16, y[:1200], X[1200:] / 16, y[1200:]
    X_train, y_train = X_train[y_train < 8], y_train[y_train < 8]
    image_shape, normal_digits = (8, 8), "0 to 7"

X_normal = X_train[y_train != 9]
nines, others = X_test[y_test == 9], X_test[(y_test != 9) & (y_test < 8)]
print(f"training on {len(X_normal)} digits {normal_digits}; "
      f"explaining {len(nines)} held-out 9s")

# %%
# Fit the default detector and explain the nines
# ----------------------------------------------
# The default ensemble needs no settings; ``explain`` returns one
# contribution per pixel.
detector = AutoencoderOutlierDetector(random_state=0).fit(X_normal)
contributions = detector.explain(nines)
print("contributions:", contributions.shape)
# The documented relation: each row sums to minus its score.
assert np.allclose(contributions.sum(axis=1), -detector.score_samples(nines))

# %%
# The pixels that make a nine a nine
# ----------------------------------
# Top row: the six held-out nines the detector finds most anomalous, each
# with its 12 most anomalous pixels marked in red; bottom row: six normal
# held-out digits, marked the same way, with their scores (0 is a typical
# training digit, lower is more anomalous). The ensemble's members see each
# pixel scaled to its range on the training digits, so ink where the 0s,
# 1s and 6s hardly ever have any (the foot of a nine's tail, the lower edge
# of its loop, a loop reaching far left) weighs most; a normal digit's
# largest contributions are small and lie along its own strokes, where it
# differs in detail from the digits the detector learned.
n_marked = 12 if image_shape == (28, 28) else 4
most_anomalous = np.argsort(detector.score_samples(nines))[:6]
normal_contributions = detector.explain(others[:6])
fig, axes = plt.subplots(2, 6, figsize=(11, 4.3))
for column, index in enumerate(most_anomalous):
    plot_explanation(contributions[index], image_shape=image_shape, image=nines[index],
                     n_features=n_marked, ax=axes[0, column],
                     title=f"score {-contributions[index].sum():.1f}")
    plot_explanation(normal_contributions[column], image_shape=image_shape,
                     image=others[column], n_features=n_marked, ax=axes[1, column],
                     title=f"score {-normal_contributions[column].sum():.1f}")
axes[0, 0].set_ylabel("9s (anomalies)")
axes[1, 0].set_ylabel("normal digits")
fig.suptitle(f"The {n_marked} pixels that add most to each digit's anomaly score (red); "
             f"detector trained on the digits {normal_digits}")
fig.tight_layout()

# %%
# A planted value in a table
# --------------------------
# On tabular data the same call names columns: fitted on a DataFrame, the
# detector returns a DataFrame with its columns. Here one value of a
# held-out breast cancer row is set to twice its training maximum; the bar
# chart shows the ten largest contributions of that row.
cancer = load_breast_cancer(as_frame=True).data
train, held_out = cancer.iloc[:400], cancer.iloc[400:]
table_detector = AutoencoderOutlierDetector(random_state=0).fit(train)
row = held_out.iloc[[0]].copy()
row["worst texture"] = 2 * train["worst texture"].max()
table_contributions = table_detector.explain(row)
print("largest contribution:", table_contributions.iloc[0].idxmax())

# Over every held-out row, each with one randomly chosen column moved a
# whole training range beyond its maximum, how often does that column
# rank first?
rng = np.random.RandomState(0)
low, high = train.min().to_numpy(), train.max().to_numpy()
moved = rng.randint(cancer.shape[1], size=len(held_out))
values = held_out.to_numpy().copy()
values[np.arange(len(values)), moved] = high[moved] + (high[moved] - low[moved])
planted = pd.DataFrame(values, columns=held_out.columns, index=held_out.index)
ranks_first = table_detector.explain(planted).to_numpy().argmax(axis=1) == moved
print(f"the moved column ranks first for {ranks_first.mean():.0%} of "
      f"{len(planted)} rows")

ax = plot_explanation(table_contributions, n_features=10,
                      title="A breast cancer row,\n'worst texture' planted")
ax.figure.tight_layout()
