"""CUDA paths; skipped cleanly on machines without a GPU."""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from skorch.callbacks import Callback

from skae import Autoencoder, LinearAutoencoder

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


@pytest.mark.parametrize("estimator_class", [LinearAutoencoder, Autoencoder])
def test_fit_and_transform_on_cuda(estimator_class, digits):
    X, _ = digits
    est = estimator_class(8, max_epochs=5, random_state=0, device="cuda").fit(X)
    assert next(est.module_.parameters()).device.type == "cuda"
    codes = est.transform(X.astype(np.float32))
    assert codes.dtype == np.float32 and isinstance(codes, np.ndarray)
    assert est.loss_curve_[-1] < est.loss_curve_[0]


def test_auto_picks_cuda(digits):
    X, _ = digits
    est = Autoencoder(4, max_epochs=1, device="auto").fit(X)
    assert next(est.module_.parameters()).device.type == "cuda"


def test_same_seed_same_codes_on_cuda(digits):
    X, _ = digits
    first = Autoencoder(8, max_epochs=3, random_state=0, device="cuda").fit(X)
    second = Autoencoder(8, max_epochs=3, random_state=0, device="cuda").fit(X)
    assert_allclose(first.transform(X), second.transform(X), rtol=1e-6, atol=1e-6)


def test_cuda_model_pickles_and_transforms_on_cuda(digits):
    X, _ = digits
    est = Autoencoder(8, max_epochs=2, random_state=0, device="cuda").fit(X)
    restored = pickle.loads(pickle.dumps(est))
    assert_allclose(restored.transform(X), est.transform(X))


def test_cuda_model_loads_and_transforms_where_there_is_no_cuda(digits, tmp_path):
    X, _ = digits
    est = Autoencoder(8, max_epochs=2, random_state=0, device="cuda").fit(X)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(est))
    np.save(tmp_path / "expected.npy", est.transform(X))
    np.save(tmp_path / "X.npy", X)
    child = textwrap.dedent(
        f"""
        import pickle, warnings
        import numpy as np, torch
        assert not torch.cuda.is_available()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = pickle.loads(open({str(tmp_path / "model.pkl")!r}, "rb").read())
        assert est.module_ is est.net_.module_
        assert next(est.module_.parameters()).device.type == "cpu"
        codes = est.transform(np.load({str(tmp_path / "X.npy")!r}))
        np.testing.assert_allclose(codes, np.load({str(tmp_path / "expected.npy")!r}),
                                   rtol=1e-4, atol=1e-5)
        print("LOADED ON CPU;", "; ".join(str(w.message)[:80] for w in caught))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", child],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    print(result.stdout)
    assert "LOADED ON CPU" in result.stdout


class CountBatches(Callback):
    """Acts on every batch, so the net steps eagerly instead of replaying a graph."""

    def initialize(self):
        self.n_batches = 0
        return self

    def on_batch_end(self, net, **kwargs):
        self.n_batches += 1


def test_captured_steps_train_as_eager_steps_do(digits):
    X, _ = digits
    settings = dict(hidden_layer_sizes=(64,), max_epochs=4, random_state=0, device="cuda")
    captured = Autoencoder(8, **settings).fit(X)
    counter = CountBatches()
    eager = Autoencoder(8, callbacks=[counter], **settings).fit(X)
    assert counter.n_batches == 4 * 29
    assert_allclose(captured.loss_curve_, eager.loss_curve_, rtol=1e-4)
    assert_allclose(captured.transform(X), eager.transform(X), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("precision", ["tf32", "bfloat16"])
def test_reduced_precision_reaches_the_float32_error(precision, digits):
    X, _ = digits
    matmul = torch.get_float32_matmul_precision()
    settings = dict(hidden_layer_sizes=(64,), max_epochs=20, random_state=0, device="cuda")
    reference = Autoencoder(8, **settings).fit(X)
    reduced = Autoencoder(8, precision=precision, **settings).fit(X)
    assert torch.get_float32_matmul_precision() == matmul
    assert reduced.score(X) == pytest.approx(reference.score(X), rel=0.05)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_optimizers_that_cannot_be_captured_step_eagerly(optimizer, digits):
    X, _ = digits
    est = Autoencoder(8, optimizer=optimizer, max_epochs=3, random_state=0,
                      device="cuda", precision="bfloat16").fit(X)
    assert est.loss_curve_[-1] < est.loss_curve_[0]


@pytest.mark.parametrize("estimator_class", [LinearAutoencoder, Autoencoder])
def test_non_finite_input_is_refused_on_the_device_before_training(estimator_class, digits):
    X, _ = digits
    X = X.copy()
    X[5, 3] = np.nan
    est = estimator_class(4, max_epochs=2, device="cuda")
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.fit(X)
    assert not hasattr(est, "net_") and not hasattr(est, "n_features_in_")


def test_transform_on_cuda_computes_in_the_input_dtype(digits):
    X, _ = digits
    est = Autoencoder(8, max_epochs=2, random_state=0, device="cuda").fit(X)
    assert est.transform(X.astype(np.float32)).dtype == np.float32
    assert est.transform(X).dtype == np.float64
    assert_allclose(est.transform(X.astype(np.float32)), est.transform(X), rtol=1e-4, atol=1e-5)


def test_layerwise_pretraining_trains_its_stages_on_cuda(digits, monkeypatch):
    import skae._pretraining as pretraining

    X, _ = digits
    devices = []
    original = pretraining.train_stage

    def recording(spec, rows):
        net = original(spec, rows)
        devices.append(next(net.module_.parameters()).device.type)
        return net

    monkeypatch.setattr(pretraining, "train_stage", recording)
    model = Autoencoder(n_components=4, hidden_layer_sizes=(16, 8), pretrain="layerwise",
                        max_epochs=1, device="cuda").fit(X)
    assert devices == ["cuda"] * 3
    assert next(model.module_.parameters()).device.type == "cuda"
