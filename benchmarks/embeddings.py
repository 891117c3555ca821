"""2-D maps: t-SNE on raw data, on PCA codes and on autoencoder codes, and maps of new points."""

import importlib.util
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from skae import Autoencoder


def maps(X, y, n_components=8, *, random_state=0):
    """The three maps of X with trustworthiness, 5-NN accuracy and wall time."""
    tsne = TSNE(n_components=2, init="pca", random_state=random_state)
    pipelines = {
        "t-SNE": tsne,
        f"PCA({n_components}) + t-SNE": make_pipeline(PCA(n_components), tsne),
        f"Autoencoder({n_components}) + t-SNE": make_pipeline(
            Autoencoder(n_components, hidden_layer_sizes=(128,), learning_rate=3e-3,
                        random_state=random_state, device="cpu"),
            tsne,
        ),
    }
    results = []
    for name, pipeline in pipelines.items():
        start = time.perf_counter()
        embedding = pipeline.fit_transform(X)
        seconds = time.perf_counter() - start
        knn = cross_val_score(KNeighborsClassifier(5), embedding, y, cv=5).mean()
        results.append(
            {
                "map": name,
                "trustworthiness": float(trustworthiness(X, embedding, n_neighbors=5)),
                "5-NN accuracy (2-D)": float(knn),
                "wall time (s)": seconds,
                "embedding": embedding,
            }
        )
    return results


