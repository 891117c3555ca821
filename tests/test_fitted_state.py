"""One fitted state: every attribute and every dtype's inference describe the current net."""

import io
import os
import pickle
import signal

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from skae import (
    Autoencoder,
    LinearAutoencoder,
    ParametricTSNE,
    SparseAutoencoder,
    TrainingDivergedError,
    TrainingInterrupted,
    TrainingInterruptedWarning,
)

from conftest import ESTIMATOR_CLASSES, quick


def _float64_matches_float32(est, X):
    codes64 = est.transform(X)
    codes32 = est.transform(X.astype(np.float32))
    assert codes64.dtype == np.float64
    assert_allclose(codes64, codes32, atol=1e-4)


def test_float64_inference_follows_every_partial_fit(digits):
    X = digits[0]
    est = Autoencoder(4, hidden_layer_sizes=(16,), learning_rate=3e-3, max_epochs=3,
                      random_state=0, device="cpu")
    scores = []
    for _ in range(4):
        est.partial_fit(X)
        _float64_matches_float32(est, X)
        scores.append(est.score(X))
    assert len(set(scores)) == len(scores)
    assert scores[-1] > scores[0]


def test_float64_inference_follows_a_warm_start_and_a_restored_failure(digits):
    X = digits[0]
    est = Autoencoder(4, hidden_layer_sizes=(16,), max_epochs=2, warm_start=True,
                      random_state=0, device="cpu").fit(X)
    before = est.transform(X)
    est.fit(X)
    _float64_matches_float32(est, X)
    assert np.abs(est.transform(X) - before).max() > 1e-4
    good = est.transform(X)
    est.set_params(learning_rate=1e6)
    with pytest.raises(TrainingDivergedError):
        est.partial_fit(X * 1e3)
    # The weights were put back: float64 inference sees them, not the
    # diverged ones nor a copy taken earlier.
    assert_allclose(est.transform(X), good, atol=1e-12)
    _float64_matches_float32(est, X)


def test_a_user_edit_of_the_weights_reaches_float64_inference(digits):
    X = digits[0][:50]
    est = Autoencoder(3, hidden_layer_sizes=(8,), max_epochs=2, random_state=0,
                      device="cpu").fit(X)
    est.transform(X)
    with torch.no_grad():
        for parameter in est.module_.parameters():
            parameter.mul_(0.5)
    _float64_matches_float32(est, X)


# ---------------------------------------------------------------- pickles
def _tensors_outside_the_nets_mapping(payload):
    """Tensor storages a pickle holds outside skorch's own torch.save buffer.

    skorch pickles a net's module, optimizer and criterion through one
    torch.save buffer, which it maps to the CPU on load; a tensor anywhere
    else is written by torch's plain pickling, one ``_load_from_bytes`` per
    storage.
    """
    count = 0

    class Counting(pickle.Unpickler):
        def find_class(self, module, name):
            found = super().find_class(module, name)
            if (module, name) != ("torch.storage", "_load_from_bytes"):
                return found

            def counted(*args):
                nonlocal count
                count += 1
                return found(*args)

            return counted

    Counting(io.BytesIO(payload)).load()
    return count


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
@pytest.mark.parametrize("estimator_class", ESTIMATOR_CLASSES,
                         ids=lambda cls: cls.__name__)
def test_a_pickle_holds_the_weights_once(estimator_class, schedule, digits, blobs):
    est = quick(estimator_class)
    # The schedule of every net the estimator trains: its own, its inner
    # autoencoder's.
    est.set_params(**{name: schedule for name in est.get_params()
                      if name.endswith("learning_rate_schedule")})
    X, y = digits
    if estimator_class.__name__ == "AutoencoderClassifier":
        est.fit(X[:200], y[:200])
    else:
        est.fit(blobs)
    payload = pickle.dumps(est)
    assert _tensors_outside_the_nets_mapping(payload) == 0
    check_is_fitted(pickle.loads(payload))


# ------------------------------------------------------------ interrupts
class InterruptAt(Callback):
    """Sends a real Ctrl-C to this process at the end of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


def _interrupted(fit):
    with pytest.warns(TrainingInterruptedWarning):
        with pytest.raises(TrainingInterrupted):
            fit()


@pytest.fixture
def default_sigint():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("default_sigint")
def test_an_interrupted_tsne_fit_describes_the_kept_network(blobs):
    est = ParametricTSNE(hidden_layer_sizes=(8,), perplexity=5, max_epochs=6, n_landmarks=16,
                         random_state=0, device="cpu", callbacks=[InterruptAt(2)])
    _interrupted(lambda: est.fit(blobs))
    assert est.n_iter_ == 2
    assert_allclose(est.embedding_, est.transform(blobs), atol=1e-6)
    assert est.kl_divergence_ == est.loss_curve_[-1]
    # A refit interrupted after its own second epoch replaces the map too.
    est.set_params(random_state=1)
    _interrupted(lambda: est.fit(blobs + 1.0))
    assert_allclose(est.embedding_, est.transform(blobs + 1.0), atol=1e-6)
    assert est.kl_divergence_ == est.loss_curve_[-1]


@pytest.mark.usefixtures("default_sigint")
def test_an_interrupted_sparse_fit_keeps_mean_activation_of_the_kept_model(digits):
    X = digits[0][:300]
    est = SparseAutoencoder(8, hidden_layer_sizes=(16,), max_epochs=6, random_state=0,
                            device="cpu", callbacks=[InterruptAt(2)])
    _interrupted(lambda: est.fit(X))
    assert_allclose(est.mean_activation_, est.transform(X).mean(axis=0), atol=1e-6)


# ------------------------------------------------------------ small edges
def test_a_reversed_memmap_view_fits_as_the_reversed_rows_do(tmp_path, digits):
    path = tmp_path / "x.npy"
    np.save(path, digits[0].astype(np.float32))
    mapped = np.load(path, mmap_mode="r")[::-1]
    in_memory = np.ascontiguousarray(mapped)
    settings = dict(hidden_layer_sizes=(8,), max_epochs=2, random_state=0, device="cpu")
    from_file = Autoencoder(3, **settings).fit(mapped)
    assert from_file.n_iter_ == 2
    assert np.isfinite(from_file.transform(in_memory)).all()


@pytest.mark.parametrize("optimizer", [dict, int, "adamw", object()])
def test_an_invalid_optimizer_is_refused_by_name(optimizer, digits):
    est = Autoencoder(2, optimizer=optimizer, max_epochs=1, device="cpu")
    with pytest.raises((TypeError, ValueError), match="optimizer"):
        est.fit(digits[0][:20])
    assert not est.__sklearn_is_fitted__()


@pytest.mark.parametrize("device", [torch.device("cpu", 0), "cpu:0", torch.device("cpu")])
def test_any_cpu_device_is_accepted(device, digits):
    est = Autoencoder(2, hidden_layer_sizes=(4,), max_epochs=1, device=device).fit(digits[0][:20])
    assert next(est.module_.parameters()).device.type == "cpu"


def test_partial_fit_takes_batches_of_any_size_after_the_first(digits):
    X = digits[0]
    est = LinearAutoencoder(3, max_epochs=2, random_state=0, device="cpu").partial_fit(X[:50])
    for i in range(50, 53):
        est.partial_fit(X[i : i + 1])
    assert est.n_samples_seen_ == 53
    # As IncrementalPCA: the first batch still needs n_components rows.
    with pytest.raises(ValueError, match="n_components=3"):
        LinearAutoencoder(3, device="cpu").partial_fit(X[:1])
