"""skae's ParametricUMAP against umap-learn: ``python -m benchmarks.umap [--seeds N] [--scaling]``.

On digits (1,347 training rows, 450 held out, /16) and the MNIST subset
(2,000 / 800, /255), one thread each, umap-learn warmed up first (numba's
compilation not counted): trustworthiness of the training map (15
neighbours), of the held-out rows' placement among themselves, held-out 5-NN
accuracy on the training map's labels, the time to place 10,000 rows (the
held-out rows tiled) and the fit time; with ``reconstruction_weight=1`` the
held-out ``inverse_transform`` error against ``PCA(2)``'s. umap-learn is a
benchmark-only dependency (``pip install umap-learn``); without it its rows
are skipped. Prints a Markdown table. The report's section "UMAP maps"
(``benchmarks/umap_maps.py``) calls :func:`compare`.

``--scaling`` runs the scaling study instead: fit time and peak memory of
ParametricUMAP and umap-learn at 2,000 rows (the MNIST subset's training
rows), 20,000 and 200,000 rows (synthetic MNIST-like rows: the subset's
images blended with another of their class, shifted by up to 2 pixels and
noised), each fit in a fresh process on one thread, a contender past
``--timeout`` seconds (600) stopped and said so; written to
``benchmarks/results/umap-scaling-cpu.md`` (``--out``).
"""

import argparse
import contextlib
import json
import os
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from ._common import REPO_ROOT, log, machine_header, markdown_table, run_fresh_process

MNIST_SUBSET = REPO_ROOT.parent / "shared" / "data" / "mnist_0169_subset.npz"
TRANSFORM_ROWS = 10_000
COLUMNS = ["data", "method", "fit (s)", "train trust", "held-out trust", "held-out 5-NN",
           "10k transform (s)", "held-out inverse MSE"]


def datasets():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=450, random_state=0, stratify=y)
    yield "digits", X_train, y_train, X_test, y_test
    if MNIST_SUBSET.exists():
        data = np.load(MNIST_SUBSET)
        yield ("MNIST subset", data["X_train"] / 255.0, data["y_train"],
               data["X_test"] / 255.0, data["y_test"])


def umap_learn():
    """The ``umap`` module of umap-learn, or None where it is not installed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap
    except ImportError:
        return None
    return umap


@contextlib.contextmanager
def one_thread():
    """torch and numba (umap-learn, pynndescent) on one thread in the block; restored after.

    numba first: its OpenMP threading layer, when it starts its workers, sets
    the thread count of the libgomp that torch shares, and torch would then
    train on numba's count (measured here: a ParametricUMAP fit on digits 9x
    slower on a busy 2-core machine).
    """
    import torch

    try:
        import numba
    except ImportError:
        numba = None
    numba_threads = numba.get_num_threads() if numba is not None else None
    if numba is not None:
        numba.set_num_threads(1)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        if numba is not None:
            numba.set_num_threads(numba_threads)
        torch.set_num_threads(torch_threads)


def measure(name, fit, transform, X_train, y_train, X_test, y_test, inverse=None, maps=None):
    """One contender's table row; its training map and placed rows go to ``maps[name]``."""
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
    if maps is not None:
        maps[name] = (np.asarray(embedding), np.asarray(placed))
    return row


