"""Model files: ``skae.save`` / ``skae.load`` against ``pickle``, one model of each family.

Each estimator skae exports is fitted briefly on the digits (the weights'
values change neither a file's size nor its load time), then written both
ways in memory. Reported: the bytes of each file and the median seconds of
``skae.load`` and ``pickle.loads``, timed in interleaved rounds so that a
slow spell of a shared machine hits both alike, on one torch thread.
``python -m benchmarks.persistence`` prints the table on its own.
"""

import argparse
import inspect
import io
import pickle
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import skae

from ._common import machine_header, markdown_table, torch_threads

THREADS = 1

# Sizes by parameter name: a family whose parameters are named so needs no
# entry of its own.
_SIZES = {
    "n_components": 8,
    "hidden_layer_sizes": (64,),
    "channels": (8, 16),
    "hidden_size": 32,
    "perplexity": 10,
    "max_epochs": 3,
    "device": "cpu",
    "random_state": 0,
}


def _estimator_classes():
    exported = [getattr(skae, name) for name in skae.__all__]
    return [obj for obj in exported if isinstance(obj, type) and issubclass(obj, BaseEstimator)]


def small(estimator_class):
    """An instance of ``estimator_class`` of a modest size (wrappers: over an Autoencoder)."""
    accepted = inspect.signature(estimator_class).parameters
    settings = {name: value for name, value in _SIZES.items() if name in accepted}
    if "autoencoder" in accepted:
        settings["autoencoder"] = skae.Autoencoder(**{
            name: value for name, value in _SIZES.items()
            if name in inspect.signature(skae.Autoencoder).parameters
        })
    return estimator_class(**settings)


def fitted_models():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    models = []
    with warnings.catch_warnings():
        # A few epochs on purpose: the files, not the fit, are measured.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for estimator_class in _estimator_classes():
            est = small(estimator_class)
            if is_classifier(est):
                est.fit(X[:600], y[:600])
            else:
                est.fit(X[:600])
            models.append(est)
    return models


def _median_seconds(calls, rounds):
    times = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def run(rounds=15):
    rows = []
    with torch_threads(THREADS):
        for est in fitted_models():
            buffer = io.BytesIO()
            skae.save(est, buffer)
            saved = buffer.getvalue()
            pickled = pickle.dumps(est)
            seconds = _median_seconds({
                "skae.load": lambda: skae.load(io.BytesIO(saved)),
                "pickle.loads": lambda: pickle.loads(pickled),
            }, rounds)
            rows.append({
                "estimator": type(est).__name__,
                "skae.save bytes": f"{len(saved):,}",
                "pickle bytes": f"{len(pickled):,}",
                "size ratio": len(saved) / len(pickled),
                "skae.load ms": 1e3 * seconds["skae.load"],
                "pickle.loads ms": 1e3 * seconds["pickle.loads"],
                "time ratio": seconds["skae.load"] / seconds["pickle.loads"],
            })
    return rows


def report(rows):
    return "\n\n".join([
        "## Model files: skae.save against pickle",
        f"One model of each family, fitted on 600 digits; {THREADS} torch thread; "
        "median of interleaved loads. Ratios are skae's over pickle's.",
        markdown_table(rows),
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(machine_header())
    print()
    print(report(run(args.rounds)))


if __name__ == "__main__":
    main()
