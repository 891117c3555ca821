"""Two fits side by side in threads against the same two fits one after the other.

``python -m benchmarks.concurrent_fits [--hidden 1024 512]``: two fits of
each family on the digits (64-<hidden>-16, 60 epochs, batch 64, one torch
thread each; ``--hidden`` sets the hidden layers, 32 by default) run
serially and then in two threads, interleaved over rounds; reported: the median seconds of each
and their ratio (1.0: threads gain nothing; 0.5: two cores fully used), and
whether the threaded fits give the same models as the serial ones.
"""

import argparse
import statistics
import threading
import time

import numpy as np
import torch
from sklearn.datasets import load_digits

from skae import Autoencoder, DenoisingAutoencoder

from ._common import machine_header, markdown_table

HIDDEN = (32,)


def _models(family, hidden):
    X = (load_digits().data / 16.0).astype(np.float32)
    return X, [family(n_components=16, hidden_layer_sizes=hidden, max_epochs=60, batch_size=64,
                      device="cpu", random_state=seed) for seed in (0, 1)]


def _serial(X, models):
    start = time.perf_counter()
    for model in models:
        model.fit(X)
    return time.perf_counter() - start


def _threaded(X, models):
    threads = [threading.Thread(target=model.fit, args=(X,)) for model in models]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def run(rounds=3, hidden=HIDDEN):
    torch.set_num_threads(1)
    rows = []
    for family in (Autoencoder, DenoisingAutoencoder):
        serial, threaded, same = [], [], True
        for _ in range(rounds):
            X, first = _models(family, hidden)
            serial.append(_serial(X, first))
            _, second = _models(family, hidden)
            threaded.append(_threaded(X, second))
            same &= all(np.array_equal(a.transform(X), b.transform(X))
                        for a, b in zip(first, second))
        s, t = statistics.median(serial), statistics.median(threaded)
        rows.append({"family": family.__name__, "serial (s)": f"{s:.2f}",
                     "two threads (s)": f"{t:.2f}", "ratio": f"{t / s:.2f}",
                     "same models": "yes" if same else "NO"})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hidden", type=int, nargs="+", default=list(HIDDEN),
                        help="hidden layer sizes of both fits (default 32)")
    args = parser.parse_args(argv)
    print(machine_header())
    print(markdown_table(run(args.rounds, tuple(args.hidden))))


if __name__ == "__main__":
    main()
