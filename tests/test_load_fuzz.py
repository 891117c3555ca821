"""A fuzzer for skae.load: real files of every estimator, mutated as a hostile sender would.

Each example takes the file of one estimator and changes its JSON (a node
replaced, added, deleted, retyped, nested, swapped with another, a field
given another type) or its zip archive (a member recompressed, duplicated,
truncated, padded, a byte flipped). Loading it must return a model or raise
``ValueError`` / ``TypeError`` and nothing else; no module may be imported
that was not before; and a model it returns must run its methods, with and
without array API dispatch, importing nothing either (a method may raise:
a file may hold nonsense that still passes as data, such as NaN weights).

``make test`` runs a short pass (``SKAE_FUZZ_EXAMPLES``, default 150);
``python -m benchmarks.fuzz_load --examples N`` runs a long one. The memory
bound is checked on the bombs of test_persistence_hostile.py.
"""

import copy
import functools
import io
import json
import os
import sys
import warnings
import zipfile

import numpy as np
import sklearn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import skae
from skae._persistence import _KINDS

from conftest import ESTIMATOR_CLASSES, quick

EXAMPLES = int(os.environ.get("SKAE_FUZZ_EXAMPLES", "150"))
METHODS = ("transform", "inverse_transform", "score_samples", "predict", "predict_proba",
           "decision_function", "sample")


def _fit(estimator_class, X):
    estimator = quick(estimator_class)
    if estimator_class is skae.AutoencoderClassifier:
        return estimator.fit(X, np.where(np.arange(len(X)) % 3 == 0, -1, np.arange(len(X)) % 2))
    return estimator.fit(X)


def _run_methods(model, X):
    """Every method of the model on X, with and without dispatch; errors are the model's."""
    for dispatch in (False, True):
        with sklearn.config_context(array_api_dispatch=dispatch), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in METHODS:
                method = getattr(model, name, None)
                if method is None:
                    continue
                try:
                    if name == "sample":
                        method(2)
                    elif name == "inverse_transform":
                        method(model.transform(X))
                    else:
                        method(X)
                except Exception:  # a mutated model may hold nonsense; it only must not import
                    pass


@functools.lru_cache(maxsize=1)
def _files():
    """The bytes of a fitted and an unfitted file of every estimator, and rows to run them on.

    Cached rather than a fixture, so that a failing example prints the
    mutation, not every file."""
    X = np.random.RandomState(0).uniform(size=(48, 16)).astype(np.float32)
    saved = {}
    for estimator_class in ESTIMATOR_CLASSES:
        for fitted in (True, False):
            estimator = _fit(estimator_class, X) if fitted else quick(estimator_class)
            buffer = io.BytesIO()
            skae.save(estimator, buffer)
            saved[(estimator_class.__name__, fitted)] = buffer.getvalue()
            # Every import a model's methods make on the way is made here,
            # before the fuzzer counts what its examples import.
            _run_methods(skae.load(io.BytesIO(buffer.getvalue())), X)
    return saved, X


# ------------------------------------------------------------------ mutations
KINDS = sorted(_KINDS)
plain = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                  st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                  st.sampled_from(["float32", "<f8", "|O", "<U3", "cpu", "cuda:7", "torch",
                                   "numpy", "os", "skae.Autoencoder", "torch.nn.Linear",
                                   "builtins.eval", "t0", "__class__", "forward"]))
json_values = st.recursive(
    plain,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["__kind__", "id", "key", "dtype", "shape", "items",
                                         "name", "class", "state", "params", "str", "rows"]),
                        children, max_size=4),
        st.builds(lambda kind, extra: {"__kind__": kind, **extra}, st.sampled_from(KINDS),
                  st.dictionaries(st.sampled_from(["id", "key", "dtype", "shape", "items",
                                                   "name", "class", "state", "value"]),
                                  children, max_size=4)),
    ),
    max_leaves=12,
)


def _slots(node, path=()):
    """Every place in the tree a value sits, as a path of keys and indices."""
    yield path
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _slots(item, (*path, index))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _slots(value, (*path, key))


def _get(node, path):
    for step in path:
        node = node[step]
    return node


