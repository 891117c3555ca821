"""Training throughput: skae against a hand-written loop, skorch and sklearn.

Every contender trains the same dense autoencoder (same layer sizes, same
activation, Adam at the same learning rate, same batch size, same epochs)
on the same data, in the same process. Each contender gets one untimed
warm-up run; then the contenders take turns, ``repeats`` rounds, so that a
slow spell of a shared machine hits them alike. Times are medians.

Each contender reports the threads it computed on: torch's intra-op threads
while it trained (skae picks one thread for steps too small to split), or
the BLAS threads numpy uses for scikit-learn. Two hand-written loops set the
yardstick: the one most users write (torch's default threads, default Adam)
and the one an expert writes for a small net (one thread, fused Adam).
Times are also given per training step (every contender takes the same
steps: ``ceil(rows / batch_size)`` per epoch).

A grid search is many small fits: :func:`grid_search` times scikit-learn's
``GridSearchCV`` over a ``Pipeline(MinMaxScaler, Autoencoder,
LogisticRegression)`` on digits, 8 configurations, 3 folds.

``python -m benchmarks.throughput [--dataset ...] [--quick]`` prints this
section of the report alone.
"""

import argparse
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from skorch import NeuralNetRegressor
from skorch.callbacks import Callback
from threadpoolctl import threadpool_info
from torch import nn

from skae import Autoencoder

from . import data as datasets
from ._common import markdown_table, torch_threads


@dataclass(frozen=True)
class Workload:
    name: str
    X: np.ndarray
    n_components: int
    hidden_layer_sizes: tuple
    batch_size: int
    max_epochs: int
    learning_rate: float = 1e-3


def _torch_mlp(n_features, workload):
    sizes = [n_features, *workload.hidden_layer_sizes, workload.n_components]
    sizes = sizes + sizes[-2::-1]
    layers = []
    for depth, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        is_code = depth == len(workload.hidden_layer_sizes)
        is_output = depth == len(sizes) - 2
        if not (is_code or is_output):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _loop(workload, seed, *, fused):
    torch.manual_seed(seed)
    X = torch.as_tensor(workload.X, dtype=torch.float32)
    model = _torch_mlp(X.shape[1], workload)
    optimizer = torch.optim.Adam(model.parameters(), lr=workload.learning_rate, fused=fused)
    loss_fn = nn.MSELoss()
    for _ in range(workload.max_epochs):
        order = torch.randperm(len(X))
        for start in range(0, len(X), workload.batch_size):
            batch = X[order[start : start + workload.batch_size]]
            optimizer.zero_grad()
            loss = loss_fn(model(batch), batch)
            loss.backward()
            optimizer.step()
    return model


def hand_written_loop(workload, seed):
    """The loop a user writes: randperm + slicing, default Adam, MSE, torch's threads."""
    return _loop(workload, seed, fused=False), torch.get_num_threads()


def expert_loop(workload, seed):
    """The same loop on one thread with fused Adam, as an expert runs a small net."""
    with torch_threads(1):
        return _loop(workload, seed, fused=True), 1


def skorch_default(workload, seed):
    """skorch's NeuralNetRegressor with its defaults, bar the validation split."""
    torch.manual_seed(seed)
    X = workload.X.astype(np.float32)
    net = NeuralNetRegressor(
        _torch_mlp(X.shape[1], workload),
        optimizer=torch.optim.Adam,
        lr=workload.learning_rate,
        batch_size=workload.batch_size,
        max_epochs=workload.max_epochs,
        train_split=None,
        verbose=0,
    )
    return net.fit(X, X), torch.get_num_threads()


