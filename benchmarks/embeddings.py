"""2-D maps: t-SNE on raw data, on PCA codes and on autoencoder codes."""

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


def plot(results, y, path):
    import matplotlib.pyplot as plt

    from skae.plotting import plot_embedding

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 5))
    for ax, result in zip(np.atleast_1d(axes), results):
        plot_embedding(result["embedding"], y, ax=ax,
                       title=f"{result['map']}\ntrustworthiness {result['trustworthiness']:.4f}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
