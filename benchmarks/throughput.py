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
"""

import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from skorch import NeuralNetRegressor
from skorch.callbacks import Callback
from threadpoolctl import threadpool_info
from torch import nn

from skae import Autoencoder

from ._common import torch_threads


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
    return [
        {
            "contender": name,
            "threads": threads[name],
            "seconds": s,
            "samples_per_second": samples / s,
            "ratio_to_loop": s / seconds[LOOP],
            "ratio_to_expert_loop": s / seconds[EXPERT_LOOP],
        }
        for name, s in seconds.items()
    ]
