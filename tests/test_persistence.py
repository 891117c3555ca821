"""skae.save / skae.load: exact round trips, no pickle on the load path, bad files refused."""

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import safetensors.torch
import torch
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

import skae
from skae import Autoencoder, AutoencoderClassifier, AutoencoderOutlierDetector
from skae.extend import BaseAutoencoder

from conftest import ESTIMATOR_CLASSES, quick

each_estimator = pytest.mark.parametrize("estimator_class", ESTIMATOR_CLASSES,
                                         ids=lambda cls: cls.__name__)
AUTOENCODERS = [cls for cls in ESTIMATOR_CLASSES if issubclass(cls, BaseAutoencoder)]
WARM_STARTABLE = [cls for cls in AUTOENCODERS if "warm_start" in cls().get_params()]

# What each estimator computes from rows, compared bit for bit after a round trip.
OUTPUTS = ("transform", "inverse_transform", "score_samples", "predict", "predict_proba",
           "decision_function")


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(60, 16))
    y = np.where(np.arange(60) % 3 == 0, -1, np.arange(60) % 2)
    return X, y


def fitted(estimator_class, X, y, **params):
    estimator = quick(estimator_class, **params)
    if estimator_class is AutoencoderClassifier:
        return estimator.fit(X, y)
    return estimator.fit(X)


def round_trip(estimator, **load_kwargs):
    buffer = io.BytesIO()
    skae.save(estimator, buffer)
    return skae.load(io.BytesIO(buffer.getvalue()), **load_kwargs)


def outputs(estimator, X):
    results = {}
    for name in OUTPUTS:
        if not hasattr(estimator, name):
            continue
        rows = estimator.transform(X) if name == "inverse_transform" else X
        results[name] = getattr(estimator, name)(rows)
    return results


def assert_same_outputs(first, second, X):
    expected, got = outputs(first, X), outputs(second, X)
    assert expected.keys() == got.keys() and expected
    for name in expected:
        assert got[name].dtype == expected[name].dtype, name
        assert np.array_equal(got[name], expected[name]), name