def _mutate_json(metadata, draw):
    tree = copy.deepcopy(metadata)
    slots = [path for path in _slots(tree) if path]
    path = draw(st.sampled_from(slots))
    parent, last = _get(tree, path[:-1]), path[-1]
    operation = draw(st.sampled_from(
        ["replace", "delete", "add", "retype", "nest", "swap", "retype_field"]))
    if operation == "replace":
        parent[last] = draw(json_values)
    elif operation == "delete":
        del parent[last]
    elif operation == "add":
        if isinstance(parent, list):
            parent.insert(last, draw(json_values))
        else:
            parent[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    elif operation == "retype":
        node = parent[last]
        if isinstance(node, dict) and "__kind__" in node:
            node["__kind__"] = draw(st.sampled_from(KINDS))
        else:
            parent[last] = {"__kind__": draw(st.sampled_from(KINDS)), "items": node}
    elif operation == "nest":
        wrap = draw(st.sampled_from(["list", "tuple", "dict", "deep"]))
        node = parent[last]
        if wrap == "list":
            parent[last] = [node]
        elif wrap == "tuple":
            parent[last] = {"__kind__": "tuple", "items": [node]}
        elif wrap == "dict":
            parent[last] = {"__kind__": "dict", "ordered": False, "items": [["k", node]]}
        else:
            for _ in range(draw(st.integers(50, 400))):
                node = [node]
            parent[last] = node
    elif operation == "swap":
        other = draw(st.sampled_from(slots))
        if other[:len(path)] != path and path[:len(other)] != other:
            parent[last] = copy.deepcopy(_get(tree, other))
    else:  # a field given a value of another type
        parent[last] = draw(st.sampled_from([None, 0, -1, 2**63, 1.5, "x", [], {}, True]))
    return tree


def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info.filename) for info in archive.infolist()}


def _write(members, compression=None):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, how in members:
            archive.writestr(name, data, compress_type=how)
    return buffer.getvalue()


def _mutate_archive(data, draw):
    members = _members(data)
    operation = draw(st.sampled_from(
        ["recompress", "duplicate", "truncate", "pad", "flip", "drop", "rename"]))
    layout = [("metadata.json", members["metadata.json"], zipfile.ZIP_DEFLATED),
              ("tensors.safetensors", members["tensors.safetensors"], zipfile.ZIP_STORED)]
    if operation == "recompress":
        index = draw(st.integers(0, 1))
        name, member, how = layout[index]
        layout[index] = (name, member, draw(st.sampled_from(
            [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])))
        return _write(layout)
    if operation == "duplicate":
        layout.append(layout[draw(st.integers(0, 1))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
            return _write(layout)
    if operation == "drop":
        return _write([layout[draw(st.integers(0, 1))]])
    if operation == "rename":
        index = draw(st.integers(0, 1))
        name = draw(st.text("abcdefghijklmnopqrstuvwxyz._-", min_size=1, max_size=10))
        layout[index] = (name, *layout[index][1:])
        return _write(layout)
    if operation == "truncate":
        return data[:draw(st.integers(0, len(data) - 1))]
    if operation == "pad":
        return data + draw(st.binary(min_size=1, max_size=64))
    position = draw(st.integers(0, len(data) - 1))
    return data[:position] + bytes([data[position] ^ draw(st.integers(1, 255))]) \
        + data[position + 1:]


def _mutated_file(draw):
    saved, _ = _files()
    key = draw(st.sampled_from(sorted(saved)))
    data = saved[key]
    if draw(st.booleans()):
        return _mutate_archive(data, draw)
    members = _members(data)
    metadata = _mutate_json(json.loads(members["metadata.json"]), draw)
    return _write([("metadata.json", json.dumps(metadata).encode(), zipfile.ZIP_DEFLATED),
                   ("tensors.safetensors", members["tensors.safetensors"], zipfile.ZIP_STORED)])


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_mutated_file_loads_or_is_refused_and_imports_nothing(data):
    _, X = _files()
    mutated = _mutated_file(data.draw)
    before = set(sys.modules)
    try:
        model = skae.load(io.BytesIO(mutated))
    except (ValueError, TypeError):
        model = None
    if model is not None:
        _run_methods(model, X)
    imported = set(sys.modules) - before
    assert not imported, f"loading or running a mutated file imported {sorted(imported)}"
