"""skae.load against a hostile sender: no import by name, bounded memory, no shadowed methods.

Each case edits a real file written by skae.save, as a sender with bad intent
would, and checks that the load (or the loaded model's methods) refuses it
with a ValueError naming the cause, before anything is imported, built or
allocated. The property-based fuzzer is in test_load_fuzz.py.
"""

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
import sklearn
import torch
from torch import nn

import skae
from skae._array_api import FitNamespace

from conftest import quick


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).uniform(size=(60, 8)).astype(np.float32)


def parts_of(estimator):
    buffer = io.BytesIO()
    skae.save(estimator, buffer)
    archive = zipfile.ZipFile(buffer)
    return archive.read("metadata.json"), archive.read("tensors.safetensors")


def archive(metadata, tensors, *, tensors_compression=zipfile.ZIP_STORED,
            metadata_compression=zipfile.ZIP_DEFLATED):
    if not isinstance(metadata, bytes):
        metadata = json.dumps(metadata).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("metadata.json", metadata, compress_type=metadata_compression)
        out.writestr("tensors.safetensors", tensors, compress_type=tensors_compression)
    return buffer.getvalue()


def state_items(node):
    return node["state"]["items"]


def set_state_entry(node, key, value):
    items = [item for item in state_items(node) if item[0] != key]
    node["state"]["items"] = items + [[key, value]]


def find(node, kind):
    if isinstance(node, list):
        for item in node:
            yield from find(item, kind)
    elif isinstance(node, dict):
        if node.get("__kind__") == kind:
            yield node
        for value in node.values():
            yield from find(value, kind)


