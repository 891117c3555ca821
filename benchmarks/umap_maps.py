"""The report's section "UMAP maps": ParametricUMAP on raw rows, PCA and autoencoder codes.

Beside the t-SNE section: skae's ParametricUMAP fitted on the training rows
(raw, through PCA(8), through an autoencoder with 8 codes), the held-out
rows placed on each map; the comparison with umap-learn of
``benchmarks/umap.py`` (:func:`benchmarks.umap.compare`) on the report's
data and, unless ``--quick``, the MNIST subset; a figure of the maps and one
of a grid over the map decoded by a ParametricUMAP with a decoder
(``reconstruction_weight=1``). Everything runs on one thread.
"""

import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from . import data as datasets
from ._common import log, markdown_table
from .embeddings import _code_autoencoder
from .umap import COLUMNS, TRANSFORM_ROWS, compare, measure, one_thread

N_CODES = 8


def code_maps(data, *, random_state=0):
    """ParametricUMAP behind PCA(8) and behind an autoencoder(8): rows and maps.

    Trustworthiness is against the raw rows; fit and 10k-transform times
    include the PCA or the autoencoder.
    """
    from skae import ParametricUMAP

    pipelines = {
        f"PCA({N_CODES}) + ParametricUMAP": make_pipeline(
            PCA(N_CODES, random_state=random_state),
            ParametricUMAP(random_state=random_state, device="cpu")),
        f"Autoencoder({N_CODES}) + ParametricUMAP": make_pipeline(
            _code_autoencoder(random_state),
            ParametricUMAP(random_state=random_state, device="cpu")),
    }
    rows, maps = [], {}
    for name, pipeline in pipelines.items():
        log(f"  {name}")
        rows.append(measure(name, lambda X: pipeline.fit(X)[-1].embedding_, pipeline.transform,
                            data.X_train, data.y_train, data.X_test, data.y_test, maps=maps))
    return rows, maps


