"""How cost grows with the data (opt-in, not part of the default report).

``python -m benchmarks.scaling [--out FILE] [--parts ...]``, or
``python -m benchmarks --scaling``, writes one Markdown file in three parts:

1. ``scaling``: time and peak anonymous memory (RssAnon) of one epoch of
   ``Autoencoder.fit`` and of ``transform``, at 10k, 100k and 1M synthetic
   uniform random rows of 784 float32 features, against a hand-written
   PyTorch loop (one epoch: randperm + index gather per batch, default Adam),
   a plain float32 ``no_grad`` forward, and scikit-learn's
   ``IncrementalPCA`` (one pass of ``fit``; ``transform``). Each figure comes
   from a fresh process (``benchmarks.memory``'s method: setup, one warm-up
   call on 8,192 rows, then the measured call while a thread samples
   RssAnon), one at a time, each on one thread.
2. ``memmap``: a synthetic float32 ``numpy.memmap`` of ``--memmap-gb`` GB
   (9 by default) written to a temporary directory, evicted from the page
   cache, then one epoch of ``fit`` and one ``transform`` on it, with their
   time, the anonymous memory they add and the held-out reconstruction
   error. The file is deleted afterwards. Then ``--equal-rows`` rows that
   fit in memory, fitted for the same epochs from an array in memory (a full
   shuffle) and from a memmap of the same rows (the windowed shuffle of
   :mod:`skae._engine._chunks`): their held-out errors are compared.
3. ``quality``: the windowed shuffle against a full shuffle on real data
   (digits, the MNIST subset when present), in stored order and sorted by
   class (the hard case), with chunk and window sizes scaled down so that
   these small sets span many windows.

The synthetic rows of parts 2 and 3 are clusters: ten centres in [0, 1],
each with a rank-8 spread and noise, stored sorted by cluster, so that a
shuffle that mixes badly shows.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from . import memory
from ._common import WARM_UP_ROWS, log, machine_header, markdown_table, run_fresh_process
from ._common import synthetic

ROWS = (10_000, 100_000, 1_000_000)
N_FEATURES = 784
SCALING_NET = memory.Net(hidden_layer_sizes=(64,), n_components=16, batch_size=256)
# A small net and a large batch: an epoch over 9 GB on one thread is then
# minutes, and bound by reading and arithmetic alike.
MEMMAP_NET = memory.Net(hidden_layer_sizes=(32,), n_components=8, batch_size=1024)
TEST_ROWS = 20_000
PARTS = ("scaling", "memmap", "quality")


# ------------------------------------------------------------- synthetic data
def clustered_rows(start, stop, n_rows, *, seed=0, n_clusters=10, rank=8):
    """Rows ``start:stop`` of ``n_rows`` synthetic rows stored sorted by cluster.

    The clusters' centres and spreads depend on nothing but the structure's
    fixed seed; the rows' draws on ``seed`` and ``start``, so that a file is
    written block by block with the same content as in one go.
    """
    structure = np.random.default_rng(12345)
    centres = structure.random((n_clusters, N_FEATURES), dtype=np.float32)
    spreads = 0.15 * structure.standard_normal((n_clusters, rank, N_FEATURES),
                                               dtype=np.float32)
    rng = np.random.default_rng([seed, start])
    cluster = np.arange(start, stop) * n_clusters // n_rows
    # Uniform noise: drawn about twice as fast as Gaussian, for 9 GB of it.
    rows = rng.random((stop - start, N_FEATURES), dtype=np.float32)
    rows -= 0.5
    rows *= 0.1
    for k in np.unique(cluster):
        members = cluster == k
        codes = rng.standard_normal((int(members.sum()), rank), dtype=np.float32)
        rows[members] += centres[k] + codes @ spreads[k]
    return rows


def write_memmap(path, n_rows, *, seed=0, block=50_000):
    """A float32 .npy file of clustered rows, written block by block; its path."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                    shape=(n_rows, N_FEATURES))
    for start in range(0, n_rows, block):
        stop = min(start + block, n_rows)
        out[start:stop] = clustered_rows(start, stop, n_rows, seed=seed)
    out.flush()
    del out
    return path