# ------------------------------------------------------- imports by name
def test_a_recorded_array_namespace_cannot_name_a_module(X, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    (tmp_path / "skae_hostile_namespace.py").write_text(
        f"open({str(marker)!r}, 'w').write('code from the file ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    metadata, tensors = parts_of(quick(skae.VariationalAutoencoder).fit(X))
    metadata = json.loads(metadata)
    set_state_entry(metadata["estimator"], "_fit_namespace", {
        "__kind__": "fit_namespace", "name": "skae_hostile_namespace", "device": "cpu"})
    with pytest.raises(ValueError, match="array namespace 'skae_hostile_namespace'"):
        skae.load(io.BytesIO(archive(metadata, tensors)))
    assert "skae_hostile_namespace" not in sys.modules
    assert not marker.exists()


def test_a_namespace_record_set_by_hand_imports_nothing(X, tmp_path, monkeypatch):
    # Defence in depth: the record is only ever resolved against a fixed list.
    marker = tmp_path / "ran"
    (tmp_path / "skae_hostile_record.py").write_text(f"open({str(marker)!r}, 'w')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    vae = quick(skae.VariationalAutoencoder).fit(X)
    vae._fit_namespace = FitNamespace("skae_hostile_record", "cpu")
    with sklearn.config_context(array_api_dispatch=True):
        try:
            vae.sample(2)
        except ValueError as error:
            assert "skae_hostile_record" in str(error)
    assert "skae_hostile_record" not in sys.modules
    assert not marker.exists()


# ------------------------------------------------------------ bounded memory
@pytest.fixture(scope="module")
def linear_parts(X):
    metadata, tensors = parts_of(quick(skae.LinearAutoencoder, n_components=2).fit(X))
    return json.loads(metadata), tensors


def with_state_entry(parts, key, value):
    metadata, tensors = parts
    metadata = json.loads(json.dumps(metadata))
    set_state_entry(metadata["estimator"], key, value)
    return archive(metadata, tensors)


@pytest.fixture(scope="module")
def bomb_files(linear_parts):
    return bombs(linear_parts)


def bombs(parts):
    """Small files each of which, read without limits, would allocate hundreds of megabytes
    or gigabytes."""
    metadata, tensors = parts
    text = json.dumps(metadata)
    empty_lists = text[:-1] + ', "pad": [' + ",".join(["[]"] * 1_000_000) + "]}"
    padded = text[:-1] + ', "pad": "' + " " * (60 * 2**20) + '"}'
    return {
        # 512 MiB of zeros deflate to about 0.5 MB.
        "deflated tensors": (archive(metadata, safetensors.torch.save(
            {"t": torch.zeros(2**29, dtype=torch.uint8)}),
            tensors_compression=zipfile.ZIP_DEFLATED), "compressed"),
        "deflated padding": (archive(padded.encode(), tensors), "inflates"),
        "empty lists": (archive(empty_lists.encode(), tensors,
                                metadata_compression=zipfile.ZIP_STORED), "lists or objects"),
        "deep nesting": (with_state_entry(parts, "_x", json.loads("[" * 400 + "]" * 400)),
                         "deeper than"),
        "subarray dtype": (with_state_entry(parts, "_x", {
            "__kind__": "ndarray", "id": 10**6, "dtype": "(15000,15000)f8", "shape": [1],
            "items": [0]}), "dtype"),
        "wide strings": (with_state_entry(parts, "_x", {
            "__kind__": "ndarray", "id": 10**6, "dtype": "<U500000000", "shape": [1],
            "items": ["a"]}), "dtype"),
        "wide but legal strings": (with_state_entry(parts, "_x", {
            "__kind__": "ndarray", "id": 10**6, "dtype": "<U999999", "shape": [1000],
            "items": ["a"] * 1000}), "arrays of strings take"),
        "void scalar": (with_state_entry(parts, "_x", {
            "__kind__": "scalar", "dtype": "V", "value": 2**31 - 1}), "not a number"),
        # Items padded to the longest: 200 x 4 MB from 12.5 kB of text, the
        # rest of the metadata incompressible so that it inflates little.
        "padded strings": (_padded_strings(parts), "arrays of strings take"),
    }


def _padded_strings(parts):
    metadata, tensors = parts
    metadata = json.loads(json.dumps(metadata))
    set_state_entry(metadata["estimator"], "_x", {
        "__kind__": "ndarray", "id": 10**6, "dtype": "<U999999", "shape": [200],
        "items": ["a" * 62500] + [""] * 199})
    metadata["versions"]["padding"] = os.urandom(300_000).hex()
    return archive(metadata, tensors)


@pytest.mark.parametrize("name", ["deflated tensors", "deflated padding", "empty lists",
                                  "deep nesting", "subarray dtype", "wide strings",
                                  "wide but legal strings", "void scalar", "padded strings"])
def test_a_small_bomb_is_refused_naming_the_limit(name, bomb_files):
    data, message = bomb_files[name]
    assert len(data) < 5 * 2**20
    with pytest.raises(ValueError, match=message):
        skae.load(io.BytesIO(data))


def test_loading_bombs_stays_within_a_memory_bound(linear_parts, bomb_files, tmp_path):
    """In a child whose address space is capped a little above its idle size, every bomb
    gets its ValueError, never a MemoryError: the load needs memory proportional to the
    file, with the constant the guide states, not what the file declares."""
    paths = []
    for index, (data, _) in enumerate(bomb_files.values()):
        path = tmp_path / f"bomb{index}.skae"
        path.write_bytes(data)
        paths.append(str(path))
    good = tmp_path / "good.skae"
    metadata, tensors = linear_parts
    good.write_bytes(archive(metadata, tensors))
    script = textwrap.dedent(f"""
        import resource, sys
        import torch
        torch.set_num_threads(1)
        import skae
        skae.load({str(good)!r}).transform([[0.0] * 8])
        with open("/proc/self/status") as status:
            size = dict(line.split(":", 1) for line in status)["VmSize"]
        idle = int(size.split()[0]) * 1024
        # 256 MiB above the idle process, while the bombs are at most 5 MB
        # and would take from 512 MiB to gigabytes.
        resource.setrlimit(resource.RLIMIT_AS, (idle + 256 * 2**20, resource.RLIM_INFINITY))
        for path in {paths!r}:
            try:
                skae.load(path)
            except ValueError:
                print("refused")
            except MemoryError:
                print("MemoryError", path)
        skae.load({str(good)!r})
        print("good")
    """)
    env = dict(os.environ, MALLOC_ARENA_MAX="1", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["refused"] * len(paths) + ["good"]


# ---------------------------------------------------------- what the guide supports
def lazy_networks():
    encoder = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(3))
    decoder = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(8))
    return encoder, decoder


def test_lazy_networks_round_trip_and_are_left_as_given(X):
    encoder, decoder = lazy_networks()
    model = skae.Autoencoder(n_components=3, encoder=encoder, decoder=decoder, max_epochs=2,
                             device="cpu", random_state=0).fit(X)
    buffer = io.BytesIO()
    skae.save(model, buffer)
    loaded = skae.load(io.BytesIO(buffer.getvalue()))
    assert np.array_equal(loaded.transform(X), model.transform(X))
    # The user's parameter is untouched; the file holds the fitted copy's layers.
    assert isinstance(model.encoder[0], nn.LazyLinear)
    assert isinstance(loaded.encoder[0], nn.Linear)
    # A refit from the loaded parameters is the refit from the lazy ones.
    refit = skae.Autoencoder(n_components=3, encoder=encoder, decoder=decoder, max_epochs=2,
                             device="cpu", random_state=0).fit(X)
    assert np.allclose(loaded.fit(X).transform(X), refit.transform(X))


def test_unfitted_lazy_networks_are_refused_naming_the_parameter():
    encoder, decoder = lazy_networks()
    with pytest.raises(TypeError, match=r"\['decoder'\].*lazy layers"):
        skae.save(skae.Autoencoder(n_components=3, encoder=encoder, decoder=decoder),
                  io.BytesIO())


def test_parametrized_modules_are_refused_with_a_type_error(X):
    encoder = nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(8, 3)))
    model = skae.Autoencoder(n_components=3, encoder=encoder, max_epochs=1,
                             device="cpu").fit(X)
    with pytest.raises(TypeError, match=r"\['encoder'\].*parametrized"):
        skae.save(model, io.BytesIO())