def sklearn_mlp(workload, seed):
    """sklearn's MLPRegressor trained to reproduce its input."""
    sizes = (*workload.hidden_layer_sizes, workload.n_components, *workload.hidden_layer_sizes[::-1])
    mlp = MLPRegressor(
        hidden_layer_sizes=sizes,
        batch_size=workload.batch_size,
        learning_rate_init=workload.learning_rate,
        max_iter=workload.max_epochs,
        n_iter_no_change=workload.max_epochs + 1,
        tol=0,
        shuffle=True,
        random_state=seed,
    )
    # MLPRegressor has no linear coding layer: its hidden layers all share
    # one activation; relu everywhere is the closest match.
    with warnings.catch_warnings():
        # Every contender runs the same fixed epochs, converged or not.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return mlp.fit(workload.X, workload.X), _blas_threads()


def _blas_threads():
    return max((pool["num_threads"] for pool in threadpool_info()
                if pool["user_api"] == "blas"), default=1)


class _ThreadProbe(Callback):
    """Records the torch threads in force while the net trains."""

    def on_epoch_end(self, net, **kwargs):
        self.threads_ = torch.get_num_threads()


def skae_autoencoder(workload, seed):
    """skae's Autoencoder with the workload's settings, no early stop."""
    probe = _ThreadProbe()
    with warnings.catch_warnings():
        # Every contender runs the same fixed epochs, converged or not.
        warnings.simplefilter("ignore", ConvergenceWarning)
        ae = Autoencoder(
            workload.n_components,
            hidden_layer_sizes=workload.hidden_layer_sizes,
            batch_size=workload.batch_size,
            max_epochs=workload.max_epochs,
            learning_rate=workload.learning_rate,
            n_iter_no_change=workload.max_epochs + 1,
            device="cpu",
            random_state=seed,
            callbacks=[probe],
        ).fit(workload.X)
    return ae, probe.threads_


LOOP = "hand-written PyTorch loop"
EXPERT_LOOP = "hand-written loop, 1 thread, fused Adam"

CONTENDERS = {
    "skae Autoencoder": skae_autoencoder,
    LOOP: hand_written_loop,
    EXPERT_LOOP: expert_loop,
    "skorch NeuralNetRegressor": skorch_default,
    "sklearn MLPRegressor": sklearn_mlp,
}


def measure(workload, repeats=3, contenders=CONTENDERS):
    """Seconds per fit for each contender, its threads, and ratios to both loops."""
    for train in contenders.values():
        train(workload, seed=0)  # warm-up: imports, allocator, kernels
    times = {name: [] for name in contenders}
    threads = {}
    for repeat in range(repeats):
        for name, train in contenders.items():
            start = time.perf_counter()
            _, threads[name] = train(workload, seed=repeat + 1)
            times[name].append(time.perf_counter() - start)
    seconds = {name: float(np.median(t)) for name, t in times.items()}
    samples = len(workload.X) * workload.max_epochs
    steps = math.ceil(len(workload.X) / workload.batch_size) * workload.max_epochs
    return [
        {
            "contender": name,
            "threads": threads[name],
            "seconds": s,
            "us_per_step": s / steps * 1e6,
            "samples_per_second": samples / s,
            "ratio_to_loop": s / seconds[LOOP],
            "ratio_to_expert_loop": s / seconds[EXPERT_LOOP],
        }
        for name, s in seconds.items()
    ]


COLUMNS = ["contender", "threads", "seconds", "us_per_step", "samples_per_second",
           "ratio_to_loop", "ratio_to_expert_loop"]

# The grid of grid_search: 2 x 2 x 2 configurations.
GRID = {
    "autoencoder__n_components": [8, 16],
    "autoencoder__hidden_layer_sizes": [(32,), (64,)],
    "logisticregression__C": [0.1, 1.0],
}


