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

from torch import nn

import skae
import skae.onnx  # noqa: F401  (registers the converters, before the classes below exist)
from skae.extend import BaseAutoencoder, TrainingSpec
from skae.nn import AutoencoderOutput


class PlainSubclass(skae.Autoencoder):
    """A user's subclass that changes nothing."""


class _ShallowModule(nn.Module):
    """One linear layer each way, with skae's module contract."""

    def __init__(self, n_features, n_components):
        super().__init__()
        self.n_features, self.n_components = n_features, n_components
        self.encoder = nn.Linear(n_features, n_components)
        self.decoder = nn.Linear(n_components, n_features)

    def encode(self, x):
        return torch.tanh(self.encoder(x))

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        code = self.encode(x)
        return AutoencoderOutput(reconstruction=self.decode(code), code=code)


class ShallowTanhAutoencoder(BaseAutoencoder):
    """A family written here, on skae.extend alone: tanh codes, one layer each way."""

    def __init__(self, n_components=2, *, optimizer="adam", learning_rate=0.01,
                 learning_rate_schedule="constant", batch_size=32, max_epochs=5,
                 weight_decay=0.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, random_state=None, device="cpu", verbose=0,
                 callbacks=None, precision="float32", warm_start=False):
        self.n_components = n_components
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.callbacks = callbacks
        self.precision = precision
        self.warm_start = warm_start

    def training_spec(self, X, y=None, *, fitted_module=None, streaming=False):
        module = fitted_module or _ShallowModule(X.shape[1], self.n_components)
        return TrainingSpec(module=module, epochs=self.max_epochs)

    def fitted_attributes(self, net, X, spec):
        return {"n_components_": self.n_components}


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


FAMILIES = [
    lambda: PlainSubclass(n_components=2, hidden_layer_sizes=(8,), max_epochs=3, device="cpu",
                          random_state=0),
    lambda: ShallowTanhAutoencoder(n_components=2, random_state=0),
]


@pytest.mark.parametrize("make", FAMILIES, ids=["subclass", "family"])
def test_fits_converts_saves_and_runs_under_dispatch_with_no_registration(make, X):
    model = make().fit(X)
    for dtype in (np.float32, np.float64):
        rows = X.astype(dtype)
        graph = to_onnx(model, rows[:1])
        session = onnxruntime.InferenceSession(graph.SerializeToString(),
                                               providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(session.run(None, {"X": rows})[0], model.transform(rows),
                                   atol=1e-5)
    buffer = io.BytesIO()
    skae.save(model, buffer)
    trusted = [type(model), _ShallowModule]
    loaded = skae.load(io.BytesIO(buffer.getvalue()), trusted=trusted)
    assert np.array_equal(loaded.transform(X), model.transform(X))
    with sklearn.config_context(array_api_dispatch=True):
        tensor_model = make().fit(torch.from_numpy(X.astype(np.float32)))
        codes = tensor_model.transform(torch.from_numpy(X.astype(np.float32)))
    assert isinstance(codes, torch.Tensor)


class RedefinedTransform(skae.Autoencoder):
    """A subclass whose transform is not its module's encode."""

    def transform(self, X):
        return super().transform(X) * 2


def test_a_subclass_that_redefines_transform_is_not_exported_as_the_module(X):
    model = RedefinedTransform(n_components=2, hidden_layer_sizes=(8,), max_epochs=2,
                               device="cpu", random_state=0).fit(X)
    with pytest.raises(NotImplementedError, match="redefines transform"):
        to_onnx(model, X[:1].astype(np.float32))
