"""Unsupervised anomaly detection on tabular data: a suite of tasks, every detector at its defaults.

The protocol of the anomaly-benchmark literature: min-max scaling fitted on
all rows, each detector fitted on all rows without their labels, the same
rows scored; ROC AUC and average precision of the anomaly score, over
seeds. Every task is built here from data that ships with scikit-learn or
that this module generates, so nothing is downloaded:

- *real* tasks: a minority class of a scikit-learn dataset, subsampled, is
  the anomalies (as ODDS builds its sets), the other classes the normal rows;
- *synthetic anomalies* on real normal rows, the four kinds ADBench
  describes: **local** (drawn from a Gaussian mixture fitted to the normal
  rows with its covariances scaled by 5), **global** (uniform over the
  normal rows' range widened by 10 % each side), **dependency** (each
  feature drawn independently from its normal marginal, so only the
  correlations between features are wrong) and **clustered** (a tight group,
  a tenth of a mixture component's spread, placed 4 standard deviations from
  the normal rows' mean along a random direction);
- a *fully synthetic* large, narrow table (a correlated Gaussian mixture in
  9 dimensions, 20,000 rows) with local anomalies, and the MNIST subset's
  nines among its other digits when the file is present.

The tasks are fixed (their own seed); the detectors' seeds vary.
"""

import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderOutlierDetector

from . import data as datasets

# ADBench generates 5 % anomalies relative to the normal rows.
ANOMALY_SHARE = 0.05
TASK_SEED = 0


@dataclass
class Task:
    name: str
    kind: str  # "real", "synthetic anomalies" or "synthetic"
    X: np.ndarray
    is_anomaly: np.ndarray


def _rare_class(name, X, y, anomaly_classes, n_anomalies, rng):
    anomalous = np.isin(y, anomaly_classes)
    picked = rng.choice(np.flatnonzero(anomalous), n_anomalies, replace=False)
    X = np.vstack([X[~anomalous], X[picked]])
    return Task(name, "real", X, np.r_[np.zeros((~anomalous).sum(), bool),
                                       np.ones(n_anomalies, bool)])


