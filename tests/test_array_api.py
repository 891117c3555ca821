"""Array API support: torch tensors and array_api_strict arrays in, the same out."""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn import config_context
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    check_array_api_input_and_values,
    check_array_api_same_namespace,
)

from skae import (
    Autoencoder,
    AutoencoderClassifier,
    AutoencoderOutlierDetector,
    DenoisingAutoencoder,
    LinearAutoencoder,
    ParametricTSNE,
    SparseAutoencoder,
    VariationalAutoencoder,
)

from conftest import ESTIMATOR_CLASSES, quick

def dispatch():
    return config_context(array_api_dispatch=True)


@pytest.mark.parametrize("estimator_class", ESTIMATOR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_estimator_declares_array_api_support(estimator_class):
    assert get_tags(quick(estimator_class)).array_api_support


@pytest.mark.parametrize("estimator_class", ESTIMATOR_CLASSES, ids=lambda cls: cls.__name__)
def test_torch_float64_rows_give_the_numpy_results(estimator_class):
    # scikit-learn's check with values: attributes and every method's output
    # match the NumPy fit's, in torch, on the input's device.
    check_array_api_input_and_values(estimator_class.__name__, quick(estimator_class), "torch",
                                     device_name="cpu", dtype_name="float64")


@pytest.mark.parametrize("estimator_class", ESTIMATOR_CLASSES, ids=lambda cls: cls.__name__)
def test_another_namespace_than_the_fits_is_refused(estimator_class):
    pytest.importorskip("array_api_strict")
    check_array_api_same_namespace(estimator_class.__name__, quick(estimator_class),
                                   "array_api_strict")


def test_a_scaler_linear_autoencoder_ridge_pipeline_runs_on_tensors(digits):
    X, y = digits
    Xt, yt = torch.asarray(X), torch.asarray(y, dtype=torch.float64)
    pipeline = make_pipeline(StandardScaler(), LinearAutoencoder(8, random_state=0),
                             Ridge(solver="svd"))
    expected = clone(pipeline).fit(X, y).predict(X)
    with dispatch():
        pipeline.fit(Xt, yt)
        predictions = pipeline.predict(Xt)
        ae = pipeline[1]
        assert isinstance(ae.transform(pipeline[0].transform(Xt)), torch.Tensor)
    assert isinstance(predictions, torch.Tensor) and predictions.dtype == torch.float64
    assert_allclose(predictions.numpy(), expected, atol=1e-8)
    # The PCA attributes follow the input, as PCA's do.
    for name in ("components_", "mean_", "explained_variance_", "explained_variance_ratio_",
                 "singular_values_"):
        assert isinstance(getattr(ae, name), torch.Tensor), name
    with dispatch():
        pca = PCA(8).fit(StandardScaler().fit_transform(Xt))
    assert type(pca.components_) is type(ae.components_)


def test_tensors_in_float32_stay_float32(digits):
    Xt = torch.asarray(digits[0][:300], dtype=torch.float32)
    with dispatch():
        ae = Autoencoder(4, hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(Xt)
        codes = ae.transform(Xt)
        reconstructions = ae.inverse_transform(codes)
        scores = ae.score_samples(Xt)
        score = ae.score(Xt)
    assert codes.dtype == reconstructions.dtype == scores.dtype == torch.float32
    assert isinstance(score, float)


def test_without_dispatch_behaviour_is_unchanged(digits):
    X = digits[0][:300]
    ae = Autoencoder(4, hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    codes = ae.fit(torch.asarray(X)).transform(torch.asarray(X))
    # NumPy converts the tensor, as before: NumPy out, no namespace recorded.
    assert isinstance(codes, np.ndarray)
    assert ae._fit_namespace is None
    assert_allclose(codes, clone(ae).fit(X).transform(X), atol=1e-6)


def test_a_fit_on_tensors_refuses_numpy_rows_under_dispatch(digits):
    X = digits[0][:300]
    ae = Autoencoder(4, hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    with dispatch():
        ae.fit(torch.asarray(X))
        with pytest.raises(ValueError, match=r"Autoencoder.transform\(\) must use the same"):
            ae.transform(X)
        with pytest.raises(ValueError, match=r"Autoencoder.partial_fit\(\) must use the same"):
            ae.partial_fit(X)
    # Without dispatch, NumPy rows are NumPy rows.
    assert isinstance(ae.transform(X), np.ndarray)


def test_wrappers_answer_in_the_inputs_namespace_their_inner_models_in_numpy(digits):
    X, y = digits
    Xt = torch.asarray(X[:300])
    with dispatch():
        detector = AutoencoderOutlierDetector(random_state=0).fit(Xt)
        labels = detector.predict(Xt)
        classifier = AutoencoderClassifier(quick(Autoencoder, n_components=4), max_epochs=3,
                                           random_state=0).fit(Xt, torch.asarray(y[:300]))
        predicted = classifier.predict(Xt)
        accuracy = classifier.score(Xt, torch.asarray(y[:300]))
    assert isinstance(labels, torch.Tensor) and isinstance(predicted, torch.Tensor)
    assert isinstance(accuracy, float)
    # The inner autoencoders were trained on NumPy rows: they hold no tensors of X.
    assert all(member._fit_namespace is None for member in detector.estimators_)
    assert classifier.autoencoder_._fit_namespace is None
    # String labels stay NumPy's, as scikit-learn's classifiers keep them.
    names = np.array(["even", "odd"])[y[:300] % 2]
    with dispatch():
        strings = clone(classifier).fit(Xt, names).predict(Xt)
    assert isinstance(strings, np.ndarray) and strings.dtype.kind == "U"


def test_a_family_written_on_the_extension_contract_gets_it_too(digits):
    # Methods a subclass defines are wrapped when the class is created.
    class Shouting(Autoencoder):
        def transform(self, X):
            return 2 * super().transform(X)

    X = digits[0][:200]
    est = Shouting(3, hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    with dispatch():
        codes = est.fit(torch.asarray(X)).transform(torch.asarray(X))
    assert isinstance(codes, torch.Tensor)
    assert_allclose(codes.numpy(), est.transform(X), atol=1e-6)


def test_a_fit_on_tensors_pickles(digits):
    X = digits[0][:200]
    with dispatch():
        ae = LinearAutoencoder(3, random_state=0).fit(torch.asarray(X))
    loaded = pickle.loads(pickle.dumps(ae))
    with dispatch():
        assert_allclose(loaded.transform(torch.asarray(X)).numpy(),
                        ae.transform(torch.asarray(X)).numpy())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_tensors_in_cuda_tensors_out(digits):
    X, y = digits
    Xt = torch.asarray(X, device="cuda")
    with dispatch():
        pipeline = make_pipeline(StandardScaler(), LinearAutoencoder(8, random_state=0),
                                 Ridge(solver="svd")).fit(Xt, torch.asarray(y, dtype=torch.float64,
                                                                device="cuda"))
        predictions = pipeline.predict(Xt)
    assert predictions.device.type == "cuda"
    assert pipeline[1].components_.device.type == "cuda"


@pytest.mark.parametrize("estimator_class", [
    Autoencoder, DenoisingAutoencoder, SparseAutoencoder, VariationalAutoencoder,
    LinearAutoencoder,
], ids=lambda cls: cls.__name__)
def test_tensor_rows_never_pass_through_numpy(estimator_class, digits, monkeypatch):
    # Where the rows are a CUDA tensor, any conversion to NumPy would be a
    # copy to the host: record every conversion of a tensor with X's rows.
    X = torch.asarray(digits[0][:400])
    converted = []

    def recording(original):
        def convert(array, *args, **kwargs):
            if isinstance(array, torch.Tensor):
                converted.append(tuple(array.shape))
            return original(array, *args, **kwargs)
        return convert

    monkeypatch.setattr(torch.Tensor, "numpy", recording(torch.Tensor.numpy))
    monkeypatch.setattr(torch.Tensor, "__array__", recording(torch.Tensor.__array__))
    monkeypatch.setattr(np, "from_dlpack", recording(np.from_dlpack))
    est = quick(estimator_class, n_components=4, pretrain=None)
    with dispatch():
        est.fit(X)
        codes = est.transform(X)
        est.inverse_transform(codes)
        est.score_samples(X)
        est.score(X)
        est.partial_fit(X[:100])
    assert isinstance(codes, torch.Tensor)
    assert not [shape for shape in converted if shape and shape[0] in (len(X), 100)], converted


def test_layerwise_pretraining_trains_on_tensor_rows(digits):
    X = torch.asarray(digits[0][:300])
    est = Autoencoder(4, hidden_layer_sizes=(16, 8), pretrain="layerwise", max_epochs=2,
                      random_state=0, device="cpu")
    with dispatch():
        codes = est.fit(X).transform(X)
    assert_allclose(codes.numpy(), clone(est).fit(X.numpy()).transform(X.numpy()), atol=1e-6)
    assert len(est.pretraining_loss_curves_) == 3


def test_tensor_attributes_of_a_cuda_fit_load_on_the_cpu_where_there_is_no_cuda(
        digits, monkeypatch):
    # A CUDA fit's pickle, as __getstate__ writes it, read where CUDA is absent.
    X = torch.asarray(digits[0][:200])
    with dispatch():
        ae = LinearAutoencoder(3, random_state=0).fit(X)
    state = ae.__getstate__()
    state["_tensor_devices"] = {"components_": "cuda:0", "mean_": "cuda:0"}
    state["_fit_namespace"] = state["_fit_namespace"]._replace(device="cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = LinearAutoencoder.__new__(LinearAutoencoder)
    loaded.__setstate__(state)
    assert loaded.components_.device.type == "cpu"
    with dispatch():
        assert_allclose(loaded.transform(X).numpy(), ae.transform(X).numpy())


def test_tensors_that_require_grad_are_data(digits):
    X = torch.asarray(digits[0][:200]).requires_grad_()
    with dispatch():
        for est in (LinearAutoencoder(3, random_state=0), quick(Autoencoder, n_components=3),
                    quick(ParametricTSNE)):
            est.fit(X)
            assert not est.transform(X).requires_grad


def test_variational_samples_come_in_the_fits_namespace(digits):
    X = torch.asarray(digits[0][:200])
    with dispatch():
        vae = quick(VariationalAutoencoder, n_components=3).fit(X)
        samples = vae.sample(4, random_state=0)
    assert isinstance(samples, torch.Tensor) and samples.shape == (4, 64)
    assert_allclose(samples.numpy(), vae.sample(4, random_state=0))


def test_pickling_leaves_the_estimator_as_it_was(digits):
    with dispatch():
        ae = LinearAutoencoder(3, random_state=0).fit(torch.asarray(digits[0][:200]))
    before = dict(vars(ae))
    pickle.dumps(ae)
    assert vars(ae).keys() == before.keys()
    assert all(vars(ae)[name] is value for name, value in before.items())


def test_a_row_method_from_a_users_mixin_is_wrapped_too(digits):
    class Doubled:
        def transform(self, X):
            return 2 * super().transform(X)

    class DoubledAutoencoder(Doubled, Autoencoder):
        pass

    X = digits[0][:200]
    est = DoubledAutoencoder(3, hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    with dispatch():
        codes = est.fit(torch.asarray(X)).transform(torch.asarray(X))
        with pytest.raises(ValueError, match="must use the same namespace"):
            est.transform(X)
    assert isinstance(codes, torch.Tensor)