def compare(runs, *, seeds=1):
    """umap-learn, ParametricUMAP without and with a decoder, and PCA(2) on each run.

    ``runs`` yields ``(name, X_train, y_train, X_test, y_test)``. Run it
    under :func:`one_thread`. Returns ``(rows, details)``: the table's rows
    (columns ``COLUMNS``, "" where a figure does not apply) and, per run
    name, ``{"maps": {method: (training map, placed rows)}, "decoder": the
    first seed's fitted ParametricUMAP with a decoder}``.
    """
    import torch

    from skae import ParametricUMAP

    threads = torch.get_num_threads()
    umap = umap_learn()
    if umap is None:
        log("umap-learn is not installed: its rows are skipped")
    rows, details = [], {}
    for data_name, X_train, y_train, X_test, y_test in runs:
        log(f"{data_name}: {X_train.shape}")
        maps = {}
        details[data_name] = {"maps": maps}
        if umap is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                umap.UMAP(random_state=0, n_epochs=5).fit(X_train[:300]).transform(X_test[:10])
                reference = umap.UMAP(random_state=0)
                row = measure("umap-learn UMAP", lambda X: reference.fit(X).embedding_,
                              reference.transform, X_train, y_train, X_test, y_test,
                              maps=maps)
            rows.append({"data": data_name, **row})
            torch.set_num_threads(threads)  # in case numba's workers reset it (one_thread)
        for label, params in [("skae ParametricUMAP", {}),
                              ("skae ParametricUMAP, decoder", {"reconstruction_weight": 1.0})]:
            results = []
            for seed in range(seeds):
                model = ParametricUMAP(random_state=seed, device="cpu", **params)
                results.append(measure(
                    label, lambda X: model.fit(X).embedding_, model.transform,
                    X_train, y_train, X_test, y_test,
                    inverse=model.inverse_transform if params else None,
                    maps=maps if seed == 0 else None))
                if params and seed == 0:
                    details[data_name]["decoder"] = model
            mean = {key: (np.mean([r[key] for r in results]) if key != "method" else label)
                    for key in results[0]}
            rows.append({"data": data_name, **mean})
        pca = PCA(2).fit(X_train)
        rows.append({"data": data_name, "method": "PCA(2)", "held-out inverse MSE": float(
            np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2))})
    return [{column: row.get(column, "") for column in COLUMNS} for row in rows], details


# ----------------------------------------------------------------- scaling
SCALING_ROWS = (2_000, 20_000, 200_000)
SCALING_RESULTS = REPO_ROOT / "benchmarks" / "results" / "umap-scaling-cpu.md"
CONTENDERS = ("umap-learn UMAP", "skae ParametricUMAP")
# Rows of the training map whose trustworthiness is computed (a sample: the
# exact figure on 200,000 rows would take longer than the fit).
TRUST_ROWS = 2_000
# Rows of the untimed warm-up fit: above umap-learn's and ParametricUMAP's
# 4,096-row switch to pynndescent, so that numba compiles its paths too.
WARM_UP_FIT_ROWS = 5_000


def scaling_rows(n_rows, seed=0):
    """``(X, description)``: float32 rows in [0, 1], 784 features.

    Up to 2,000 rows, the MNIST subset's training rows. Beyond, synthetic
    MNIST-like rows: a subset image (training and held-out rows) blended
    with weight 0.5-1 with another of its class, shifted by up to 2 pixels
    each way, plus Gaussian noise of 0.03, clipped. Without the subset, a
    10-component Gaussian mixture in [0, 1]^784.
    """
    rng = np.random.default_rng(seed)
    description = _describe(n_rows)
    if not MNIST_SUBSET.exists():
        centres = rng.random((10, 784), dtype=np.float32)
        labels = rng.integers(10, size=n_rows)
        X = centres[labels] + rng.normal(0, 0.1, (n_rows, 784)).astype(np.float32)
        return np.clip(X, 0, 1, out=X), description
    data = np.load(MNIST_SUBSET)
    if n_rows <= len(data["X_train"]):
        return (data["X_train"][:n_rows].reshape(n_rows, -1).astype(np.float32) / 255,
                description)
    images = np.vstack([data["X_train"], data["X_test"]]).reshape(-1, 784).astype(np.float32)
    images /= 255
    labels = np.concatenate([data["y_train"], data["y_test"]])
    by_class = {label: np.flatnonzero(labels == label) for label in np.unique(labels)}
    X = np.empty((n_rows, 784), dtype=np.float32)
    for start in range(0, n_rows, 10_000):
        n = min(10_000, n_rows - start)
        first = rng.integers(len(images), size=n)
        second = np.array([rng.choice(by_class[label]) for label in labels[first]])
        weight = rng.uniform(0.5, 1.0, (n, 1)).astype(np.float32)
        chunk = (weight * images[first] + (1 - weight) * images[second]).reshape(n, 28, 28)
        shifts = rng.integers(-2, 3, size=(n, 2))
        for dy, dx in {tuple(s) for s in shifts}:
            rows = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
            chunk[rows] = np.roll(chunk[rows], (dy, dx), axis=(1, 2))
        chunk = chunk.reshape(n, 784) + rng.normal(0, 0.03, (n, 784)).astype(np.float32)
        X[start:start + n] = np.clip(chunk, 0, 1)
    return X, description