def evict_from_page_cache(path):
    """Write the file's pages out and drop them from the page cache (Linux)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def test_rows(n_rows):
    """Held-out rows of the same clusters, shuffled (fresh draws)."""
    rows = clustered_rows(0, n_rows, n_rows, seed=999)
    return rows[np.random.default_rng(0).permutation(n_rows)]


def reconstruction_mse(estimator, X):
    return float(np.mean((estimator.inverse_transform(estimator.transform(X)) - X) ** 2))


def _autoencoder(net, **settings):
    from skae import Autoencoder

    return Autoencoder(net.n_components, hidden_layer_sizes=net.hidden_layer_sizes,
                       batch_size=net.batch_size, device="cpu", **settings)


# ------------------------------------------------------------ child processes
def _incremental_pca_transform(X, net):
    from sklearn.decomposition import IncrementalPCA

    return IncrementalPCA(n_components=net.n_components).fit(X[:4096]).transform


# name -> (what it is, setup(X, net) -> callable run on X)
CONTENDERS = {
    "skae Autoencoder.fit": ("1 epoch", memory.CONTENDERS["skae Autoencoder.fit"][1]),
    "hand-written PyTorch loop": ("1 epoch: randperm + index gather per batch, default Adam",
                                  memory.CONTENDERS["hand-written PyTorch loop"][1]),
    "sklearn IncrementalPCA.fit": ("1 pass, default batches (5 x n_features rows)",
                                   memory.CONTENDERS["sklearn IncrementalPCA.fit"][1]),
    "skae transform": ("", memory.CONTENDERS["skae transform"][1]),
    "plain float32 no_grad forward": ("module_.encode in 8,192-row chunks",
                                      memory.CONTENDERS["plain float32 no_grad forward"][1]),
    "sklearn IncrementalPCA.transform": ("fitted on 4,096 rows", _incremental_pca_transform),
}


def _scaling_child(spec):
    import torch

    net = memory.Net(**{k: tuple(v) if isinstance(v, list) else v
                        for k, v in spec["net"].items()})
    X = synthetic(spec["rows"], N_FEATURES)
    call = CONTENDERS[spec["contender"]][1](X, net)
    call(X[:WARM_UP_ROWS])
    with memory.PeakMemory() as peak:
        start = time.perf_counter()
        call(X)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "added": peak.added, "input_bytes": X.nbytes,
            "torch_threads": torch.get_num_threads()}


def _memmap_child(spec):
    import torch

    n_rows = int(spec["gb"] * 1e9) // (N_FEATURES * 4)
    path = Path(spec["dir"]) / "synthetic.npy"
    result = {"rows": n_rows}
    try:
        started = time.perf_counter()
        write_memmap(path, n_rows)
        evict_from_page_cache(path)
        result["write_seconds"] = time.perf_counter() - started
        X = np.load(path, mmap_mode="r")
        result["input_bytes"] = X.nbytes
        test = test_rows(TEST_ROWS)
        net = MEMMAP_NET
        estimator = _autoencoder(net, max_epochs=1, random_state=0)
        from sklearn.base import clone

        clone(estimator).fit(X[:WARM_UP_ROWS]).transform(X[:WARM_UP_ROWS])
        evict_from_page_cache(path)
        with memory.PeakMemory() as fit_memory:
            start = time.perf_counter()
            estimator.fit(X)
            result["fit_seconds"] = time.perf_counter() - start
        result["fit_added"] = fit_memory.added
        result["test_mse"] = reconstruction_mse(estimator, test)
        result["test_variance"] = float(test.var(axis=0).sum() / N_FEATURES)
        evict_from_page_cache(path)
        with memory.PeakMemory() as transform_memory:
            start = time.perf_counter()
            codes = estimator.transform(X)
            result["transform_seconds"] = time.perf_counter() - start
        result["transform_added"] = transform_memory.added
        result["output_bytes"] = codes.nbytes
        result["torch_threads"] = torch.get_num_threads()
        del X
    finally:
        path.unlink(missing_ok=True)
    return result


def _equal_rows_child(spec):
    """Held-out error after equal epochs: rows in memory against the same rows in a file."""
    n_rows, epochs = spec["rows"], spec["epochs"]
    X = clustered_rows(0, n_rows, n_rows)
    path = Path(spec["dir"]) / "equal.npy"
    test = test_rows(TEST_ROWS)
    rows = []
    try:
        np.save(path, X)
        mapped = np.load(path, mmap_mode="r")
        for seed in spec["seeds"]:
            errors = {}
            for name, data in (("in memory", X), ("memmap", mapped)):
                estimator = _autoencoder(MEMMAP_NET, max_epochs=epochs, random_state=seed)
                start = time.perf_counter()
                estimator.fit(data)
                errors[name] = (reconstruction_mse(estimator, test),
                                time.perf_counter() - start)
            rows.append({"seed": seed, "in memory": errors["in memory"],
                         "memmap": errors["memmap"]})
        del mapped
    finally:
        path.unlink(missing_ok=True)
    return {"rows": rows}


CHILDREN = {"scaling": _scaling_child, "memmap": _memmap_child, "equal": _equal_rows_child}


def run_child(spec, *, threads=1, timeout=1800):
    """Run one measurement in a fresh process on ``threads`` threads; its figures."""
    return run_fresh_process("benchmarks.scaling", ["--child", json.dumps(spec)],
                             threads=threads, timeout=timeout, what=str(spec))


# ----------------------------------------------------------------- the parts
def scaling(rows=ROWS, net=SCALING_NET, workers=2, log=print):
    """One table row per (n, contender), each measured in its own process.

    ``workers`` processes run at a time, each on one thread: on two cores
    the slow IncrementalPCA fits run beside the others.
    """
    from concurrent.futures import ThreadPoolExecutor

    net_spec = {"hidden_layer_sizes": list(net.hidden_layer_sizes),
                "n_components": net.n_components, "batch_size": net.batch_size}
    cases = [(n_rows, name) for n_rows in rows for name in CONTENDERS]

    def measure(case):
        n_rows, name = case
        log(f"scaling: {name}, {n_rows:,} rows")
        return run_child({"part": "scaling", "contender": name, "rows": n_rows,
                          "net": net_spec})

    # The slowest first, so that the others run beside them.
    order = sorted(cases, key=lambda case: (case[1] != "sklearn IncrementalPCA.fit", -case[0]))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {case: pool.submit(measure, case) for case in order}
    table = []
    for n_rows, name in cases:
        result = futures[n_rows, name].result()
        table.append({
            "rows": f"{n_rows:,}",
            "contender": name,
            "setting": CONTENDERS[name][0],
            "seconds": result["seconds"],
            "peak added (MB)": result["added"] / 1e6,
            "bytes per input byte": result["added"] / result["input_bytes"],
            "threads": result["torch_threads"],
        })
    return table


def memmap_case(gb, directory, log=print):
    log(f"memmap: writing and fitting a {gb:g} GB file in {directory}")
    return run_child({"part": "memmap", "gb": gb, "dir": str(directory)}, timeout=3600)


def equal_rows(n_rows, epochs, seeds, directory, log=print):
    log(f"memmap: {n_rows:,} rows in memory and in a file, {epochs} epochs")
    return run_child({"part": "equal", "rows": n_rows, "epochs": epochs, "seeds": list(seeds),
                      "dir": str(directory)}, timeout=3600)["rows"]


@contextlib.contextmanager
def shuffle_settings(chunk_rows, window_chunks, row_bytes):
    """The windowed shuffle's chunk and window sizes, for a block (benchmarks only)."""
    from skae._engine import _chunks

    saved = _chunks.CHUNK_BYTES, _chunks.WINDOW_CHUNKS
    _chunks.CHUNK_BYTES, _chunks.WINDOW_CHUNKS = chunk_rows * row_bytes, window_chunks
    try:
        yield
    finally:
        _chunks.CHUNK_BYTES, _chunks.WINDOW_CHUNKS = saved