# ------------------------------------------------------------ data, never behaviour
@pytest.fixture(scope="module")
def dense_parts(X):
    metadata, tensors = parts_of(quick(skae.Autoencoder, n_components=2).fit(X))
    return json.loads(metadata), tensors


def module_nodes(metadata):
    return [node for node in find(metadata, "object") if node["class"].startswith("skae.nn")]


@pytest.mark.parametrize("key, value, message", [
    ("encode", {"__kind__": "type", "name": "torch.nn.Identity"}, "where skae.save writes data"),
    ("encode", 7, "'encode'"),
    ("forward", [1, 2], "'forward'"),
    ("_compiled_call_impl", {"__kind__": "type", "name": "torch.nn.Identity"},
     "where skae.save writes data"),
    ("__class__", 0, "'__class__'"),
])
def test_a_module_state_key_cannot_shadow_the_class(key, value, message, dense_parts):
    metadata, tensors = json.loads(json.dumps(dense_parts[0])), dense_parts[1]
    node = module_nodes(metadata)[0]
    node["state"]["items"].append([key, value])
    with pytest.raises(ValueError, match=message):
        skae.load(io.BytesIO(archive(metadata, tensors)))


@pytest.mark.parametrize("key, value, message", [
    ("transform", {"__kind__": "type", "name": "torch.nn.Identity"},
     "where skae.save writes data"),
    ("transform", 3, "'transform'"),
    ("_sklearn_output_config", {"__kind__": "dict", "ordered": False,
                                "items": [["transform", "skae_hostile"]]}, "output configuration"),
    ("_metadata_request", 1, "'_metadata_request'"),
    ("_fitted_names", {"__kind__": "tuple", "items": ["n_components"]}, "fitted attributes"),
    ("n_components", 7, "parameter 'n_components'"),
    ("_parameter_constraints", {"__kind__": "dict", "ordered": False, "items": []},
     "'_parameter_constraints'"),
])
def test_an_estimator_state_key_cannot_shadow_the_class(key, value, message, dense_parts):
    metadata, tensors = json.loads(json.dumps(dense_parts[0])), dense_parts[1]
    metadata["estimator"]["state"]["items"].append([key, value])
    with pytest.raises(ValueError, match=message):
        skae.load(io.BytesIO(archive(metadata, tensors)))


