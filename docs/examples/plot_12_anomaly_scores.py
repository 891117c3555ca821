"""
Anomaly scores with ``score_samples``
=====================================

An autoencoder trained on normal data reconstructs normal rows well and
rows unlike them badly, so minus the reconstruction error is a normality
score: every skae autoencoder returns it per row from ``score_samples``
(higher is more normal, as for scikit-learn's outlier detectors).
:class:`~skae.AutoencoderOutlierDetector` wraps that score in
scikit-learn's outlier-detector API (``predict`` gives +1 / -1,
``decision_function``, a threshold ``offset_`` set by ``contamination``).

Here the normal data are the 8x8 digits 0 to 7; the digits 8 and 9, never
seen in training, are the anomalies.
"""

# %%
# Normal training data, mixed test data
# -------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split

from skae import Autoencoder, AutoencoderOutlierDetector
from skae.plotting import plot_image_rows

X, y = load_digits(return_X_y=True)
X = X / 16
normal = y < 8
X_normal_train, X_normal_test = train_test_split(X[normal], test_size=300, random_state=0)
X_test = np.vstack([X_normal_test, X[~normal]])
is_anomaly = np.r_[np.zeros(len(X_normal_test), bool), np.ones((~normal).sum(), bool)]
print(f"training: {len(X_normal_train)} normal digits; test: {len(X_normal_test)} normal, "
      f"{is_anomaly.sum()} anomalies (8s and 9s)")

# %%
# Fit the detector
# ----------------
# An autoencoder 64-64-12 learns the normal digits; ``contamination=0.05``
# puts the threshold at the 5th percentile of the training scores.
detector = AutoencoderOutlierDetector(
    Autoencoder(n_components=12, hidden_layer_sizes=(64,), output_activation="sigmoid",
                learning_rate=0.01, learning_rate_schedule="cosine", max_epochs=40),
    contamination=0.05, random_state=0,
).fit(X_normal_train)
scores = detector.score_samples(X_test)
predicted_anomaly = detector.predict(X_test) == -1

# The detector's score is its autoencoder's own score_samples.
assert np.allclose(scores, detector.autoencoder_.score_samples(X_test))

forest = IsolationForest(random_state=0).fit(X_normal_train)
auc = {"autoencoder": roc_auc_score(is_anomaly, -scores),
       "isolation forest": roc_auc_score(is_anomaly, -forest.score_samples(X_test))}
print(f"ROC AUC: autoencoder {auc['autoencoder']:.3f}, "
      f"isolation forest {auc['isolation forest']:.3f}")
print(f"flagged at the threshold: {predicted_anomaly[is_anomaly].mean():.0%} of the "
      f"anomalies, {predicted_anomaly[~is_anomaly].mean():.0%} of the normal test digits")

# %%
# The scores and the threshold
# ----------------------------
# Left, the scores of the normal test digits and of the anomalies, with the
# detector's threshold ``offset_``; right, the ROC curves of the
# autoencoder's score and of an :class:`~sklearn.ensemble.IsolationForest`
# fitted to the same training digits.
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
bins = np.linspace(scores.min(), scores.max(), 40)
axes[0].hist(scores[~is_anomaly], bins=bins, alpha=0.6, label="normal (digits 0-7)")
axes[0].hist(scores[is_anomaly], bins=bins, alpha=0.6, label="anomalies (digits 8, 9)")
axes[0].axvline(detector.offset_, color="k", linestyle="--",
                label="threshold (contamination 0.05)")
axes[0].set_xlabel("score_samples: minus the reconstruction MSE")
axes[0].set_ylabel("test digits")
axes[0].set_title("Anomaly scores on held-out digits")
axes[0].legend(fontsize="small", loc="upper left")
for name, score in [("autoencoder", scores), ("isolation forest", forest.score_samples(X_test))]:
    false_positive, true_positive, _ = roc_curve(is_anomaly, -score)
    axes[1].plot(false_positive, true_positive, label=f"{name} (AUC {auc[name]:.3f})")
axes[1].plot([0, 1], [0, 1], color="grey", linestyle=":")
axes[1].set_xlabel("false positive rate (normal digits flagged)")
axes[1].set_ylabel("true positive rate (8s and 9s flagged)")
axes[1].set_title("ROC curves")
axes[1].legend(loc="lower right")
fig.suptitle("Outlier detection by an autoencoder 64-64-12 on the 8x8 digits: "
             "trained on 0-7, tested with 8s and 9s")
fig.tight_layout()

# %%
# The most and the least normal test digits
# -----------------------------------------
# The ten test digits with the highest scores, and the ten with the lowest,
# each above its reconstruction.
order = np.argsort(scores)
autoencoder = detector.autoencoder_
rows, labels = [], []
for name, chosen in [("most normal", order[::-1][:10]), ("least normal", order[:10])]:
    rows += [X_test[chosen], autoencoder.inverse_transform(autoencoder.transform(X_test[chosen]))]
    labels += [f"{name}", "reconstructed"]
fig, axes = plot_image_rows(rows, (8, 8), labels,
                            title="Highest and lowest scores (red: an 8 or a 9)")
for row, chosen in [(0, order[::-1][:10]), (2, order[:10])]:
    for ax, index in zip(axes[row], chosen):
        if is_anomaly[index]:
            for spine in ax.spines.values():
                spine.set_color("red")
                spine.set_linewidth(2)
fig.subplots_adjust(left=0.14, top=0.9)