def grid_search(repeats=1, max_epochs=30):
    """Seconds of ``GridSearchCV(Pipeline(MinMaxScaler, Autoencoder, LogisticRegression))``.

    On sklearn's digits (1,797 rows), the 8 configurations of :data:`GRID`,
    ``cv=3``, ``n_jobs=1``: 24 fits and the refit, each training an
    Autoencoder for ``max_epochs`` epochs (batch 64, Adam 1e-3). Median of
    ``repeats`` runs.
    """
    from skae import Autoencoder

    X, y = load_digits(return_X_y=True)
    pipeline = make_pipeline(
        MinMaxScaler(),
        Autoencoder(max_epochs=max_epochs, n_iter_no_change=max_epochs + 1, device="cpu",
                    random_state=0, callbacks=[_ThreadProbe()]),
        LogisticRegression(max_iter=1000),
    )
    times = []
    for _ in range(repeats):
        search = GridSearchCV(pipeline, GRID, cv=3, n_jobs=1)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X, y)
        times.append(time.perf_counter() - start)
    n_configurations = len(search.cv_results_["params"])
    return {
        "search": "GridSearchCV(MinMaxScaler + Autoencoder + LogisticRegression), cv=3",
        "configurations": n_configurations,
        "fits": n_configurations * 3 + 1,
        "epochs_per_fit": max_epochs,
        # The refit's probe (the search fits clones of the pipeline).
        "torch_threads": search.best_estimator_[1].callbacks[0].threads_,
        "seconds": float(np.median(times)),
        "best_accuracy": float(search.best_score_),
    }


GRID_COLUMNS = ["search", "configurations", "fits", "epochs_per_fit", "torch_threads",
                "seconds", "best_accuracy"]


def workloads(data, quick):
    """The section's workloads for ``data``: MNIST-sized or digits-sized nets."""
    if data.X_train.shape[1] >= 400:
        return [Workload(data.name, data.X_train, 150, (300,), 256, 5 if quick else 15)]
    return [Workload(data.name, data.X_train, 16, (32,), 64, 15 if quick else 60)]


def section(data, quick):
    """The report's training-throughput section, as Markdown lines."""
    lines = [
        "",
        "## 4. Training throughput",
        "",
        "The same dense autoencoder, data, batch size, learning rate and epochs for every "
        "contender, in this process, in interleaved rounds (medians). 'threads' is what "
        "each contender computed on: torch's intra-op threads during its training (skae "
        "uses one thread for steps too small to split, torch's default otherwise), and "
        "numpy's BLAS threads for MLPRegressor. Two hand-written loops are yardsticks: "
        "the one most users write (torch's default threads, default Adam) and the one an "
        "expert writes for a small net (one thread, fused Adam). The ratios are time over "
        "each loop's (lower is faster); on a busy machine the multi-threaded contenders "
        "slow down most, so compare against the loop with the same threads. 'us_per_step' "
        "is the time per training step (every contender takes the same steps).",
    ]
    for workload in workloads(data, quick):
        results = measure(workload, repeats=1 if quick else 3)
        sizes = [workload.X.shape[1], *workload.hidden_layer_sizes, workload.n_components]
        architecture = "-".join(map(str, sizes + sizes[-2::-1]))
        lines += [
            "",
            f"{workload.name}: {architecture} net, {len(workload.X)} rows, batch "
            f"{workload.batch_size}, {workload.max_epochs} epochs, "
            f"Adam lr {workload.learning_rate}",
            "",
            markdown_table(results, COLUMNS),
        ]
    search = grid_search(repeats=1 if quick else 3, max_epochs=10 if quick else 30)
    lines += [
        "",
        "A grid search is many small fits: scikit-learn's GridSearchCV over "
        f"{GRID} on sklearn's digits, n_jobs=1 (median of {1 if quick else 3}; "
        "MinMaxScaler and LogisticRegression run as numpy and BLAS do):",
        "",
        markdown_table([search], GRID_COLUMNS),
    ]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits",
                        help="'digits' (default), 'mnist-subset', or a path to an .npz file")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and rounds")
    args = parser.parse_args(argv)
    print(f"torch intra-op threads by default: {torch.get_num_threads()}")
    print("\n".join(section(datasets.load(args.dataset), args.quick)))


if __name__ == "__main__":
    main()