def test_a_hook_table_holds_functions_only(dense_parts):
    metadata, tensors = json.loads(json.dumps(dense_parts[0])), dense_parts[1]
    node = module_nodes(metadata)[0]
    for item in node["state"]["items"]:
        if item[0] == "_forward_hooks":
            item[1]["items"].append([0, {"__kind__": "type", "name": "torch.nn.Identity"}])
    with pytest.raises(ValueError, match="_forward_hooks|where skae.save writes data"):
        skae.load(io.BytesIO(archive(metadata, tensors)))


# ------------------------------------------------ cases from the hostile pass
def test_a_module_attribute_cannot_hide_its_parameter(dense_parts):
    """A state key ``weight`` beside the parameter table would be what forward reads."""
    metadata, tensors = json.loads(json.dumps(dense_parts[0])), dense_parts[1]
    tensors = {**safetensors.torch.load(tensors), "hidden": torch.zeros(4, 8)}
    linear = next(node for node in find(metadata, "object")
                  if node["class"] == "torch.nn.Linear")
    linear["state"]["items"].append(["weight", {
        "__kind__": "tensor", "id": 10**6, "key": "hidden", "dtype": "float32",
        "shape": [4, 8], "parameter": False, "requires_grad": False}])
    with pytest.raises(ValueError, match="name its parameters"):
        skae.load(io.BytesIO(archive(metadata, safetensors.torch.save(tensors))))


def test_an_allowed_class_is_refused_where_data_belongs(dense_parts):
    metadata, tensors = json.loads(json.dumps(dense_parts[0])), dense_parts[1]
    linear = next(node for node in find(metadata, "object")
                  if node["class"] == "torch.nn.Linear")
    for item in linear["state"]["items"]:
        if item[0] == "in_features":
            item[1] = {"__kind__": "type", "name": "skae.Autoencoder"}
    with pytest.raises(ValueError, match="where skae.save writes data"):
        skae.load(io.BytesIO(archive(metadata, tensors)))


def test_an_encrypted_member_is_a_bad_file(dense_parts):
    data = bytearray(archive(*dense_parts))
    data[6] |= 1  # the first local header's flags
    directory = data.find(b"PK\x01\x02")
    data[directory + 8] |= 1  # and its central directory entry's
    with pytest.raises(ValueError, match="encrypted|corrupt"):
        skae.load(io.BytesIO(bytes(data)))


def test_a_padded_zip_directory_is_refused_before_it_is_read(dense_parts):
    metadata, tensors = dense_parts
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("metadata.json", json.dumps(metadata))
        out.writestr("tensors.safetensors", tensors)
        for index in range(3000):
            out.writestr(f"x{index}", b"")
    with pytest.raises(ValueError, match="zip directory lists 3,?002 members"):
        skae.load(io.BytesIO(buffer.getvalue()))


def test_a_padded_tensor_header_is_refused_before_it_is_parsed(dense_parts):
    metadata, tensors = dense_parts
    length = int.from_bytes(tensors[:8], "little")
    header = json.loads(tensors[8 : 8 + length])
    header["__metadata__"] = {f"{index:x}": "" for index in range(20_000)}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    padded = len(text).to_bytes(8, "little") + text + tensors[8 + length :]
    with pytest.raises(ValueError, match="header is .* bytes"):
        skae.load(io.BytesIO(archive(metadata, padded)))


def test_long_string_labels_round_trip(X):
    labels = [f"c{index}" for index in range(29)] + ["long label " * 200]
    y = np.array([labels[index % 30] for index in range(len(X))])
    model = skae.AutoencoderClassifier(quick(skae.Autoencoder), max_epochs=2, device="cpu",
                                       random_state=0).fit(X, y)
    buffer = io.BytesIO()
    skae.save(model, buffer)
    loaded = skae.load(io.BytesIO(buffer.getvalue()))
    assert loaded.classes_.dtype == model.classes_.dtype
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_a_files_fitted_names_cannot_make_fit_delete_a_parameter(dense_parts, X):
    metadata, tensors = json.loads(json.dumps(dense_parts[0])), dense_parts[1]
    for item in metadata["estimator"]["state"]["items"]:
        if item[0] == "_fitted_names":
            item[1]["items"] = ["n_components", "net_"]
    with pytest.raises(ValueError, match="fitted attributes"):
        skae.load(io.BytesIO(archive(metadata, tensors)))
