"""Training throughput: skae against a hand-written loop, skorch and sklearn.

Every contender trains the same dense autoencoder (same layer sizes, same
activation, Adam at the same learning rate, same batch size, same epochs)
on the same data, in the same process. Each contender gets one untimed
warm-up run; then the contenders take turns, ``repeats`` rounds, so that a
slow spell of a shared machine hits them alike. Times are medians.
"""

import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from skorch import NeuralNetRegressor
from torch import nn

from skae import Autoencoder


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


def hand_written_loop(workload, seed):
    """The loop a user writes: randperm + slicing, default Adam, MSE."""
    torch.manual_seed(seed)
    X = torch.as_tensor(workload.X, dtype=torch.float32)
    model = _torch_mlp(X.shape[1], workload)
    optimizer = torch.optim.Adam(model.parameters(), lr=workload.learning_rate)
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
    return net.fit(X, X)


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
        return mlp.fit(workload.X, workload.X)


def skae_autoencoder(workload, seed):
    """skae's Autoencoder with the workload's settings, no early stop."""
    return Autoencoder(
        workload.n_components,
        hidden_layer_sizes=workload.hidden_layer_sizes,
        batch_size=workload.batch_size,
        max_epochs=workload.max_epochs,
        learning_rate=workload.learning_rate,
        n_iter_no_change=workload.max_epochs + 1,
        device="cpu",
        random_state=seed,
    ).fit(workload.X)


CONTENDERS = {
    "skae Autoencoder": skae_autoencoder,
    "hand-written PyTorch loop": hand_written_loop,
    "skorch NeuralNetRegressor": skorch_default,
    "sklearn MLPRegressor": sklearn_mlp,
}


def measure(workload, repeats=3, contenders=CONTENDERS):
    """Seconds per fit for each contender, and samples/s and ratio to the loop."""
    for train in contenders.values():
        train(workload, seed=0)  # warm-up: imports, allocator, kernels
    times = {name: [] for name in contenders}
    for repeat in range(repeats):
        for name, train in contenders.items():
            start = time.perf_counter()
            train(workload, seed=repeat + 1)
            times[name].append(time.perf_counter() - start)
    seconds = {name: float(np.median(t)) for name, t in times.items()}
    reference = seconds["hand-written PyTorch loop"]
    samples = len(workload.X) * workload.max_epochs
    return [
        {
            "contender": name,
            "seconds": s,
            "samples_per_second": samples / s,
            "ratio_to_loop": s / reference,
        }
        for name, s in seconds.items()
    ]