def _describe(n_rows):
    if not MNIST_SUBSET.exists():
        return "synthetic: a 10-component Gaussian mixture in [0, 1]^784"
    if n_rows <= 2_000:
        return "the MNIST subset's training rows (real)"
    return ("synthetic MNIST-like rows (the subset's 2,800 images blended with another of "
            "their class, shifted up to 2 px, noise 0.03)")


def _scaling_child(contender, n_rows):
    """One fit in this (fresh) process: its time and memory, as JSON on the last line."""
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import torch

    from .memory import PeakMemory, read_status

    torch.set_num_threads(1)
    X, _ = scaling_rows(n_rows)
    warm = scaling_rows(WARM_UP_FIT_ROWS, seed=1)[0] if n_rows > 4096 else X[:300]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if contender == "umap-learn UMAP":
            import umap

            umap.UMAP(random_state=0, n_epochs=2).fit(warm)
            model = umap.UMAP(random_state=0)
        else:
            from skae import ParametricUMAP

            ParametricUMAP(max_epochs=1, random_state=0, device="cpu").fit(warm)
            model = ParametricUMAP(random_state=0, device="cpu")
        del warm
        torch.set_num_threads(1)  # numba's workers, started above, may have reset it
        with PeakMemory(interval=0.05) as memory:
            start = time.perf_counter()
            embedding = model.fit(X).embedding_
            seconds = time.perf_counter() - start
    sample = np.random.default_rng(0).permutation(n_rows)[:TRUST_ROWS]
    print(json.dumps({
        "seconds": seconds,
        "rss_before": memory._rss_before,
        "high_water": memory._rss_before + memory.high_water_added
        if memory.high_water_added is not None else None,
        "high_water_added": memory.high_water_added,
        "anon_added": memory.added,
        "process_peak": read_status("VmHWM")["VmHWM"],
        "trust": float(trustworthiness(X[sample], embedding[sample], n_neighbors=15)),
    }))