def assert_same_value(a, b, where):
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b), where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_value(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_value(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (int, float, str, bool, np.generic)) or a is None:
        assert a == b or (a != a and b != b), where


def assert_same_fitted_state(original, loaded):
    assert set(vars(loaded)) == set(vars(original))
    for name, value in vars(original).items():
        if name.endswith("_") and not name.startswith("_") and name != "net_":
            assert_same_value(value, vars(loaded)[name], name)
    if "net_" in vars(original):
        assert list(loaded.history_) == list(original.history_)
        for key, tensor in original.module_.state_dict().items():
            assert torch.equal(loaded.module_.state_dict()[key], tensor.cpu()), key


# ------------------------------------------------------------------ round trips
@each_estimator
def test_fitted_estimator_round_trips_exactly(estimator_class, data):
    X, y = data
    original = fitted(estimator_class, X, y)
    loaded = round_trip(original)
    assert type(loaded) is estimator_class
    assert loaded.get_params().keys() == original.get_params().keys()
    assert_same_outputs(original, loaded, X)
    assert_same_outputs(original, loaded, X.astype(np.float32))
    assert_same_fitted_state(original, loaded)


@each_estimator
def test_unfitted_estimator_round_trips(estimator_class):
    original = quick(estimator_class)
    loaded = round_trip(original)
    with pytest.raises(NotFittedError):
        check_is_fitted(loaded)
    assert repr(loaded.get_params(deep=False)) == repr(original.get_params(deep=False))


def test_default_outlier_ensemble_round_trips(data):
    X, _ = data
    original = AutoencoderOutlierDetector(random_state=0).fit(X)
    loaded = round_trip(original)
    assert_same_outputs(original, loaded, X)
    # The detector's autoencoders are its members, not copies of them.
    assert all(a is not b for a, b in zip(loaded.estimators_, original.estimators_))


def test_wrapper_keeps_shared_members_shared(data):
    X, y = data
    loaded = round_trip(fitted(AutoencoderOutlierDetector, X, y))
    assert loaded.autoencoder_ is loaded.estimators_[0]


def test_adam_moments_are_restored(data):
    X, y = data
    original = fitted(Autoencoder, X, y)
    loaded = round_trip(original)
    saved, restored = original.net_.optimizer_.state_dict(), loaded.net_.optimizer_.state_dict()
    assert saved["param_groups"] == restored["param_groups"]
    for index, moments in saved["state"].items():
        for name, tensor in moments.items():
            assert torch.equal(restored["state"][index][name], tensor), (index, name)


@pytest.mark.parametrize("estimator_class", AUTOENCODERS, ids=lambda cls: cls.__name__)
def test_partial_fit_continues_from_the_loaded_state(estimator_class, data):
    X, y = data
    original = fitted(estimator_class, X, y)
    loaded = round_trip(original)
    more = np.random.RandomState(1).uniform(size=(30, 16))
    original.partial_fit(more)
    loaded.partial_fit(more)
    assert_same_outputs(original, loaded, X)
    assert loaded.loss_curve_ == original.loss_curve_


@pytest.mark.parametrize("estimator_class", WARM_STARTABLE, ids=lambda cls: cls.__name__)
def test_warm_start_continues_from_the_loaded_state(estimator_class, data):
    X, y = data
    original = fitted(estimator_class, X, y)
    loaded = round_trip(original)
    for estimator in (original, loaded):
        estimator.set_params(warm_start=True, max_epochs=2).fit(X)
    assert_same_outputs(original, loaded, X)
    assert loaded.n_iter_ == original.n_iter_


def test_save_and_load_a_path(tmp_path, data):
    X, y = data
    original = fitted(Autoencoder, X, y, n_components=3)
    path = tmp_path / "model.skae"
    skae.save(original, path)
    assert sorted(zipfile.ZipFile(path).namelist()) == ["metadata.json", "tensors.safetensors"]
    assert_same_outputs(original, skae.load(str(path)), X)
    # The same model gives the same bytes.
    skae.save(original, tmp_path / "again.skae")
    assert path.read_bytes() == (tmp_path / "again.skae").read_bytes()
    # No temporary file is left beside them.
    assert sorted(os.listdir(tmp_path)) == ["again.skae", "model.skae"]


def test_file_names_the_versions(data):
    X, y = data
    buffer = io.BytesIO()
    skae.save(fitted(Autoencoder, X, y), buffer)
    metadata = json.loads(zipfile.ZipFile(buffer).read("metadata.json"))
    assert metadata["format_version"] == 1
    assert {"skae", "torch", "scikit-learn"} <= set(metadata["versions"])
    assert metadata["estimator"]["class"] == "skae.Autoencoder"


def test_optimizer_class_parameter_round_trips(data):
    X, y = data
    original = fitted(Autoencoder, X, y, optimizer=torch.optim.AdamW)
    loaded = round_trip(original)
    assert loaded.optimizer is torch.optim.AdamW
    more = X[:20]
    original.partial_fit(more)
    loaded.partial_fit(more)
    assert_same_outputs(original, loaded, X)


# ------------------------------------------------------------- a user's network
class UserEncoder(torch.nn.Module):
    def __init__(self, n_features, n_components):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.Tanh(),
                                          torch.nn.Linear(8, n_components))
        self.scale = 0.5

    def forward(self, x):
        return self.layers(x) * self.scale


class UserDecoder(torch.nn.Module):
    def __init__(self, n_features, n_components):
        super().__init__()
        self.linear = torch.nn.Linear(n_components, n_features)

    def forward(self, z):
        return self.linear(z)


def make_user_encoder(n_features, n_components):
    return UserEncoder(n_features, n_components)


def test_own_network_loads_only_when_trusted(data):
    X, y = data
    original = fitted(Autoencoder, X, y, n_components=3, encoder=UserEncoder(16, 3),
                      decoder=UserDecoder(16, 3))
    buffer = io.BytesIO()
    skae.save(original, buffer)
    with pytest.raises(TypeError, match=r"test_persistence\.UserDecoder.*UserEncoder|"
                                        r"UserEncoder.*UserDecoder"):
        skae.load(io.BytesIO(buffer.getvalue()))
    with pytest.raises(TypeError, match="UserDecoder"):
        skae.load(io.BytesIO(buffer.getvalue()), trusted=[UserEncoder])
    loaded = skae.load(io.BytesIO(buffer.getvalue()), trusted=[UserEncoder, UserDecoder])
    assert isinstance(loaded.encoder, UserEncoder) and loaded.encoder.scale == 0.5
    assert_same_outputs(original, loaded, X)
    original.partial_fit(X[:20])
    loaded.partial_fit(X[:20])
    assert_same_outputs(original, loaded, X)


