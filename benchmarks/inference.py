"""Inference: skae's ``transform`` against a plain no_grad forward of the same module.

Only the public API is used: ``fit``, ``transform``, and ``module_`` with its
``encode``. Two measurements, both on one torch thread (set here, restored
after):

- one row: ``transform`` on a (1, n_features) float32 array against
  ``module_.encode`` on a float32 (1, n_features) tensor under
  ``torch.no_grad()``; median seconds per call;
- many rows: ``transform`` of a large synthetic array against a plain
  float32 ``torch.no_grad()`` forward of ``module_.encode`` in 8,192-row
  chunks written into one preallocated output
  (:func:`benchmarks._common.plain_forward`).
  float64 input is timed too, against the same float32 forward and against
  that forward run in float64 on a float64 copy of the module (made once,
  outside the timing).

Contenders take turns: warm-up calls first (many rows: on an 8,192-row
slice), then interleaved rounds, so that a slow spell of a shared machine
hits them alike; times are medians. The memory these calls add is measured
in fresh processes, by :mod:`benchmarks.memory`: in a long-running process
the allocator's history moves the figure by tens of MB.
``python -m benchmarks.inference [--rows N]`` prints the tables on their own.
"""

import argparse
import copy
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from skae import Autoencoder

from ._common import WARM_UP_ROWS, markdown_table, plain_forward, synthetic, torch_threads

THREADS = 1


def fitted_autoencoder(hidden_layer_sizes, n_components=32, n_features=784, seed=0):
    """An Autoencoder fitted for one epoch on 256 synthetic rows.

    The weights' values do not change the time of a forward pass.
    """
    X = synthetic(256, n_features, seed=seed)
    with warnings.catch_warnings():
        # One epoch on purpose: it is not meant to converge.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Autoencoder(n_components, hidden_layer_sizes=hidden_layer_sizes,
                           batch_size=256, max_epochs=1, device="cpu",
                           random_state=seed).fit(X)


def architecture(estimator):
    """'784-256-32-256-784'-style name of a dense autoencoder's layers."""
    sizes = [estimator.n_features_in_, *estimator.hidden_layer_sizes, estimator.n_components]
    return "-".join(map(str, sizes + sizes[-2::-1]))


def _per_call_seconds(calls, rounds, seconds_per_round, max_calls_per_round=5000):
    """Seconds per call of each callable: every call timed, calls interleaved."""
    times = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up
    for _ in range(rounds):
        for name, call in calls.items():
            round_start = time.perf_counter()
            for _ in range(max_calls_per_round):
                start = time.perf_counter()
                call()
                end = time.perf_counter()
                times[name].append(end - start)
                if end - round_start > seconds_per_round and len(times[name]) >= 3:
                    break
    return {name: (float(np.median(t)), len(t)) for name, t in times.items()}


def one_row(estimators, rounds=5, seconds_per_round=0.2):
    """One report row per estimator: a one-row transform against encode."""
    rows = []
    with torch_threads(THREADS):
        for estimator in estimators:
            x = synthetic(1, estimator.n_features_in_, seed=1)
            x_tensor = torch.from_numpy(x)
            module = estimator.module_

            def encode():
                with torch.no_grad():
                    return module.encode(x_tensor)

            seconds = _per_call_seconds(
                {"transform": lambda: estimator.transform(x), "encode": encode},
                rounds, seconds_per_round,
            )
            (transform, n_transform), (encoded, n_encode) = seconds["transform"], seconds["encode"]
            rows.append({
                "net": architecture(estimator),
                "transform (us)": transform * 1e6,
                "module_.encode (us)": encoded * 1e6,
                "ratio": transform / encoded,
                "calls timed": f"{n_transform} / {n_encode}",
            })
    return rows


def many_rows(estimator, n_rows, rounds=3):
    """Report rows for transform and the plain forward on float32 and float64 input."""
    X32 = synthetic(n_rows, estimator.n_features_in_, seed=2)
    inputs = {"float32": X32, "float64": X32.astype(np.float64)}
    module = estimator.module_
    module64 = _float64_copy(module)
    calls = {
        ("float32", "skae transform"): estimator.transform,
        ("float32", "plain float32 forward"): lambda A: plain_forward(module, A),
        ("float64", "skae transform"): estimator.transform,
        ("float64", "plain float64 forward"): lambda A: plain_forward(module64, A),
    }
    times = {key: [] for key in calls}
    with torch_threads(THREADS):
        for (dtype, contender), call in calls.items():
            call(inputs[dtype][:WARM_UP_ROWS])  # one-time costs on a slice
        for _ in range(rounds):
            for (dtype, contender), call in calls.items():
                start = time.perf_counter()
                call(inputs[dtype])
                times[dtype, contender].append(time.perf_counter() - start)
    seconds = {key: float(np.median(t)) for key, t in times.items()}
    float32_forward = seconds["float32", "plain float32 forward"]
    same_dtype_forward = {"float32": float32_forward,
                          "float64": seconds["float64", "plain float64 forward"]}
    rows = []
    for (dtype, contender), s in seconds.items():
        rows.append({
            "input": dtype,
            "contender": contender,
            "seconds": s,
            "rows per second": n_rows / s,
            "ratio to float32 forward": s / float32_forward,
            "ratio to forward in input dtype": s / same_dtype_forward[dtype],
        })
    return rows


def _float64_copy(module):
    return copy.deepcopy(module).to(torch.float64)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the large array")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    small, large = fitted_autoencoder((256,)), fitted_autoencoder((2048, 1024))
    print(f"torch intra-op threads: {THREADS}\n")
    print(markdown_table(one_row([small, large])))
    print()
    print(markdown_table(many_rows(small, args.rows, rounds=args.rounds)))


if __name__ == "__main__":
    main()
