"""ONNX, skae.save and array API dispatch for classes skae never listed.

A plain subclass of a skae estimator defined in this file and the guide's
family written on skae.extend, both defined after skae.onnx was imported,
convert, save and run under dispatch with no registration: the services find classes by the
registry every estimator joins when it is defined.
"""

import io

import numpy as np
import onnxruntime
import pytest
import sklearn
import torch
from skl2onnx import to_onnx

import skae
import skae.onnx  # noqa: F401  (registers the converters, before the classes below exist)


class PlainSubclass(skae.Autoencoder):
    """A user's subclass that changes nothing."""


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).uniform(size=(80, 10))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_plain_subclass_converts_to_onnx(dtype, X):
    model = PlainSubclass(n_components=2, hidden_layer_sizes=(8,), max_epochs=3,
                          device="cpu", random_state=0).fit(X)
    rows = X.astype(dtype)
    graph = to_onnx(model, rows[:1])
    session = onnxruntime.InferenceSession(graph.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    codes = session.run(None, {"X": rows})[0]
    np.testing.assert_allclose(codes, model.transform(rows), atol=1e-5)


def test_the_guide_family_converts_to_onnx(X):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "guide" / "huber_autoencoder.py"
    spec = importlib.util.spec_from_file_location("huber_autoencoder_for_onnx", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.HuberAutoencoder(n_components=2, max_epochs=3, random_state=0).fit(X)
    graph = to_onnx(model, X[:1].astype(np.float32))
    session = onnxruntime.InferenceSession(graph.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    codes = session.run(None, {"X": X.astype(np.float32)})[0]
    np.testing.assert_allclose(codes, model.transform(X.astype(np.float32)), atol=1e-5)


def test_a_plain_subclass_saves_and_loads_bit_for_bit_when_trusted(X):
    model = PlainSubclass(n_components=2, hidden_layer_sizes=(8,), max_epochs=3,
                          device="cpu", random_state=0).fit(X)
    buffer = io.BytesIO()
    skae.save(model, buffer)
    with pytest.raises(TypeError, match="PlainSubclass"):
        skae.load(io.BytesIO(buffer.getvalue()))
    loaded = skae.load(io.BytesIO(buffer.getvalue()), trusted=[PlainSubclass])
    assert type(loaded) is PlainSubclass
    assert np.array_equal(loaded.transform(X), model.transform(X))


def test_a_plain_subclass_runs_under_array_api_dispatch(X):
    rows = torch.from_numpy(X.astype(np.float32))
    with sklearn.config_context(array_api_dispatch=True):
        model = PlainSubclass(n_components=2, hidden_layer_sizes=(8,), max_epochs=3,
                              device="cpu", random_state=0).fit(rows)
        codes = model.transform(rows)
    assert isinstance(codes, torch.Tensor)
    np.testing.assert_allclose(codes.numpy(), model.transform(X.astype(np.float32)),
                               atol=1e-6)


def test_a_class_defined_later_joins_the_registry():
    from skae._registry import estimator_classes

    class DefinedNow(skae.LinearAutoencoder):
        pass

    assert DefinedNow in estimator_classes()