def plot_maps(maps, y_train, y_test, path, title=None):
    """Each map of the training rows, the held-out rows on it as black-edged larger markers."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    n_columns = 2 if len(maps) == 4 else len(maps)
    n_rows = -(-len(maps) // n_columns)
    fig, axes = plt.subplots(n_rows, n_columns, figsize=(5.2 * n_columns, 5 * n_rows),
                             squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (name, (train, test)) in zip(axes.ravel(), maps.items()):
        ax.scatter(train[:, 0], train[:, 1], c=colours(y_train % 10), s=3, alpha=0.5,
                   linewidths=0)
        ax.scatter(test[:, 0], test[:, 1], c=colours(y_test % 10), s=14,
                   edgecolors="black", linewidths=0.4)
        ax.set_title(name, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(maps):]:
        ax.axis("off")
    classes = np.unique(np.concatenate([y_train, y_test]))
    handles = [Line2D([], [], marker="o", linestyle="", color=colours(label % 10),
                      label=str(label)) for label in classes]
    fig.legend(handles=handles, title="class", loc="center right")
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.93, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def decoded_grid(model, image_shape, steps):
    """``(grid points, mosaic)``: a steps x steps grid over the map, decoded, as one image.

    The grid spans the 1st to 99th percentile of the training map on each
    axis; the mosaic's top row is the grid's highest row, and a blank pixel
    separates the images.
    """
    low, high = np.percentile(model.embedding_, [1, 99], axis=0)
    u, v = np.meshgrid(np.linspace(low[0], high[0], steps), np.linspace(high[1], low[1], steps))
    points = np.c_[u.ravel(), v.ravel()]
    images = np.clip(model.inverse_transform(points), 0, 1).reshape(steps, steps, *image_shape)
    height, width = image_shape
    mosaic = np.zeros((steps * (height + 1) - 1, steps * (width + 1) - 1))
    for i in range(steps):
        for j in range(steps):
            mosaic[i * (height + 1):i * (height + 1) + height,
                   j * (width + 1):j * (width + 1) + width] = images[i, j]
    return points, mosaic


def plot_decoded_grid(model, y_train, image_shape, path, title=None):
    import matplotlib.pyplot as plt

    steps = 12 if max(image_shape) <= 16 else 10
    points, mosaic = decoded_grid(model, image_shape, steps)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6.2))
    colours = plt.get_cmap("tab10")
    embedding = model.embedding_
    left.scatter(embedding[:, 0], embedding[:, 1], c=colours(y_train % 10), s=4, alpha=0.5,
                 linewidths=0)
    left.scatter(points[:, 0], points[:, 1], marker="+", c="black", s=25, linewidths=0.8)
    for label in np.unique(y_train):
        centre = np.median(embedding[y_train == label], axis=0)
        left.annotate(str(label), centre, fontsize=13, weight="bold", color=colours(label % 10),
                      ha="center", va="center",
                      bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.8,
                            "lw": 0})
    left.set_title(f"training map (colour: class), the {steps} x {steps} grid (+)")
    left.set_xticks([])
    left.set_yticks([])
    right.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    right.set_title("the grid decoded by inverse_transform (top row: the grid's top)")
    right.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def section(data, args):
    """The report's lines; figures written to ``args.out``."""
    runs = [data]
    if (getattr(args, "umap_mnist", False) and datasets.MNIST_SUBSET.exists()
            and data.X_train.shape[1] != 784):
        runs.append(datasets.load("mnist-subset"))
    with one_thread():
        rows, details = compare([(run.name, run.X_train, run.y_train, run.X_test, run.y_test)
                                 for run in runs])
        code_rows, code_map = code_maps(data)
    maps = {f"{name} on raw rows": arrays for name, arrays in details[data.name]["maps"].items()
            if name != "skae ParametricUMAP, decoder"}
    maps.update({f"skae ParametricUMAP on {name.split(' + ')[0]} codes": arrays
                 for name, arrays in code_map.items()})
    plot_maps(maps, data.y_train, data.y_test, args.out / "umap_maps.png",
              title=f"{data.name}: maps of the training rows, held-out rows placed on them "
                    "(black-edged)")
    map_rows = [
        {"input": "raw", **row} for row in rows
        if row["data"] == data.name and row["method"] in ("umap-learn UMAP",
                                                         "skae ParametricUMAP")
    ] + [{"input": f"{row['method'].split(' + ')[0]} codes", **row,
          "method": "skae ParametricUMAP"} for row in code_rows]
    map_columns = ["input", "method", "fit (s)", "train trust", "held-out trust",
                   "held-out 5-NN", "10k transform (s)"]
    lines = [
        "",
        "## 2b. UMAP maps",
        "",
        f"skae's ParametricUMAP (defaults, `random_state=0`, CPU) fitted on the {data.name} "
        f"training rows: on the raw rows, on PCA({N_CODES}) codes and on the codes of an "
        f"autoencoder ({N_CODES} codes, one hidden layer of 128, 50 epochs), each in a "
        "Pipeline; the held-out rows are placed on each map. umap-learn's `UMAP` on the raw "
        "rows beside them. Trustworthiness (15 neighbours) is against the raw rows, of the "
        "training map ('train trust') and of the held-out rows' map among themselves "
        "('held-out trust'); 'held-out 5-NN' labels each placed row by a 5-NN vote among "
        "the training map's points. 'fit' includes the PCA or autoencoder fit, "
        f"'10k transform' is the time to map {TRANSFORM_ROWS:,} rows (the held-out rows "
        "tiled) through the whole Pipeline. Everything in this section runs on one thread "
        "(torch and numba), umap-learn warmed up first (numba's compilation not counted).",
        "",
        markdown_table(map_rows, map_columns),
        "",
        "![UMAP maps](umap_maps.png)",
        "",
        "### ParametricUMAP against umap-learn",
        "",
        "The comparison of `python -m benchmarks.umap`, on "
        + " and ".join(f"{run.name} ({len(run.X_train):,} training / {len(run.X_test):,} "
                       "held-out rows)" for run in runs)
        + ("" if len(runs) > 1 else " (`python -m benchmarks --umap-mnist` adds the MNIST "
                                    "subset, about 1.5 minutes more on 2 cores)")
        + ": umap-learn `UMAP(random_state=0)`, ParametricUMAP at defaults, and with a "
        "decoder (`reconstruction_weight=1`); 'held-out inverse MSE' is the mean squared "
        "error of `inverse_transform` of the placed held-out rows against those rows, "
        "beside PCA(2)'s reconstruction. The issue's targets: train trust at least "
        "umap-learn's minus 0.01, held-out trust at least umap-learn's, held-out 5-NN at "
        "least umap-learn's minus 0.005, 10k transform at least 50x faster, inverse MSE at "
        "most PCA(2)'s, fit at most 2x umap-learn's.",
        "",
        markdown_table(rows, COLUMNS),
    ]
    for number, run in enumerate(runs):
        shape = run.image_shape
        if min(shape) < 2:
            lines += ["", f"{run.name}: rows are not images; no decoded grid."]
            continue
        figure = args.out / f"umap_decoded_grid_{number}.png"
        plot_decoded_grid(details[run.name]["decoder"], run.y_train, shape, figure,
                          title=f"{run.name}: ParametricUMAP with a decoder "
                                "(reconstruction_weight=1), a grid over its map decoded")
        lines += ["", f"A grid over the map of {run.name}, decoded:", "",
                  f"![decoded grid, {run.name}]({figure.name})"]
    return lines