def test_network_factory_needs_trust_too(data):
    X, y = data
    original = fitted(Autoencoder, X, y, n_components=3, encoder=make_user_encoder)
    with pytest.raises(TypeError, match="make_user_encoder"):
        round_trip(original, trusted=[UserEncoder])
    loaded = round_trip(original, trusted=[make_user_encoder, UserEncoder])
    assert loaded.encoder is make_user_encoder
    assert_same_outputs(original, loaded, X)


def test_trusted_takes_objects_not_names(data):
    X, y = data
    with pytest.raises(TypeError, match="not their names"):
        round_trip(fitted(Autoencoder, X, y), trusted=["test_persistence.UserEncoder"])


# ------------------------------------------------------------------- no pickle
NO_PICKLE = textwrap.dedent("""
    import pickle, _pickle, sys, torch, numpy as np
    import skae

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling on the load path")

    # A class rather than a function: modules torch imports lazily subclass
    # Unpickler, and only using one is what the test refuses.
    class RefusingUnpickler(pickle.Unpickler):
        __init__ = refuse

    for module in (pickle, _pickle):
        for name in ("loads", "load"):
            setattr(module, name, refuse)
        module.Unpickler = RefusingUnpickler
    torch.load = torch.serialization.load = refuse
    try:
        pickle.loads(pickle.dumps(1))
    except AssertionError:
        pass
    else:
        raise SystemExit("pickle is still usable")
    X = np.load(sys.argv[2])
    model = skae.load(sys.argv[1])
    print(type(model).__name__, model.transform(X).shape if hasattr(model, "transform")
          else model.predict(X).shape)
""")


@pytest.mark.parametrize("estimator_class", [Autoencoder, AutoencoderClassifier],
                         ids=lambda cls: cls.__name__)