def _mixture(normal, rng):
    # Fitted on standardised rows, so that one scale suits every dataset.
    mean, std = normal.mean(axis=0), normal.std(axis=0) + 1e-12
    gmm = GaussianMixture(n_components=min(3, len(normal) // 50 or 1), covariance_type="full",
                          reg_covar=1e-3, random_state=rng.randint(2**31 - 1))
    return gmm.fit((normal - mean) / std), mean, std


def _draw(gmm, n, rng, covariance_scale=1.0):
    counts = rng.multinomial(n, gmm.weights_)
    return np.vstack([
        rng.multivariate_normal(gmm.means_[k], covariance_scale * gmm.covariances_[k], count)
        for k, count in enumerate(counts) if count
    ])


def planted(name, normal, kind, rng):
    """``normal`` rows plus 5 % anomalies of ``kind`` (local, global, dependency, clustered)."""
    n = max(5, round(ANOMALY_SHARE * len(normal)))
    gmm, mean, std = _mixture(normal, rng)
    if kind == "local":
        anomalies = _draw(gmm, n, rng, covariance_scale=5.0) * std + mean
    elif kind == "global":
        low, high = normal.min(axis=0), normal.max(axis=0)
        margin = 0.1 * (high - low)
        anomalies = rng.uniform(low - margin, high + margin, size=(n, normal.shape[1]))
    elif kind == "dependency":
        anomalies = np.column_stack([rng.choice(column, n) for column in normal.T])
    elif kind == "clustered":
        direction = rng.normal(size=normal.shape[1])
        direction /= np.linalg.norm(direction)
        component = rng.randint(len(gmm.weights_))
        spread = 0.1 * gmm.covariances_[component]
        centre = 4.0 * direction
        anomalies = rng.multivariate_normal(centre, spread, n) * std + mean
    else:
        raise ValueError(kind)
    X = np.vstack([normal, anomalies])
    return Task(f"{name}, {kind}", "synthetic anomalies", X,
                np.r_[np.zeros(len(normal), bool), np.ones(n, bool)])


def _gaussian_mixture_table(rng, n_rows=20_000, n_features=9, n_clusters=4):
    centres = rng.normal(scale=2.0, size=(n_clusters, n_features))
    mixing = [rng.normal(size=(n_features, n_features)) / np.sqrt(n_features)
              for _ in range(n_clusters)]
    labels = rng.randint(n_clusters, size=n_rows)
    noise = rng.normal(size=(n_rows, n_features))
    return np.stack([centres[k] + noise[i] @ mixing[k] for i, k in enumerate(labels)])


def tasks(mnist=True):
    """The suite: a list of :class:`Task`, raw (unscaled) features."""
    rng = np.random.RandomState(TASK_SEED)
    suite = []
    cancer = load_breast_cancer()
    # Malignant (0) rows are the anomalies, 21 of them as in ODDS's wbc.
    suite.append(_rare_class("breast cancer, malignant", cancer.data, cancer.target, [0], 21,
                             rng))
    wine = load_wine()
    suite.append(_rare_class("wine, class 0", wine.data, wine.target, [0], 10, rng))
    digits = load_digits()
    suite.append(_rare_class("digits, zeros", digits.data, digits.target, [0], 50, rng))
    benign = cancer.data[cancer.target == 1]
    wine_normal = wine.data[wine.target != 0]
    diabetes = load_diabetes().data
    for base, normal in [("breast cancer", benign), ("wine", wine_normal),
                         ("diabetes", diabetes)]:
        for kind in ("local", "global", "dependency", "clustered"):
            suite.append(planted(base, normal, kind, rng))
    large = _gaussian_mixture_table(rng)
    task = planted("Gaussian mixture 20,000 x 9", large, "local", rng)
    task.kind = "synthetic"
    suite.append(task)
    if mnist and datasets.MNIST_SUBSET.exists():
        subset = np.load(datasets.MNIST_SUBSET)
        X, y = subset["X_train"] / 255.0, subset["y_train"]
        # The digits 0, 1 and 6, with 5 % nines among them.
        suite.append(_rare_class("MNIST subset, nines", X, y, [9],
                                 round(ANOMALY_SHARE * (y != 9).sum()), rng))
    return suite


# ---------------------------------------------------------------- detectors
# Each takes the scaled rows and a seed and returns anomaly scores of the same
# rows, higher for more anomalous.
def _skae(X, seed):
    return -AutoencoderOutlierDetector(random_state=seed).fit(X).score_samples(X)


def _isolation_forest(X, seed):
    return -IsolationForest(random_state=seed).fit(X).score_samples(X)


def _lof(X, seed):
    # LOF scores the rows it was fitted on (novelty=False): the unsupervised protocol.
    return -LocalOutlierFactor().fit(X).negative_outlier_factor_


def _pca(X, seed):
    # PCA() keeps every component, reconstructing every row exactly; 90 % of
    # the variance is the usual choice for a reconstruction-error detector.
    pca = PCA(n_components=0.9, random_state=seed).fit(X)
    return ((pca.inverse_transform(pca.transform(X)) - X) ** 2).sum(axis=1)


def _pyod_autoencoder(X, seed):
    from pyod.models.auto_encoder import AutoEncoder

    return AutoEncoder(random_state=seed, verbose=0).fit(X).decision_function(X)


def _pyod_ecod(X, seed):
    from pyod.models.ecod import ECOD

    return ECOD().fit(X).decision_function(X)


DETECTORS = [
    ("skae AutoencoderOutlierDetector", _skae, None),
    ("IsolationForest", _isolation_forest, None),
    ("pyod AutoEncoder", _pyod_autoencoder, "pyod"),
    ("pyod ECOD", _pyod_ecod, "pyod"),
    ("PCA reconstruction error", _pca, None),
    ("LocalOutlierFactor", _lof, None),
]


def available_detectors():
    import importlib.util

    found, missing = [], set()
    for name, score, module in DETECTORS:
        if module is not None and importlib.util.find_spec(module) is None:
            missing.add(module)
        else:
            found.append((name, score))
    return found, sorted(missing)


def run(suite, seeds=(0, 1, 2), detectors=None, log=None):
    """Per task and detector: mean ROC AUC, mean average precision, median seconds.

    torch and the BLAS libraries compute on one thread for every detector,
    and the detectors take turns seed by seed, so that a busy machine slows
    them alike.
    """
    import torch
    from threadpoolctl import threadpool_limits

    detectors = detectors or available_detectors()[0]
    results = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            for task in suite:
                X = MinMaxScaler().fit_transform(task.X)
                measured = {name: {"auc": [], "ap": [], "seconds": []} for name, _ in detectors}
                for seed in seeds:
                    for name, score in detectors:
                        started = time.perf_counter()
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            scores = score(X, seed)
                        measured[name]["seconds"].append(time.perf_counter() - started)
                        measured[name]["auc"].append(roc_auc_score(task.is_anomaly, scores))
                        measured[name]["ap"].append(
                            average_precision_score(task.is_anomaly, scores))
                for name, _ in detectors:
                    results.append({
                        "task": task.name, "detector": name,
                        "auc": float(np.mean(measured[name]["auc"])),
                        "ap": float(np.mean(measured[name]["ap"])),
                        "seconds": float(np.median(measured[name]["seconds"])),
                    })
                if log:
                    best = max((r for r in results if r["task"] == task.name),
                               key=lambda r: r["auc"])
                    log(f"  {task.name}: best {best['detector']} {best['auc']:.3f}")
    finally:
        torch.set_num_threads(threads)
    return results


def summary(results):
    """One row per detector: mean ROC AUC, mean AP, mean rank, tasks won, total seconds."""
    tasks_ = list(dict.fromkeys(r["task"] for r in results))
    names = list(dict.fromkeys(r["detector"] for r in results))
    by = {(r["task"], r["detector"]): r for r in results}
    ranks = {name: [] for name in names}
    wins = dict.fromkeys(names, 0)
    for task in tasks_:
        aucs = np.array([by[task, name]["auc"] for name in names])
        # Rank 1 is the best; ties share the mean of their ranks.
        order = (-aucs).argsort().argsort() + 1.0
        for value in np.unique(aucs):
            tied = aucs == value
            order[tied] = order[tied].mean()
        for name, rank in zip(names, order):
            ranks[name].append(rank)
        for name in np.array(names)[aucs == aucs.max()]:
            wins[name] += 1
    rows = [{
        "detector": name,
        "mean ROC AUC": float(np.mean([by[t, name]["auc"] for t in tasks_])),
        "mean AP": float(np.mean([by[t, name]["ap"] for t in tasks_])),
        f"mean rank of {len(names)}": float(np.mean(ranks[name])),
        "tasks won": wins[name],
        "time, one pass (s)": float(sum(by[t, name]["seconds"] for t in tasks_)),
    } for name in names]
    return sorted(rows, key=lambda row: -row["mean ROC AUC"])


def per_task(results, metric="auc"):
    """One row per task, one column per detector."""
    rows = {}
    for r in results:
        rows.setdefault(r["task"], {"task": r["task"]})[r["detector"]] = r[metric]
    return list(rows.values())


def report(seeds=(0, 1, 2), log=None):
    """Markdown lines: the summary table and the per-task ROC AUC table."""
    import pandas as pd

    suite = tasks()
    detectors, missing = available_detectors()
    results = run(suite, seeds=seeds, detectors=detectors, log=log)
    lines = [
        f"{len(suite)} tasks ({', '.join(sorted({t.kind for t in suite}))}); min-max scaling "
        "fitted on all rows, each detector fitted on all rows without labels, the same rows "
        f"scored; seeds {', '.join(map(str, seeds))}; torch and BLAS on one thread for every "
        "detector; 'time, one pass' is the sum over the tasks of each task's median "
        "fit-plus-score seconds."
        + (f" Not installed, so not compared: {', '.join(missing)}." if missing else ""),
        "",
        pd.DataFrame(summary(results)).to_markdown(index=False, floatfmt=".3f"),
        "",
        "ROC AUC per task (mean over the seeds):",
        "",
        pd.DataFrame(per_task(results)).to_markdown(index=False, floatfmt=".3f"),
        "",
        "Average precision per task:",
        "",
        pd.DataFrame(per_task(results, "ap")).to_markdown(index=False, floatfmt=".3f"),
        "",
        *explanation_report(seeds),
    ]
    return lines


def auto_threshold_shares(seeds=(0, 1, 2)):
    """Share of rows ``contamination="auto"`` flags on anomaly-free data, per data set.

    The normal rows of the suite's tasks (anomalies removed; one entry per
    base data set) and 1,000 rows of a standard normal in 9 dimensions.
    """
    import torch

    clean = {}
    for task in tasks(mnist=False):
        base = task.name.rsplit(", ", 1)[0]
        if base not in clean:
            clean[base] = task.X[~task.is_anomaly]
    clean["standard normal, 1,000 x 9"] = np.random.RandomState(TASK_SEED).normal(size=(1000, 9))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = []
        for name, X in clean.items():
            X = MinMaxScaler().fit_transform(X)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                shares = [float((AutoencoderOutlierDetector(random_state=seed).fit(X).predict(X)
                                 == -1).mean()) for seed in seeds]
            rows.append({"clean data": name, "rows": len(X), "flagged (mean)": np.mean(shares),
                         "min": min(shares), "max": max(shares)})
    finally:
        torch.set_num_threads(threads)
    return rows


# ----------------------------------------------------- explanation quality
def _planted_feature_rows(train, held_out, rng, shift):
    """Held-out rows, each with one varying feature moved outside its training range.

    ``shift`` > 0 moves it ``shift`` training ranges beyond the maximum,
    < 0 that many below the minimum. Returns the rows and each row's feature.
    """
    low, high = train.min(axis=0), train.max(axis=0)
    moved = rng.choice(np.flatnonzero(high > low), len(held_out))
    rows = held_out.copy()
    span = high[moved] - low[moved]
    rows[np.arange(len(rows)), moved] = (high[moved] + shift * span if shift > 0
                                         else low[moved] + shift * span)
    return rows, moved


def _patched_digits(digits, rng, size=4):
    """28x28 digits with a ``size`` x ``size`` white patch on a blank part of each."""
    rows, patches = digits.copy(), np.zeros(digits.shape, bool)
    for row, patch in zip(rows, patches):
        image = row.reshape(28, 28)
        while True:
            top, left = rng.randint(2, 28 - 2 - size, size=2)
            if image[top:top + size, left:left + size].max() == 0:
                break
        patch.reshape(28, 28)[top:top + size, left:left + size] = True
        row[patch] = 1.0
    return rows, patches


def explanation_shares(seeds=(0, 1, 2), shifts=(1.0, 0.5, -0.5)):
    """How often ``explain`` ranks a planted feature first, per data set and shift.

    The normal rows of each of the suite's base data sets (the Gaussian
    mixture table subsampled to 4,000 rows), and the digits: three quarters
    fit the default detector, each held-out row gets one feature moved
    outside its training range (``_planted_feature_rows``), and the share of
    rows whose largest contribution is that feature is measured. With the
    MNIST subset present, also the share of the 16 top-ranked pixels that
    fall in a planted 4x4 patch (``_patched_digits``).
    """
    import torch

    clean = {}
    for task in tasks(mnist=False):
        base = task.name.rsplit(", ", 1)[0]
        if base not in clean:
            clean[base] = task.X[~task.is_anomaly][:4000]
    clean["digits (all classes)"] = load_digits().data
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        for name, X in clean.items():
            order = np.random.RandomState(TASK_SEED).permutation(len(X))
            train, held_out = X[order[:3 * len(X) // 4]], X[order[3 * len(X) // 4:]]
            shares = {shift: [] for shift in shifts}
            for seed in seeds:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    detector = AutoencoderOutlierDetector(random_state=seed).fit(train)
                for shift in shifts:
                    planted_rows, moved = _planted_feature_rows(
                        train, held_out, np.random.RandomState(seed), shift)
                    ranked_first = detector.explain(planted_rows).argmax(axis=1) == moved
                    shares[shift].append(float(ranked_first.mean()))
            rows.append({"data": name, "held-out rows": len(held_out),
                         **{f"moved {shift:+g} range: first": np.mean(shares[shift])
                            for shift in shifts},
                         "worst seed (+1 range)": min(shares[shifts[0]])})
    finally:
        torch.set_num_threads(threads)
    return rows


def patch_shares(seeds=(0, 1, 2), n_rows=200):
    """On MNIST, where ``explain`` puts a planted patch; None without the subset.

    The default detector fitted on the subset's training 0s, 1s and 6s;
    ``n_rows`` held-out ones of them each get a 4x4 white patch on a blank
    part (``_patched_digits``). Returns the mean share of the 16 top-ranked
    pixels that lie in the patch, and the share of rows whose top pixel does.
    """
    import torch

    if not datasets.MNIST_SUBSET.exists():
        return None
    subset = np.load(datasets.MNIST_SUBSET)
    train = subset["X_train"][subset["y_train"] != 9] / 255.0
    held_out = subset["X_test"][subset["y_test"] != 9][:n_rows] / 255.0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    in_top_16, top_in_patch = [], []
    try:
        for seed in seeds:
            detector = AutoencoderOutlierDetector(random_state=seed).fit(train)
            patched, patches = _patched_digits(held_out, np.random.RandomState(seed))
            contributions = detector.explain(patched)
            top = np.argsort(-contributions, axis=1)[:, :16]
            in_top_16.append(float(np.take_along_axis(patches, top, axis=1).mean()))
            top_in_patch.append(float(
                patches[np.arange(len(patched)), contributions.argmax(axis=1)].mean()))
    finally:
        torch.set_num_threads(threads)
    return {"top 16 in patch": float(np.mean(in_top_16)), "worst seed": min(in_top_16),
            "top pixel in patch": float(np.mean(top_in_patch)), "rows": len(held_out)}


def explanation_report(seeds=(0, 1, 2)):
    """Markdown lines: the explanation-quality table."""
    import pandas as pd

    lines = [
        "Explanation quality: each held-out normal row gets one feature moved outside its "
        "training range (+1: a whole training range beyond the maximum; +0.5 half a range; "
        "-0.5 half a range below the minimum); share of rows whose largest "
        "`AutoencoderOutlierDetector.explain` contribution is that feature (default detector "
        f"fitted on the other three quarters of the rows; mean over seeds "
        f"{', '.join(map(str, seeds))}).",
        "",
        pd.DataFrame(explanation_shares(seeds)).to_markdown(index=False, floatfmt=".3f"),
    ]
    patch = patch_shares(seeds)
    if patch is not None:
        lines += ["", f"MNIST 0/1/6 digits ({patch['rows']} held out) with a 4x4 white patch on a "
                  f"blank part: {patch['top 16 in patch']:.1%} of the 16 top-ranked pixels lie "
                  f"in the patch (worst seed {patch['worst seed']:.1%}); the top pixel does for "
                  f"{patch['top pixel in patch']:.1%} of the digits."]
    return lines


if __name__ == "__main__":
    import sys

    import pandas as pd

    if "--auto-threshold" in sys.argv:
        print(pd.DataFrame(auto_threshold_shares()).to_markdown(index=False, floatfmt=".4f"))
    elif "--explain" in sys.argv:
        print("\n".join(explanation_report()))
    else:
        print("\n".join(report(log=lambda message: print(message, file=sys.stderr, flush=True))))