def scaling(rows=SCALING_ROWS, *, timeout=600, out=SCALING_RESULTS):
    """Each contender at each size, in a fresh process; the Markdown written to ``out``."""
    MB = 1e6
    table, stopped, descriptions, last = [], {}, {}, {}
    started, load_before = time.perf_counter(), os.getloadavg()
    for n_rows in rows:
        descriptions[n_rows] = _describe(n_rows)
        for contender in CONTENDERS:
            real = n_rows <= 2_000 and MNIST_SUBSET.exists()
            row = {"rows": f"{n_rows:,}", "data": "real" if real else "synthetic",
                   "method": contender}
            if contender == "umap-learn UMAP" and umap_learn() is None:
                table.append({**row, "fit (s)": "not installed"})
                continue
            if contender in stopped:
                table.append({**row, "fit (s)": f"skipped (past {timeout} s at "
                                                 f"{stopped[contender]:,} rows)"})
                continue
            if contender in last:
                # Both fits grow at least linearly in the rows (graph edges, epochs of edges).
                rows_before, seconds_before = last[contender]
                estimate = seconds_before * n_rows / rows_before
                if estimate > timeout:
                    table.append({**row, "fit (s)": f"skipped: would run past {timeout} s "
                                  f"(about {estimate:,.0f} s, {seconds_before:.0f} s at "
                                  f"{rows_before:,} rows scaled linearly)"})
                    continue
            log(f"{contender}, {n_rows:,} rows")
            try:
                result = run_fresh_process("benchmarks.umap",
                                           ["--scaling-child", contender, str(n_rows)],
                                           threads=1, timeout=timeout,
                                           what=f"{contender} on {n_rows} rows")
            except subprocess.TimeoutExpired:
                stopped[contender] = n_rows
                table.append({**row, "fit (s)": f"stopped: past {timeout} s"})
                continue
            last[contender] = (n_rows, result["seconds"])
            table.append({
                **row,
                "fit (s)": result["seconds"],
                "RSS before fit (MB)": result["rss_before"] / MB,
                "peak RSS in fit (MB)": result["high_water"] / MB,
                "added by fit (MB)": result["high_water_added"] / MB,
                "train trust (2k-row sample)": result["trust"],
            })
            log(f"  {table[-1]}")
    columns = ["rows", "data", "method", "fit (s)", "RSS before fit (MB)",
               "peak RSS in fit (MB)", "added by fit (MB)", "train trust (2k-row sample)"]
    table = [{column: row.get(column, "") for column in columns} for row in table]
    umap = umap_learn()
    text = "\n".join([
        "# ParametricUMAP vs umap-learn: fit time and memory against rows (CPU)",
        "",
        "Written by `python -m benchmarks.umap --scaling "
        f"--rows {' '.join(map(str, rows))}`.",
        "",
        machine_header().replace("torch intra-op threads", "the parent's torch intra-op threads"),
        f"- umap-learn {umap.__version__ if umap else 'not installed'}; each fit in a fresh "
        "process on 1 thread (torch, numba, OpenMP, BLAS); defaults "
        "(`UMAP(random_state=0)`, `ParametricUMAP(random_state=0, device='cpu')`)",
        "- load average (1, 5, 15 min) at the start "
        + ", ".join(f"{x:.1f}" for x in load_before) + "; at the end "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
        + f" (on {os.cpu_count()} cores: above {os.cpu_count()}, other work shared them "
        "and the times are longer than on an idle machine)",
        "",
        "Rows, 784 float32 features in [0, 1]: "
        + "; ".join(f"{n:,}: {d}" for n, d in descriptions.items()) + ".",
        "",
        "Each child loads the rows, fits once untimed on "
        f"{WARM_UP_FIT_ROWS:,} other rows (300 at 2,000 rows) so that numba's compilation "
        "(umap-learn, pynndescent above 4,096 rows) is not counted, then times `fit`. "
        "Memory from /proc/self/status: 'RSS before fit' is VmRSS just before `fit` "
        "(interpreter, libraries, the rows), 'peak RSS in fit' the kernel's high-water "
        "mark VmHWM (reset through /proc/self/clear_refs before the fit) at its end, "
        "'added by fit' the difference. 'train trust' is the trustworthiness (15 "
        f"neighbours) of the training map on {TRUST_ROWS:,} of its rows drawn at random. "
        f"A contender stopped past {timeout} s is not run on more rows, nor one whose time "
        f"at the size before, scaled linearly in the rows, passes {timeout} s.",
        "",
        markdown_table(table, columns),
        "",
        f"Study run in {time.perf_counter() - started:.0f} s.",
        "",
    ])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text)
    log(f"wrote {out}")
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=1, help="seeds per skae model (mean)")
    parser.add_argument("--scaling", action="store_true",
                        help="run the scaling study instead (fit time and memory vs rows)")
    parser.add_argument("--rows", type=int, nargs="+", default=list(SCALING_ROWS),
                        help="row counts of the scaling study (default 2000 20000 200000)")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds after which a scaling fit is stopped (default 600)")
    parser.add_argument("--out", type=Path, default=SCALING_RESULTS,
                        help="the scaling study's Markdown file")
    parser.add_argument("--scaling-child", nargs=2, metavar=("CONTENDER", "ROWS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scaling_child:
        _scaling_child(args.scaling_child[0], int(args.scaling_child[1]))
        return
    if args.scaling:
        print(scaling(args.rows, timeout=args.timeout, out=args.out))
        return
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    with one_thread():
        rows, _ = compare(datasets(), seeds=args.seeds)
    print(markdown_table(rows, COLUMNS))


if __name__ == "__main__":
    main()