def plot(results, y, path, title=None):
    import matplotlib.pyplot as plt

    from skae.plotting import plot_embedding

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 5))
    for ax, result in zip(np.atleast_1d(axes), results):
        plot_embedding(result["embedding"], y, ax=ax,
                       title=f"{result['map']}\ntrustworthiness {result['trustworthiness']:.4f}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------
# Maps of new points: sklearn TSNE, openTSNE and ParametricTSNE on a split.

# New rows placed on a fitted map to time "placing new points".
PLACED_ROWS = 10_000


def _code_autoencoder(random_state):
    return Autoencoder(8, hidden_layer_sizes=(128,), learning_rate=3e-3, max_epochs=50,
                       learning_rate_schedule="cosine", random_state=random_state, device="cpu")


class _SklearnTSNE:
    name = "sklearn TSNE"

    def __init__(self, random_state, n_jobs):
        self.model = TSNE(n_components=2, init="pca", random_state=random_state, n_jobs=n_jobs)

    def fit(self, X):
        self.embedding = self.model.fit_transform(X)
        return self.embedding

    transform = None  # TSNE maps its training rows only


class _OpenTSNE:
    name = "openTSNE"

    def __init__(self, random_state, n_jobs):
        import openTSNE

        self.model = openTSNE.TSNE(random_state=random_state, n_jobs=n_jobs)

    def fit(self, X):
        self.embedding = self.model.fit(X)
        return np.asarray(self.embedding)

    def transform(self, X):
        return np.asarray(self.embedding.transform(X))


class _ParametricTSNE:
    name = "ParametricTSNE"

    def __init__(self, random_state, n_jobs):
        from skae import ParametricTSNE

        self.model = ParametricTSNE(random_state=random_state, device="cpu", n_jobs=n_jobs)

    def fit(self, X):
        return self.model.fit_transform(X)

    def transform(self, X):
        return self.model.transform(X)


def _contenders():
    # openTSNE is a benchmark-only dependency; without it the others run.
    if importlib.util.find_spec("openTSNE") is None:
        return [_SklearnTSNE, _ParametricTSNE], "openTSNE is not installed"
    return [_SklearnTSNE, _OpenTSNE, _ParametricTSNE], ""


def _seconds(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def _place_seconds(transform, rows):
    """Median time of ``transform(rows)`` after a warm-up call; fast calls are repeated.

    Up to 7 timed calls, about 1 s in all. For every contender alike, an
    untimed first call takes one-time costs (allocations, thread pools
    waking up) out of the figure, and a pause lets the OpenMP threads of the
    scoring just before (scikit-learn's) stop spinning: measured here, they
    slow a 20 ms forward pass that follows at once by about 1.7x.
    """
    transform(rows)
    time.sleep(0.5)
    times = []
    while not times or (sum(times) < 1.0 and len(times) < 7):
        times.append(_seconds(transform, rows)[1])
    return float(np.median(times))


def _held_out_scores(train_map, test_map, X_test, data):
    """Held-out trustworthiness and 5-NN accuracy (labels from the training map)."""
    knn = KNeighborsClassifier(5).fit(train_map, data.y_train)
    return (float(trustworthiness(X_test, test_map, n_neighbors=5)),
            float(knn.score(test_map, data.y_test)))


def _spread(values):
    return f"{np.mean(values):.4f} ({min(values):.4f}-{max(values):.4f})"


def new_point_maps(data, *, random_state=0, n_jobs=2, more_seeds=()):
    """Each t-SNE on raw data and on autoencoder codes: maps of training and held-out rows.

    Returns (rows, spread, maps, note, autoencoder_seconds): one table row
    per (input, method), from ``random_state``; the held-out scores of the
    methods that place new points over ``random_state`` and ``more_seeds``
    (one row per (input, method), empty without ``more_seeds``); the maps
    for :func:`plot_new_points`; why a contender is missing ("" if none);
    and the autoencoder's fit time.
    """
    contenders, note = _contenders()
    rng = np.random.RandomState(random_state)
    # Sampled from the held-out rows: the time to place them is what counts.
    placed = rng.randint(len(data.X_test), size=PLACED_ROWS)
    autoencoder, ae_seconds = _seconds(_code_autoencoder(random_state).fit, data.X_train)
    inputs = {
        "raw": (data.X_train, data.X_test, 0.0),
        "autoencoder codes": (autoencoder.transform(data.X_train),
                              autoencoder.transform(data.X_test), ae_seconds),
    }
    rows, maps, seeded = [], [], []
    for input_name, (X_train, X_test, extra_seconds) in inputs.items():
        for contender_class in contenders:
            contender = contender_class(random_state, n_jobs)
            train_map, fit_seconds = _seconds(contender.fit, X_train)
            row = {
                "input": input_name,
                "method": contender.name,
                "trustworthiness (train)": float(trustworthiness(X_train, train_map, n_neighbors=5)),
                "trustworthiness (held-out)": "n/a",
                "5-NN accuracy (held-out)": "n/a",
                "fit (s)": fit_seconds,
                f"place {PLACED_ROWS:,} (s)": "n/a",
            }
            test_map = None
            if contender.transform is not None:
                test_map = contender.transform(X_test)
                scores = [_held_out_scores(train_map, test_map, X_test, data)]
                row["trustworthiness (held-out)"], row["5-NN accuracy (held-out)"] = scores[0]
                # float32 rows for every contender: the dtype a network is
                # trained in (openTSNE computes in float64 whatever it gets).
                new_rows = X_test[placed].astype(np.float32)
                row[f"place {PLACED_ROWS:,} (s)"] = _place_seconds(contender.transform, new_rows)
                if more_seeds:
                    seeded.append((input_name, contender_class, X_train, X_test, scores))
            rows.append(row)
            maps.append({"title": f"{contender.name} on {input_name}", "train": train_map,
                         "test": test_map})
    # The other seeds after every timed call, which they would otherwise disturb.
    spread = []
    for input_name, contender_class, X_train, X_test, scores in seeded:
        for seed in more_seeds:
            other = contender_class(seed, n_jobs)
            scores.append(_held_out_scores(other.fit(X_train), other.transform(X_test),
                                           X_test, data))
        trust, accuracy = zip(*scores)
        spread.append({
            "input": input_name,
            "method": contender_class.name,
            "trustworthiness (held-out)": _spread(trust),
            "5-NN accuracy (held-out)": _spread(accuracy),
        })
    return rows, spread, maps, note, ae_seconds


def plot_new_points(maps, y_train, y_test, path, title=None):
    """The maps side by side; held-out points drawn as black-edged larger markers."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    n_columns = len(maps) // 2
    fig, axes = plt.subplots(2, n_columns, figsize=(4.5 * n_columns, 9), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, result in zip(axes.ravel(), maps):
        train = result["train"]
        ax.scatter(train[:, 0], train[:, 1], c=colours(y_train % 10), s=3, alpha=0.5,
                   linewidths=0)
        if result["test"] is not None:
            test = result["test"]
            ax.scatter(test[:, 0], test[:, 1], c=colours(y_test % 10), s=14,
                       edgecolors="black", linewidths=0.4)
            ax.set_title(f"{result['title']}\nheld-out points: black-edged", fontsize=9)
        else:
            ax.set_title(f"{result['title']}\n(no transform: training rows only)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    classes = np.unique(np.concatenate([y_train, y_test]))
    handles = [Line2D([], [], marker="o", linestyle="", color=colours(label % 10),
                      label=str(label)) for label in classes]
    fig.legend(handles=handles, title="class", loc="center right")
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.95, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)
