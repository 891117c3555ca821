"""ONNX export: skl2onnx converts pipelines with skae estimators; onnxruntime agrees."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

onnxruntime = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")
skae_onnx = pytest.importorskip("skae.onnx")

import torch  # noqa: E402

from skae import (  # noqa: E402
    Autoencoder,
    AutoencoderClassifier,
    DenoisingAutoencoder,
    AutoencoderOutlierDetector,
    ConvolutionalAutoencoder,
    LinearAutoencoder,
    ParametricTSNE,
    RecurrentAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)

# The agreement the issue asks for, on float32 inputs; float64 graphs agree
# to float64's rounding.
ATOL = {np.float32: 1e-5, np.float64: 1e-12}


def run_onnx(model, X, options=None):
    """Convert ``model`` for X's dtype and run it in onnxruntime on X."""
    onx = skl2onnx.to_onnx(model, X[:1], options=options)
    session = onnxruntime.InferenceSession(onx.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.fixture
def split(digits):
    X, y = digits
    # Fitted on some rows, compared on others (held-out rows).
    return X[:1000], y[:1000], X[1000:1300].astype(np.float32)


def test_scaler_autoencoder_logistic_regression_pipeline(split):
    X_train, y_train, X_test = split
    pipeline = make_pipeline(
        StandardScaler(),
        Autoencoder(8, hidden_layer_sizes=(32,), max_epochs=5, random_state=0, device="cpu"),
        LogisticRegression(max_iter=500),
    ).fit(X_train.astype(np.float32), y_train)
    labels, probabilities = run_onnx(pipeline, X_test,
                                     options={LogisticRegression: {"zipmap": False}})
    assert_allclose(probabilities, pipeline.predict_proba(X_test), atol=ATOL[np.float32])
    assert_array_equal(labels, pipeline.predict(X_test))


def test_minmax_scaler_linear_autoencoder_pipeline(split):
    X_train, _, X_test = split
    pipeline = make_pipeline(
        MinMaxScaler(), LinearAutoencoder(6, max_epochs=20, random_state=0, device="cpu"),
    ).fit(X_train.astype(np.float32))
    (codes,) = run_onnx(pipeline, X_test)
    expected = pipeline.transform(X_test)
    assert codes.shape == (len(X_test), 6)
    assert_allclose(codes, expected, atol=ATOL[np.float32])


# (class, settings, whether onnxruntime runs the module in float64):
# convolutions and recurrent cells have float32 kernels only, so their
# float64 graphs agree to float32's rounding; ELU and SELU layers are written
# as primitive operators that have float64 kernels.
FAMILY_SETTINGS = [
    pytest.param(LinearAutoencoder, {}, True, id="linear"),
    pytest.param(LinearAutoencoder, {"tied_weights": True}, True, id="linear-tied"),
    pytest.param(LinearAutoencoder, {"whiten": True}, True, id="linear-whiten"),
    pytest.param(Autoencoder, {"hidden_layer_sizes": (16, 8), "activation": "elu"}, True,
                 id="elu"),
    pytest.param(Autoencoder, {"activation": "selu", "tied_weights": True,
                               "output_activation": "sigmoid"}, True, id="selu-tied-sigmoid"),
    pytest.param(Autoencoder, {"activation": "tanh"}, True, id="tanh"),
    pytest.param(Autoencoder, {"hidden_layer_sizes": ()}, True, id="shallow"),
    pytest.param(DenoisingAutoencoder, {}, True, id="denoising"),
    pytest.param(SparseAutoencoder, {}, True, id="sparse"),
    pytest.param(SparseAutoencoder, {"sparsity": "l1"}, True, id="sparse-l1"),
    pytest.param(VariationalAutoencoder, {}, True, id="variational"),
    pytest.param(ConvolutionalAutoencoder, {"channels": (4, 8)}, False, id="conv"),
    pytest.param(RecurrentAutoencoder, {"hidden_size": 8, "sequence_shape": (8, 8),
                                        "cell": "gru"}, False, id="gru"),
    pytest.param(RecurrentAutoencoder, {"hidden_size": 8, "sequence_shape": (8, 8),
                                        "cell": "lstm"}, False, id="lstm"),
]


def _tolerance(dtype, exact_in_float64, scale=1.0):
    exact = dtype == np.float32 or exact_in_float64
    return (ATOL[dtype] if exact else ATOL[np.float32]) * scale


@pytest.mark.parametrize("estimator_class, settings, exact_in_float64", FAMILY_SETTINGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_and_inverse_transform_agree(estimator_class, settings, exact_in_float64,
                                               dtype, split):
    X_train, _, X_test = split
    if "hidden_layer_sizes" in estimator_class().get_params():
        settings = {"hidden_layer_sizes": (16,), **settings}
    estimator = estimator_class(4, max_epochs=3, random_state=0, device="cpu",
                                **settings).fit(X_train)
    X = X_test.astype(dtype)
    (codes,) = run_onnx(estimator, X)
    expected_codes = estimator.transform(X)
    assert codes.dtype == dtype
    scale = max(1.0, np.abs(expected_codes).max())
    assert_allclose(codes, expected_codes, atol=_tolerance(dtype, exact_in_float64, scale),
                    rtol=0)
    (reconstructions,) = run_onnx(estimator, expected_codes,
                                  options={id(estimator): {"method": "inverse_transform"}})
    assert reconstructions.shape == X.shape
    assert_allclose(reconstructions, estimator.inverse_transform(expected_codes),
                    atol=_tolerance(dtype, exact_in_float64, scale), rtol=0)


def test_every_estimator_has_a_converter():
    import skae
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter

    from conftest import ESTIMATOR_CLASSES

    for estimator_class in ESTIMATOR_CLASSES:
        assert get_converter(sklearn_operator_name_map[estimator_class]) is not None
    assert {cls.__name__ for cls in ESTIMATOR_CLASSES} <= set(skae.__all__)


def test_outlier_detector_labels_and_scores_agree(split):
    X_train, _, X_test = split
    detector = AutoencoderOutlierDetector(
        Autoencoder(4, hidden_layer_sizes=(16,), max_epochs=3, device="cpu"),
        contamination=0.1, random_state=0,
    ).fit(X_train)
    # Rows scaled out of the training range, so that both labels occur.
    X = np.vstack([X_test, X_test[:20] * 3]).astype(np.float32)
    labels, scores = run_onnx(detector, X)
    expected = detector.decision_function(X)
    assert_allclose(scores.ravel(), expected, atol=ATOL[np.float32])
    assert set(np.unique(labels)) == {-1, 1}
    # A row within rounding of the threshold may fall either way.
    clear = np.abs(expected) > 1e-5
    assert_array_equal(labels[clear], detector.predict(X)[clear])


TSNE_SETTINGS = [
    pytest.param({}, id="landmarks-pca"),
    pytest.param({"pca_components": None}, id="landmarks"),
    pytest.param({"n_landmarks": None, "activation": "selu"}, id="pca-selu"),
    # Neither: the module folds the standardisation into its first layer.
    pytest.param({"n_landmarks": None, "pca_components": None, "activation": "relu"},
                 id="plain-relu"),
]


@pytest.mark.parametrize("settings", TSNE_SETTINGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parametric_tsne_places_new_rows_as_transform(settings, dtype, split):
    X_train, _, X_test = split
    tsne = ParametricTSNE(max_epochs=3, random_state=0, device="cpu", **settings).fit(X_train)
    X = X_test.astype(dtype)
    (points,) = run_onnx(tsne, X)
    expected = tsne.transform(X)
    assert points.dtype == dtype
    # The map's coordinates are not of unit size: the tolerance follows their
    # extent. torch.onnx writes the module's scalar constants (its scale, the
    # landmarks' gain) in float32, so float64 maps agree to float32's rounding.
    assert_allclose(points, expected, atol=ATOL[np.float32] * np.abs(expected).max(), rtol=0)


def test_scaler_autoencoder_parametric_tsne_pipeline(split):
    X_train, _, X_test = split
    pipeline = make_pipeline(
        StandardScaler(),
        Autoencoder(8, hidden_layer_sizes=(32,), max_epochs=3, random_state=0, device="cpu"),
        ParametricTSNE(max_epochs=3, random_state=0, device="cpu"),
    ).fit(X_train.astype(np.float32))
    (points,) = run_onnx(pipeline, X_test)
    expected = pipeline.transform(X_test)
    assert points.shape == (len(X_test), 2)
    assert_allclose(points, expected, atol=ATOL[np.float32] * np.abs(expected).max(), rtol=0)


@pytest.mark.parametrize("inner", [
    pytest.param(None, id="default-ensemble"),
    pytest.param(VariationalAutoencoder(2, hidden_layer_sizes=(8,)), id="variational"),
    pytest.param(Autoencoder(2, hidden_layer_sizes=(8,), loss="bce",
                             output_activation="sigmoid"), id="bce"),
    pytest.param(ConvolutionalAutoencoder(2, channels=(2,)), id="conv"),
])
def test_outlier_detector_over_any_family_agrees(inner, split):
    X_train, _, X_test = split
    if inner is not None:
        inner.set_params(max_epochs=2, device="cpu")
    detector = AutoencoderOutlierDetector(inner, contamination=0.1, random_state=0).fit(X_train)
    X = np.vstack([X_test, np.clip(X_test[:20] * 3, 0, 1)]).astype(np.float32)
    labels, scores = run_onnx(detector, X)
    expected = detector.decision_function(X)
    assert_allclose(scores.ravel(), expected, atol=ATOL[np.float32] * max(1, np.abs(expected).max()))
    clear = np.abs(expected) > 1e-4
    assert_array_equal(labels[clear], detector.predict(X)[clear])


@pytest.mark.parametrize("inner", [
    pytest.param(Autoencoder(4, hidden_layer_sizes=(16,)), id="dense"),
    pytest.param(ConvolutionalAutoencoder(4, channels=(2,)), id="conv"),
    pytest.param(RecurrentAutoencoder(4, hidden_size=8, sequence_shape=(8, 8), cell="gru"),
                 id="gru"),
])
def test_classifier_over_any_family_agrees(inner, split):
    X_train, y_train, X_test = split
    classifier = AutoencoderClassifier(
        inner.set_params(max_epochs=2, device="cpu"), max_epochs=3, random_state=0,
        device="cpu",
    ).fit(X_train, y_train)
    labels, probabilities = run_onnx(classifier, X_test,
                                     options={id(classifier): {"zipmap": False}})
    assert_allclose(probabilities, classifier.predict_proba(X_test), atol=ATOL[np.float32])
    assert_array_equal(labels, classifier.predict(X_test))


def test_a_module_torch_onnx_cannot_export_raises_naming_it(split):
    X_train, _, X_test = split
    estimator = Autoencoder(2, hidden_layer_sizes=(4,), max_epochs=1, random_state=0,
                            device="cpu").fit(X_train)
    fitted_class = type(estimator.module_)

    class Unexportable(fitted_class):
        def encode(self, x):
            # An operator without an ONNX counterpart.
            return torch.special.bessel_j0(super().encode(x))

    estimator.module_.__class__ = Unexportable
    with pytest.raises(NotImplementedError, match="torch.onnx could not export Unexportable"):
        skl2onnx.to_onnx(estimator, X_test[:1])


@pytest.mark.parametrize(
    "estimator",
    [
        ConvolutionalAutoencoder(6, channels=(4, 8), max_epochs=2, random_state=0,
                                      device="cpu"),
        RecurrentAutoencoder(6, hidden_size=8, sequence_shape=(8, 8), cell="gru",
                                  max_epochs=2, random_state=0, device="cpu"),
        RecurrentAutoencoder(6, hidden_size=8, sequence_shape=(8, 8), cell="lstm",
                                  max_epochs=2, random_state=0, device="cpu"),
    ],
    ids=["conv", "gru", "lstm"],
)
def test_structured_models_export_through_torch_onnx(estimator, digits):
    X = digits[0].astype(np.float32)
    estimator.fit(X[:1200])
    held_out = X[1200:]
    for method, rows, expected in [
        ("transform", held_out, estimator.transform(held_out)),
        ("inverse_transform", estimator.transform(held_out), None),
    ]:
        if expected is None:
            expected = estimator.inverse_transform(rows)
        model = skae_onnx.export_module(estimator, method=method)
        session = onnxruntime.InferenceSession(model.SerializeToString(),
                                               providers=["CPUExecutionProvider"])
        (output,) = session.run(None, {"X": rows})
        assert output.shape == expected.shape
        assert np.abs(output - expected).max() < 1e-5


def test_classifier_converts_with_default_options_as_scikit_learns_do():
    from skae import AutoencoderClassifier

    X = np.random.RandomState(0).rand(60, 5).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    classifier = AutoencoderClassifier(Autoencoder(2, hidden_layer_sizes=(4,), max_epochs=2,
                                                   device="cpu"),
                                       max_epochs=2, random_state=0).fit(X, y)
    graph = skl2onnx.to_onnx(classifier, X[:1])
    session = onnxruntime.InferenceSession(graph.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(None, {"X": X})
    assert_array_equal(labels, classifier.predict(X))
    # The ZipMap's one dict per row, as LogisticRegression's default graph gives.
    assert_allclose([[row[c] for c in classifier.classes_] for row in probabilities],
                    classifier.predict_proba(X), atol=1e-5)


def test_a_map_with_a_decoder_converts_its_inverse_transform():
    from skae import ParametricUMAP

    X = np.random.RandomState(0).rand(60, 5).astype(np.float32)
    umap = ParametricUMAP(max_epochs=2, n_neighbors=5, hidden_layer_sizes=(8,),
                          reconstruction_weight=1.0, device="cpu", random_state=0).fit(X)
    graph = skl2onnx.to_onnx(umap, umap.embedding_[:1],
                             options={"method": "inverse_transform"})
    session = onnxruntime.InferenceSession(graph.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    assert_allclose(session.run(None, {"X": umap.embedding_})[0],
                    umap.inverse_transform(umap.embedding_), atol=1e-5)