def _quality_datasets():
    from . import data as datasets

    digits = datasets.digits()
    found = [("digits", digits.X_train, digits.y_train, digits.X_test,
              dict(n_components=8, hidden_layer_sizes=(32,), batch_size=32, max_epochs=20))]
    if datasets.MNIST_SUBSET.exists():
        mnist = datasets.load("mnist-subset")
        found.append(("MNIST subset", mnist.X_train, mnist.y_train, mnist.X_test,
                      dict(n_components=16, hidden_layer_sizes=(64,), batch_size=64,
                           max_epochs=10)))
    return found


# (chunks per window, windows per epoch): the default on 9 GB of 784
# float32 features is 256 chunks of 334 rows per window, 34 windows.
QUALITY_SHUFFLES = ((64, 4), (16, 16), (4, 16))
QUALITY_SEEDS = (0, 1, 2, 3, 4)


def shuffle_quality(seeds=QUALITY_SEEDS, log=print):
    """Held-out MSE after equal epochs: windowed shuffles over a full one."""
    import torch

    from skae import Autoencoder

    table = []
    with tempfile.TemporaryDirectory() as directory:
        for name, X, y, X_test, settings in _quality_datasets():
            X = X.astype(np.float32)
            X_test = X_test.astype(np.float32)
            for order_name, order in (("stored", np.arange(len(X))),
                                      ("sorted by class", np.argsort(y, kind="stable"))):
                rows = np.ascontiguousarray(X[order])
                path = Path(directory) / "rows.npy"
                np.save(path, rows)
                mapped = np.load(path, mmap_mode="r")
                log(f"quality: {name}, {order_name}")
                full = [reconstruction_mse(
                    Autoencoder(**settings, random_state=seed, device="cpu").fit(rows), X_test)
                    for seed in seeds]
                result = {"data": name, "rows": len(rows), "order": order_name,
                          "full shuffle MSE": float(np.mean(full))}
                chunk_sizes = []
                for window_chunks, n_windows in QUALITY_SHUFFLES:
                    chunk_rows = max(1, len(rows) // (window_chunks * n_windows))
                    chunk_sizes.append(str(chunk_rows))
                    with shuffle_settings(chunk_rows, window_chunks, rows[0].nbytes):
                        windowed = [reconstruction_mse(
                            Autoencoder(**settings, random_state=seed, device="cpu")
                            .fit(mapped), X_test) for seed in seeds]
                    key = f"{window_chunks} chunks/window, {n_windows} windows"
                    result[key] = float(np.mean(windowed)) / result["full shuffle MSE"]
                result["rows per chunk"] = " / ".join(chunk_sizes)
                table.append(result)
                del mapped
    return table, torch.get_num_threads()


# ----------------------------------------------------------------- the report
def report(args, log):
    started = time.perf_counter()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = ["# skae scaling report", "", machine_header(),
             f"- command: python -m benchmarks.scaling {' '.join(args.argv)}".rstrip(),
             f"- load average at the start (1, 5, 15 min): {load}"]
    if "scaling" in args.parts:
        table = scaling(args.rows, log=log)
        sizes = [N_FEATURES, *SCALING_NET.hidden_layer_sizes, SCALING_NET.n_components]
        lines += [
            "", "## 1. Time and memory against n", "",
            f"Synthetic uniform random float32 rows of {N_FEATURES} features (the content "
            "does not change time or memory). Net "
            f"{'-'.join(map(str, sizes + sizes[-2::-1]))}, batch {SCALING_NET.batch_size}, "
            "Adam. Each line is a fresh process on one thread (torch, OpenMP and BLAS), "
            "two at a time (the IncrementalPCA fits, the slowest, beside the others): "
            "setup, a warm-up call on 8,192 rows, then the measured "
            "call on all rows while a thread samples RssAnon every 2 ms. 'peak added' is "
            "the anonymous memory the call adds at its peak (not the input, not the page "
            "cache); 'seconds' is one epoch for the fits, one pass for the transforms.",
            "", markdown_table(table),
        ]
    if "memmap" in args.parts:
        with tempfile.TemporaryDirectory(dir=args.tmp) as directory:
            big = memmap_case(args.memmap_gb, directory, log=log)
            equal = equal_rows(args.equal_rows, args.equal_epochs, (0, 1), directory, log=log)
        sizes = [N_FEATURES, *MEMMAP_NET.hidden_layer_sizes, MEMMAP_NET.n_components]
        architecture = "-".join(map(str, sizes + sizes[-2::-1]))
        lines += [
            "", "## 2. A file larger than the rest of this report's data", "",
            f"A synthetic float32 memmap of {big['input_bytes'] / 1e9:.2f} GB "
            f"({big['rows']:,} x {N_FEATURES}; ten clusters, stored sorted by cluster) in a "
            f"temporary directory on local disk (written in {big['write_seconds']:.0f} s, "
            "deleted afterwards), evicted from the page cache before each call. "
            f"`Autoencoder({MEMMAP_NET.n_components}, hidden_layer_sizes="
            f"{MEMMAP_NET.hidden_layer_sizes})` ({architecture}), batch "
            f"{MEMMAP_NET.batch_size}, one epoch, torch on {big['torch_threads']} thread(s); "
            "the windowed shuffle (chunks of 1 MiB, 256 chunks per window) is chosen "
            "because X is memory-mapped. 'added' is the peak RssAnon over RssAnon just "
            "before the call (the target is at most 1 GB for the fit).",
            "",
            markdown_table([
                {"call": "fit (1 epoch)", "seconds": big["fit_seconds"],
                 "added (MB)": big["fit_added"] / 1e6,
                 "bytes per input byte": big["fit_added"] / big["input_bytes"]},
                {"call": "transform", "seconds": big["transform_seconds"],
                 "added (MB)": big["transform_added"] / 1e6,
                 "bytes per input byte": big["transform_added"] / big["input_bytes"]},
            ]),
            "",
            f"Held-out reconstruction MSE after the epoch: {big['test_mse']:.4g} "
            f"({TEST_ROWS:,} fresh rows of the same clusters, whose mean variance per "
            f"feature is {big['test_variance']:.4g}). The transform's output itself is "
            f"{big['output_bytes'] / 1e6:.0f} MB.",
            "",
            f"The same rows in memory and in a file: {args.equal_rows:,} clustered rows "
            "(sorted by cluster), the same net and batch, "
            f"{args.equal_epochs} epochs; held-out MSE of a fit on the array (a full "
            "shuffle per epoch) and on a memmap of it (the windowed shuffle), per seed:",
            "",
            markdown_table([
                {"seed": row["seed"], "in memory MSE": row["in memory"][0],
                 "memmap MSE": row["memmap"][0],
                 "memmap / in memory": row["memmap"][0] / row["in memory"][0],
                 "in memory fit (s)": row["in memory"][1], "memmap fit (s)": row["memmap"][1]}
                for row in equal
            ]),
        ]
    if "quality" in args.parts:
        table, threads = shuffle_quality(log=log)
        lines += [
            "", "## 3. The windowed shuffle against a full shuffle", "",
            "Real data: digits (8x8, 1,347 training rows) and the MNIST subset (2,000 "
            "training rows, when present), in their stored order and sorted by class. Each "
            "fit runs the same epochs from an array in memory (a full shuffle per epoch) or "
            "from a memmap of it (the windowed shuffle), and is scored on the held-out "
            "rows. Chunk and window sizes are scaled down so that these small sets span "
            "several windows: 'k chunks/window, w windows' cuts the rows into k x w "
            "chunks ('rows per chunk', in the columns' order) and shuffles k chunks "
            "together; the default on a 9 GB file of 784 float32 features is 256 chunks "
            "(of 334 rows) per window, 34 windows. Columns after the full shuffle's MSE "
            "are the windowed shuffle's mean MSE over the full shuffle's, over seeds "
            f"{QUALITY_SEEDS[0]}-{QUALITY_SEEDS[-1]} (torch on {threads} thread(s)). The "
            "full shuffle's MSE on the same rows in the two orders differs by the seeds' "
            "noise alone: a yardstick for the ratios.",
            "", markdown_table(table),
        ]
    lines += ["", f"Written in {time.perf_counter() - started:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmark-report/scaling.md"))
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--rows", nargs="+", type=int, default=list(ROWS))
    parser.add_argument("--memmap-gb", type=float, default=9.0)
    parser.add_argument("--equal-rows", type=int, default=200_000)
    parser.add_argument("--equal-epochs", type=int, default=3)
    parser.add_argument("--tmp", default=None,
                        help="directory for the temporary files (default: the system's)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    # Fits of one epoch, or of a few, are what is measured here.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(CHILDREN[spec["part"]](spec)))
        return
    if not memory.available():
        sys.exit("scaling: /proc/self/status has no RssAnon here (Linux only).")
    text = report(args, log)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    log(f"wrote {args.out}")
    print(text)


if __name__ == "__main__":
    main()
