"""Anomaly detection: one digit class held out of training, found again among the test rows.

The detectors train on the training rows of every class but ``ANOMALY_CLASS``
(on the MNIST subset: the 0s, 1s and 6s) and score the test rows; the test
rows of ``ANOMALY_CLASS`` (the 9s) are the anomalies, and ROC AUC measures
how well each detector's scores rank them first. skae's detector runs with
its defaults; pyod's AutoEncoder and encdr's ENCDR (their defaults) when
they are installed (``make demo`` installs both).
"""

import logging
import time
import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from skae import AutoencoderOutlierDetector

ANOMALY_CLASS = 9
PCA_COMPONENTS = 16


def task(data):
    """Inlier training rows, test rows and the test rows' anomaly mask."""
    inliers = data.X_train[data.y_train != ANOMALY_CLASS]
    return inliers, data.X_test, data.y_test == ANOMALY_CLASS


def _skae_detector(X, seed):
    return AutoencoderOutlierDetector(random_state=seed).fit(X)


def _pca(X, seed):
    # PCA's score_samples: the log-likelihood under its probabilistic model.
    return PCA(PCA_COMPONENTS, random_state=seed).fit(X)


def _isolation_forest(X, seed):
    return IsolationForest(random_state=seed).fit(X)


class _PyodScores:
    """pyod scores outliers high; negate so that, as in sklearn, high is normal."""

    def __init__(self, detector):
        self.detector = detector

    def score_samples(self, X):
        return -self.detector.decision_function(X)


def _pyod_autoencoder(X, seed):
    from pyod.models.auto_encoder import AutoEncoder

    return _PyodScores(AutoEncoder(random_state=seed, verbose=0).fit(X))


class _ReconstructionScores:
    """Minus the per-row squared error of a model whose ``predict`` reconstructs X."""

    def __init__(self, model):
        self.model = model

    def score_samples(self, X):
        return -((self.model.predict(X) - X) ** 2).mean(axis=1)


def _encdr(X, seed):
    from encdr import ENCDR

    # Lightning reports every fit's seed, devices and tips at INFO level.
    for logger in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    quiet = dict(enable_progress_bar=False, enable_model_summary=False)
    return _ReconstructionScores(ENCDR(random_state=seed, trainer_kwargs=quiet).fit(X))


# Peers the report compares against when they are installed: (name, fit, module).
_PEERS = [
    ("pyod AutoEncoder (defaults)", _pyod_autoencoder, "pyod"),
    ("encdr ENCDR (defaults)", _encdr, "encdr"),
]


def contenders():
    """(name, fit function) pairs, and a note naming the peers not installed."""
    import importlib.util

    found = [
        ("skae AutoencoderOutlierDetector (defaults)", _skae_detector),
        (f"PCA({PCA_COMPONENTS}).score_samples", _pca),
        ("IsolationForest (defaults)", _isolation_forest),
    ]
    missing = []
    for name, fit, module in _PEERS:
        if importlib.util.find_spec(module) is None:
            missing.append(module)
        else:
            found.append((name, fit))
    note = (f"not installed, so not compared: {', '.join(missing)} (`make demo` installs "
            "them)") if missing else ""
    return found, note


def compare(data, seeds=(0, 1, 2)):
    """ROC AUC of each contender, mean and spread over ``seeds``; and skae's test scores."""
    X_inliers, X_test, is_anomaly = task(data)
    found, note = contenders()
    rows, skae_scores = [], None
    for name, fit in found:
        aucs, seconds = [], []
        for seed in seeds:
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = fit(X_inliers, seed)
            scores = model.score_samples(X_test)
            seconds.append(time.perf_counter() - started)
            # Anomalies score low, so minus the score ranks them first.
            aucs.append(roc_auc_score(is_anomaly, -scores))
            if fit is _skae_detector and seed == seeds[0]:
                skae_scores = scores
        rows.append({
            "detector": name,
            "ROC AUC (mean)": float(np.mean(aucs)),
            "min": float(np.min(aucs)),
            "max": float(np.max(aucs)),
            "fit + score (s)": float(np.median(seconds)),
        })
    return rows, skae_scores, note


def plot_extremes(X_test, scores, image_shape, path, n=8, title=None):
    """The ``n`` most and least anomalous test images by skae's detector."""
    import matplotlib.pyplot as plt

    order = np.argsort(scores)
    picks = [("most anomalous", order[:n]), ("least anomalous", order[::-1][:n])]
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 3))
    for row, (label, indices) in enumerate(picks):
        for col, index in enumerate(indices):
            ax = axes[row, col]
            ax.imshow(X_test[index].reshape(image_shape), cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
