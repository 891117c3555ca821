"""skae's ParametricUMAP against umap-learn: ``python -m benchmarks.umap [--seeds N]``.

On digits (1,347 training rows, 450 held out, /16) and the MNIST subset
(2,000 / 800, /255), one thread each, umap-learn warmed up first (numba's
compilation not counted): trustworthiness of the training map (15
neighbours), of the held-out rows' placement among themselves, held-out 5-NN
accuracy on the training map's labels, the time to place 10,000 rows (the
held-out rows tiled) and the fit time; with ``reconstruction_weight=1`` the
held-out ``inverse_transform`` error against ``PCA(2)``'s. umap-learn is a
benchmark-only dependency (``pip install umap-learn``); without it its rows
are skipped. Prints a Markdown table.
"""

import argparse
import os
import time
import warnings

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.manifold import trustworthiness  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

from ._common import REPO_ROOT, log, markdown_table  # noqa: E402

MNIST_SUBSET = REPO_ROOT.parent / "shared" / "data" / "mnist_0169_subset.npz"
TRANSFORM_ROWS = 10_000


def datasets():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=450, random_state=0, stratify=y)
    yield "digits", X_train, y_train, X_test, y_test
    if MNIST_SUBSET.exists():
        data = np.load(MNIST_SUBSET)
        yield ("MNIST subset", data["X_train"] / 255.0, data["y_train"],
               data["X_test"] / 255.0, data["y_test"])


def measure(name, fit, transform, X_train, y_train, X_test, y_test, inverse=None):
    start = time.perf_counter()
    embedding = fit(X_train)
    fit_time = time.perf_counter() - start
    placed = transform(X_test)
    tiled = np.tile(X_test, (TRANSFORM_ROWS // len(X_test) + 1, 1))[:TRANSFORM_ROWS]
    start = time.perf_counter()
    transform(tiled)
    transform_time = time.perf_counter() - start
    row = {
        "method": name,
        "fit (s)": fit_time,
        "train trust": trustworthiness(X_train, embedding, n_neighbors=15),
        "held-out trust": trustworthiness(X_test, placed, n_neighbors=15),
        "held-out 5-NN": KNeighborsClassifier(5).fit(embedding, y_train).score(placed, y_test),
        "10k transform (s)": transform_time,
    }
    if inverse is not None:
        row["held-out inverse MSE"] = float(np.mean((inverse(placed) - X_test) ** 2))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=1, help="seeds per skae model (mean)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from skae import ParametricUMAP

    try:
        import umap
    except ImportError:
        umap = None
        log("umap-learn is not installed: its rows are skipped")
    rows = []
    for data_name, X_train, y_train, X_test, y_test in datasets():
        log(f"{data_name}: {X_train.shape}")
        if umap is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                umap.UMAP(random_state=0, n_epochs=5).fit(X_train[:300]).transform(X_test[:10])
                reference = umap.UMAP(random_state=0)
                row = measure("umap-learn UMAP", lambda X: reference.fit(X).embedding_,
                              reference.transform, X_train, y_train, X_test, y_test)
            rows.append({"data": data_name, **row})
        for label, params in [("skae ParametricUMAP", {}),
                              ("skae ParametricUMAP, decoder", {"reconstruction_weight": 1.0})]:
            results = []
            for seed in range(args.seeds):
                model = ParametricUMAP(random_state=seed, device="cpu", **params)
                results.append(measure(
                    label, lambda X: model.fit(X).embedding_, model.transform,
                    X_train, y_train, X_test, y_test,
                    inverse=model.inverse_transform if params else None))
            mean = {key: (np.mean([r[key] for r in results]) if key != "method" else label)
                    for key in results[0]}
            rows.append({"data": data_name, **mean})
        pca = PCA(2).fit(X_train)
        rows.append({"data": data_name, "method": "PCA(2)", "held-out inverse MSE": float(
            np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2))})
    columns = ["data", "method", "fit (s)", "train trust", "held-out trust", "held-out 5-NN",
               "10k transform (s)", "held-out inverse MSE"]
    rows = [{column: row.get(column, "") for column in columns} for row in rows]
    print(markdown_table(rows, columns))


if __name__ == "__main__":
    main()