def test_loading_unpickles_nothing(estimator_class, tmp_path, data):
    X, y = data
    path = tmp_path / "model.skae"
    skae.save(fitted(estimator_class, X, y, n_components=3), path)
    np.save(tmp_path / "X.npy", X)
    script = tmp_path / "load.py"
    script.write_text(NO_PICKLE)
    done = subprocess.run([sys.executable, str(script), str(path), str(tmp_path / "X.npy")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == estimator_class.__name__


# ------------------------------------------------------------------------ CUDA
CPU_LOAD = textwrap.dedent("""
    import sys, numpy as np, torch, skae
    assert not torch.cuda.is_available()
    model = skae.load(sys.argv[1])
    assert next(model.module_.parameters()).device.type == "cpu"
    np.save(sys.argv[3], model.transform(np.load(sys.argv[2])))
""")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_model_saved_on_cuda_loads_on_cpu(tmp_path, data):
    X, y = data
    original = fitted(Autoencoder, X, y, device="cuda")
    path = tmp_path / "model.skae"
    skae.save(original, path)
    np.save(tmp_path / "X.npy", X)
    script = tmp_path / "load.py"
    script.write_text(CPU_LOAD)
    done = subprocess.run(
        [sys.executable, str(script), str(path), str(tmp_path / "X.npy"),
         str(tmp_path / "codes.npy")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), original.transform(X),
                               rtol=1e-5, atol=1e-6)
    # Where CUDA is, the model goes back to it and continues training there.
    loaded = skae.load(path)
    assert next(loaded.module_.parameters()).device.type == "cuda"
    assert np.array_equal(loaded.transform(X), original.transform(X))
    loaded.partial_fit(X)


# ------------------------------------------------------------------- bad files
def saved_parts(estimator):
    buffer = io.BytesIO()
    skae.save(estimator, buffer)
    archive = zipfile.ZipFile(buffer)
    return (json.loads(archive.read("metadata.json")),
            safetensors.torch.load(archive.read("tensors.safetensors")))


def archive_of(metadata, tensors):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("tensors.safetensors", safetensors.torch.save(tensors))
    return io.BytesIO(buffer.getvalue())


def find_nodes(node, kind):
    if isinstance(node, list):
        for item in node:
            yield from find_nodes(item, kind)
    elif isinstance(node, dict):
        if node.get("__kind__") == kind:
            yield node
        for value in node.values():
            yield from find_nodes(value, kind)


@pytest.fixture
def saved(data):
    X, y = data
    return saved_parts(fitted(Autoencoder, X, y, n_components=3))


def test_newer_format_version_is_refused(saved):
    metadata, tensors = saved
    metadata["format_version"] = 2
    with pytest.raises(ValueError, match="format version 2.*upgrade skae"):
        skae.load(archive_of(metadata, tensors))


@pytest.mark.parametrize("keep", [0.3, 0.9, 0.999])
def test_truncated_file_is_refused(keep, data):
    X, y = data
    buffer = io.BytesIO()
    skae.save(fitted(Autoencoder, X, y), buffer)
    content = buffer.getvalue()
    with pytest.raises(ValueError, match="truncated or corrupt"):
        skae.load(io.BytesIO(content[: int(keep * len(content))]))


def test_corrupt_weights_are_refused(data):
    X, y = data
    buffer = io.BytesIO()
    skae.save(fitted(Autoencoder, X, y), buffer)
    content = bytearray(buffer.getvalue())
    archive = zipfile.ZipFile(io.BytesIO(bytes(content)))
    member = archive.getinfo("tensors.safetensors")
    # A byte of the stored weights, past the member's local header.
    content[member.header_offset + 100 + member.compress_size // 2] ^= 0xFF
    with pytest.raises(ValueError, match="corrupt"):
        skae.load(io.BytesIO(bytes(content)))


def test_not_a_model_file_is_refused():
    with pytest.raises(ValueError, match="not a zip archive"):
        skae.load(io.BytesIO(b"\x80\x04K\x01."))  # a pickle
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.pkl", b"")
    with pytest.raises(ValueError, match="not metadata.json"):
        skae.load(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "sklearn.svm.SVC"])
def test_class_outside_the_allow_list_is_refused(name, saved):
    metadata, tensors = saved
    next(find_nodes(metadata, "type"))["name"] = name
    with pytest.raises(TypeError, match=f"{name}.*trusted="):
        skae.load(archive_of(metadata, tensors))


def test_estimator_class_outside_the_allow_list_is_refused(saved):
    metadata, tensors = saved
    metadata["estimator"]["class"] = "sklearn.decomposition.PCA"
    with pytest.raises(TypeError, match="sklearn.decomposition.PCA"):
        skae.load(archive_of(metadata, tensors))


def test_tensor_of_another_shape_is_refused(saved):
    metadata, tensors = saved
    node = next(node for node in find_nodes(metadata, "tensor") if node["parameter"])
    tensors[node["key"]] = torch.zeros(node["shape"][0] + 1, *node["shape"][1:])
    with pytest.raises(ValueError, match=f"tensor '{node['key']}'.*declares"):
        skae.load(archive_of(metadata, tensors))


def test_tensor_of_another_dtype_is_refused(saved):
    metadata, tensors = saved
    node = next(find_nodes(metadata, "tensor"))
    tensors[node["key"]] = tensors[node["key"]].double()
    with pytest.raises(ValueError, match="float64"):
        skae.load(archive_of(metadata, tensors))


def test_missing_tensor_is_refused(saved):
    metadata, tensors = saved
    del tensors[next(find_nodes(metadata, "tensor"))["key"]]
    with pytest.raises(ValueError, match="missing|does not list"):
        skae.load(archive_of(metadata, tensors))


def test_optimizer_moments_of_another_shape_are_refused(saved):
    metadata, tensors = saved
    # The moments are declared consistently, but do not fit their parameter.
    moment = next(node for node in find_nodes(metadata["estimator"]["state"], "tensor")
                  if not node["parameter"] and len(node["shape"]) == 2)
    moment["shape"] = [moment["shape"][0], moment["shape"][1] + 1]
    tensors[moment["key"]] = torch.zeros(moment["shape"])
    with pytest.raises(ValueError, match="optimizer state"):
        skae.load(archive_of(metadata, tensors))


def test_malformed_metadata_is_refused(saved):
    metadata, tensors = saved
    metadata["estimator"]["state"] = {"__kind__": "no such kind"}
    with pytest.raises(ValueError, match="no known kind"):
        skae.load(archive_of(metadata, tensors))


def _state_items(metadata):
    return metadata["estimator"]["state"]["items"]


@pytest.mark.parametrize("node, error", [
    ([[1, 2], 3], "malformed.*unhashable"),
    (["_x", {"__kind__": "np_dtype", "str": "nonsense"}], "not a dtype skae.save writes"),
    (["_x", {"__kind__": "tuple", "items": 5}], "items is not a list"),
    (["_x", {"__kind__": "scalar", "dtype": "<f8", "value": "abc"}], "not a number"),
    (["_x", {"__kind__": "ndarray", "id": 9999, "dtype": "<U3", "shape": [5], "items": ["a"]}],
     "holds 1 items"),
    (["_x", {"__kind__": "history", "rows": 5}], "rows is not a list"),
], ids=["list-key", "dtype", "tuple", "scalar", "array", "history"])
def test_a_malformed_node_is_a_bad_file_not_an_untrusted_class(node, error, saved):
    metadata, tensors = saved
    _state_items(metadata).append(node)
    with pytest.raises(ValueError, match=error):
        skae.load(archive_of(metadata, tensors))


def test_json_nested_past_any_recursion_limit_is_a_bad_file(saved):
    metadata, tensors = saved
    _state_items(metadata).append(["_deep", 0])
    text = json.dumps(metadata).replace('["_deep", 0]',
                                        '["_deep", ' + "[" * 100_000 + "]" * 100_000 + "]")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", text)
        archive.writestr("tensors.safetensors", safetensors.torch.save(tensors))
    with pytest.raises(ValueError, match="not valid JSON|malformed|limit"):
        skae.load(io.BytesIO(buffer.getvalue()))


def test_a_format_version_that_is_no_integer_is_refused(saved):
    metadata, tensors = saved
    metadata["format_version"] = True
    with pytest.raises(ValueError, match="format version True is not valid"):
        skae.load(archive_of(metadata, tensors))


def test_an_estimator_is_never_built_without_its_parameters():
    # As a plain object it would skip __init__ and come back half-built.
    metadata, tensors = saved_parts(Autoencoder(2))
    metadata["estimator"] = {"__kind__": "object", "id": 0, "class": "skae.Autoencoder",
                             "state": {"__kind__": "dict", "ordered": False, "items": []}}
    with pytest.raises(ValueError, match="estimator written as a plain object"):
        skae.load(archive_of(metadata, tensors))


def test_a_module_without_its_tables_is_refused():
    metadata, tensors = saved_parts(Autoencoder(2))
    params = metadata["estimator"]["params"]["items"]
    next(item for item in params if item[0] == "encoder")[1] = {
        "__kind__": "object", "id": 77, "class": "torch.nn.Linear",
        "state": {"__kind__": "dict", "ordered": False, "items": []}}
    with pytest.raises(ValueError, match="Linear module's _parameters are missing"):
        skae.load(archive_of(metadata, tensors))


def test_a_fit_on_tensors_loads_with_its_tensors_where_the_net_goes(data):
    from sklearn import config_context

    X, _ = data
    with config_context(array_api_dispatch=True):
        ae = skae.LinearAutoencoder(2, max_epochs=2, random_state=0,
                                    device="cpu").fit(torch.asarray(X))
    loaded = round_trip(ae)
    assert isinstance(loaded.components_, torch.Tensor)
    assert loaded._fit_namespace == ae._fit_namespace
    with config_context(array_api_dispatch=True):
        assert torch.equal(loaded.transform(torch.asarray(X)), ae.transform(torch.asarray(X)))
    # As a fit on CUDA tensors writes it, read where there is no CUDA.
    metadata, tensors = saved_parts(ae)
    next(find_nodes(metadata, "fit_namespace"))["device"] = "cuda:0"
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the tensors would go there")
    loaded = skae.load(archive_of(metadata, tensors))
    assert loaded._fit_namespace.device == "cpu"
    with config_context(array_api_dispatch=True):
        assert torch.equal(loaded.transform(torch.asarray(X)), ae.transform(torch.asarray(X)))


# ------------------------------------------------------------ what save refuses
def test_non_skae_estimator_is_refused():
    with pytest.raises(TypeError, match="skae estimators.*StandardScaler"):
        skae.save(StandardScaler(), io.BytesIO())


def test_unsaveable_values_are_named(data):
    from skorch.callbacks import EpochTimer

    with pytest.raises(TypeError, match="callbacks.*skorch callback"):
        skae.save(quick(Autoencoder, callbacks=[EpochTimer()]), io.BytesIO())
    with pytest.raises(TypeError, match="encoder.*lambda"):
        skae.save(quick(Autoencoder, encoder=lambda n_features, n_components: None),
                  io.BytesIO())


def test_save_leaves_the_estimator_as_it_was(data):
    X, y = data
    estimator = fitted(Autoencoder, X, y)
    before = estimator.transform(X)
    attributes = set(vars(estimator))
    skae.save(estimator, io.BytesIO())
    assert set(vars(estimator)) == attributes
    assert np.array_equal(estimator.transform(X), before)
