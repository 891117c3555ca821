"""A model file that loading cannot run code from: safetensors weights plus JSON.

A file written by :func:`save` is a zip archive of two members:

``metadata.json``
    The format's name and version, the versions of the libraries that wrote
    it, and the estimator as a tree of typed JSON nodes: plain values, lists,
    tuples, dicts, sets, numpy scalars, dtypes, devices, class names, and
    references to tensors by key.
``tensors.safetensors``
    Every tensor and numeric array of the tree (weights, buffers, optimizer
    moments, fitted arrays), on the CPU, in safetensors.

:func:`load` reads both, checks the version, the JSON's structure, every
tensor's dtype and shape against its declaration and every class name
against an allow-list before it builds anything; then it builds the
estimator from its class and parameters, its torch modules from their
attributes, and its skorch net as the engine does, and loads the net's
optimizer state. Nothing is unpickled and no module is imported by name.
"""

import collections
import contextlib
import copy
import importlib.metadata
import inspect
import json
import math
import os
import re
import tempfile
import zipfile
import zlib

import numpy as np
import torch
from sklearn.base import BaseEstimator
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.history import History

from ._array_api import FitNamespace, is_known_namespace
from ._registry import estimator_classes
from . import nn as skae_nn
from .extend import TorchEstimatorMixin, describe_net, rebuild_net
from .nn import _tsne

__all__ = ["load", "save"]

FORMAT_NAME = "skae"
# Raised whenever a file written by this skae could not be read by an older
# one; load refuses files of a higher number.
FORMAT_VERSION = 1

_METADATA = "metadata.json"
_TENSORS = "tensors.safetensors"
# A fixed timestamp, so that the same model always gives the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

_PLAIN = (type(None), bool, int, float, str)

# The JSON of a model is parameters, attributes and history, never weights:
# a larger member is no skae file (and would inflate without bound).
_MAX_METADATA_BYTES = 256 * 2**20
# Limits that keep a load's memory proportional to the file's size, each
# about twice what any file save writes needs (measured on every family,
# histories of 300 epochs included: metadata deflates 7 to 17 times, holds
# one bracket or brace per 25 bytes, nests 36 deep). A deflated member may
# grow this many times...
_MAX_METADATA_RATIO = 32
# ...its JSON may hold one container ([ or {) per this many bytes, so that
# parsing costs at most about 13 times the text (an empty dict is 64 bytes
# of Python objects for 2 bytes of JSON)...
_MIN_BYTES_PER_CONTAINER = 16
# ...and nest this deep, so that reading the tree recurses a bounded depth.
_MAX_DEPTH = 120
# Arrays of strings are written as JSON items, and numpy pads every item to
# the longest: a file's string arrays may take this many bytes in all...
_TEXT_ARRAY_BYTES = 16 * 2**20
# ...plus this many per character of the metadata's text.
_TEXT_ARRAY_BYTES_PER_CHARACTER = 4

# The dtypes save writes, as numpy spells them: numeric and bool arrays and
# scalars, and strings or objects as arrays of plain items. No void,
# structured or subarray dtype, whose items a file could size at will.
_NUMERIC_DTYPE = re.compile(r"[<>|=]?(b1|[iu][1248]|f[248])\Z")
_TEXT_DTYPE = re.compile(r"[<>|=]?([US]\d{1,6}|O)\Z")

# What malformed JSON raises from the reader's own checks and conversions
# (a list as a dict key, a nonsense dtype, a value of the wrong type, nesting
# deeper than Python recurses): a bad file, not an untrusted class.
_MALFORMED = (KeyError, IndexError, AttributeError, TypeError, ValueError, RecursionError,
              OverflowError)


# ------------------------------------------------------------------ allow-list
def _public_classes(namespace, prefix, base):
    return {
        f"{prefix}.{name}": obj for name, obj in vars(namespace).items()
        if isinstance(obj, type) and issubclass(obj, base) and not name.startswith("_")
    }


def _skae_estimators():
    """skae's own estimator classes, by their public names (``skae.Autoencoder``)."""
    return {
        f"skae.{cls.__name__}": cls for cls in estimator_classes()
        if issubclass(cls, BaseEstimator) and cls.__module__.startswith("skae.")
        and not cls.__name__.startswith("_")
    }


def _allowed():
    """Every class a file may name without the caller trusting it, by name.

    skae's estimators; every torch module defined in ``skae.nn`` (the
    families' modules, built from skae's own code) and the affinity matrix a
    t-SNE loss holds; the public layers and losses of ``torch.nn``; the
    optimizers of ``torch.optim``. Their code ships with the installed
    libraries: a file only chooses which of them to rebuild, with which data.
    """
    allowed = _skae_estimators()
    for submodule in {inspect.getmodule(obj) for obj in vars(skae_nn).values()
                      if isinstance(obj, type)} | {_tsne}:
        for obj in vars(submodule).values():
            if (isinstance(obj, type) and issubclass(obj, torch.nn.Module)
                    and obj.__module__.startswith("skae.nn")):
                allowed[f"skae.nn.{obj.__qualname__}"] = obj
    allowed["skae.nn.NeighbourAffinities"] = _tsne.NeighbourAffinities
    allowed.update(_public_classes(torch.nn, "torch.nn", torch.nn.Module))
    allowed.update(_public_classes(torch.optim, "torch.optim", torch.optim.Optimizer))
    return allowed


def _qualified_name(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def _trusted_names(trusted):
    names = {}
    for obj in trusted:
        if not (isinstance(obj, type) or inspect.isfunction(obj)):
            raise TypeError(
                "trusted takes the classes and functions themselves (such as "
                f"trusted=[MyEncoder]), not their names; got {obj!r}."
            )
        names[_qualified_name(obj)] = obj
    return names


# ---------------------------------------------------------------------- saving
def _refuse(value, where, reason=None):
    hint = reason or (
        "skae.save writes plain values, arrays, tensors, torch modules, skae "
        "estimators and classes or functions defined at a module's top level"
    )
    shown = " ".join(repr(value).split())
    raise TypeError(f"{where} holds {type(value).__name__} {shown:.80}, which "
                    f"skae.save cannot write: {hint}. Save the model with pickle or "
                    "joblib instead, for files you trust.")


class _Writer:
    """Turns an object tree into JSON nodes and a dict of CPU tensors."""

    def __init__(self):
        self.tensors = {}
        self.memo = {}  # id(obj) -> (node id, obj); obj kept alive while writing
        self.materialised = {}  # id(lazy network) -> (network, its fitted copy)
        self.names = {obj: name for name, obj in _allowed().items()}

    def _remember(self, value):
        node_id = len(self.memo)
        self.memo[id(value)] = (node_id, value)
        return node_id

    def write(self, value, where):
        if type(value) in _PLAIN:
            return value
        if isinstance(value, torch.nn.Module) and _holds_lazy_tensors(value):
            value = self._materialised(value, where)
        if id(value) in self.memo:
            return {"__kind__": "ref", "id": self.memo[id(value)][0]}
        if isinstance(value, torch.Tensor):
            return self._tensor(value, where)
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, np.generic):
            if value.dtype.kind not in "biuf":
                _refuse(value, where)
            return {"__kind__": "scalar", "dtype": value.dtype.str, "value": value.item()}
        if isinstance(value, np.dtype):
            if value.kind not in "biufUS":
                _refuse(value, where)
            return {"__kind__": "np_dtype", "str": value.str}
        if isinstance(value, torch.dtype):
            return {"__kind__": "torch_dtype", "name": str(value).removeprefix("torch.")}
        if isinstance(value, torch.device):
            return {"__kind__": "device", "name": str(value)}
        if isinstance(value, type) or inspect.isfunction(value):
            return {"__kind__": "type", "name": self._name(value, where)}
        if isinstance(value, History):
            return {"__kind__": "history", "rows": self.write(list(value), where)}
        if type(value) is list:
            return [self.write(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if type(value) is FitNamespace:
            return {"__kind__": "fit_namespace", "name": value.name, "device": value.device}
        if type(value) is tuple:
            return {"__kind__": "tuple",
                    "items": [self.write(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if type(value) in (dict, collections.OrderedDict):
            return {
                "__kind__": "dict",
                "ordered": type(value) is collections.OrderedDict,
                "items": [[self.write(k, f"{where} key"), self.write(v, f"{where}[{k!r}]")]
                          for k, v in value.items()],
            }
        if type(value) in (set, frozenset):
            items = sorted(value, key=repr)
            return {"__kind__": "set", "frozen": type(value) is frozenset,
                    "items": [self.write(v, f"{where} item") for v in items]}
        if type(value) is np.random.RandomState:
            return {"__kind__": "random_state",
                    "state": self.write(value.get_state(legacy=False), where)}
        if isinstance(value, NeuralNet):
            return self._net(value, where)
        if isinstance(value, BaseEstimator):
            return self._estimator(value, where)
        if isinstance(value, torch.nn.Module) or type(value) in self.names:
            return self._object(value, where)
        if isinstance(value, Callback) or (isinstance(value, type) and issubclass(value, Callback)):
            _refuse(value, where, "a skorch callback is code; set callbacks=None before saving")
        _refuse(value, where)

    def _name(self, obj, where):
        if obj in self.names:
            return self.names[obj]
        if "<" in obj.__qualname__:
            _refuse(obj, where, "a lambda or a class or function defined inside a "
                    "function cannot be found again by name")
        return _qualified_name(obj)

    def _store(self, tensor):
        key = f"t{len(self.tensors)}"
        # A copy on the CPU that shares memory with no other stored tensor,
        # which safetensors requires.
        self.tensors[key] = tensor.detach().to("cpu", copy=True).contiguous()
        return key

    def _tensor(self, tensor, where):
        if tensor.layout != torch.strided or tensor.is_meta or tensor.is_complex():
            _refuse(tensor, where, "only dense real tensors are written")
        node_id = self._remember(tensor)
        return {
            "__kind__": "tensor", "id": node_id, "key": self._store(tensor),
            "dtype": str(tensor.dtype).removeprefix("torch."), "shape": list(tensor.shape),
            "parameter": isinstance(tensor, torch.nn.Parameter),
            "requires_grad": bool(tensor.requires_grad),
        }

    def _array(self, array, where):
        node_id = self._remember(array)
        node = {"__kind__": "ndarray", "id": node_id, "dtype": array.dtype.str,
                "shape": list(array.shape)}
        if array.dtype.kind in "biuf":
            native = array.astype(array.dtype.newbyteorder("="), copy=False)
            node["key"] = self._store(torch.from_numpy(np.ascontiguousarray(native)))
        elif array.dtype.kind in "USO":
            items = array.ravel().tolist()
            if not all(type(item) in _PLAIN for item in items):
                _refuse(array, where, "an object array is written only when it holds "
                        "plain values (strings, numbers)")
            node["items"] = items
        else:
            _refuse(array, where)
        return node

    def _object(self, obj, where):
        if isinstance(obj, torch.nn.Module):
            _check_module_writable(obj, where)
        try:
            state = obj.__getstate__() if hasattr(obj, "__getstate__") else vars(obj)
        except Exception as error:  # an object that refuses to be serialised, in its words
            _refuse(obj, where, f"{type(error).__name__}: {error}")
        if not isinstance(state, dict):
            _refuse(obj, where, "its state is not a dict of attributes")
        node_id = self._remember(obj)
        return {"__kind__": "object", "id": node_id,
                "class": self._name(type(obj), where),
                "state": self.write(dict(state), f"{where}.{type(obj).__name__}")}

    def _materialised(self, module, where):
        if id(module) not in self.materialised:
            _refuse(module, where, "its lazy layers are not initialised yet; fit the "
                    "estimator, or give the layers their input sizes, before saving it")
        return self.materialised[id(module)][1]

    def _find_fitted_copies(self, estimator):
        """Each network parameter with lazy layers, and the fitted copy the estimator's net holds.

        A lazy layer learns its shape at its first forward pass, which the fit
        runs on its own copy of the network: a copy of that one, a separate
        object, is written in its place wherever the network appears (a refit
        re-draws the weights under the seed all the same). The user's network
        itself is never changed. The copy is the fitted module's submodule of
        the parameter's name, or else its one submodule of the same structure.
        """
        fitted = getattr(estimator, "module_", None)
        if not isinstance(fitted, torch.nn.Module):
            return
        for name, value in estimator.get_params(deep=False).items():
            if not (isinstance(value, torch.nn.Module) and _holds_lazy_tensors(value)):
                continue
            wanted = _structure(value)
            named = getattr(fitted, name, None)
            candidates = ([named] if isinstance(named, torch.nn.Module)
                          and _structure(named) == wanted else
                          [sub for sub in fitted.modules() if _structure(sub) == wanted])
            candidates = [sub for sub in candidates if not _holds_lazy_tensors(sub)]
            if len(candidates) == 1:
                self.materialised[id(value)] = (value, copy.deepcopy(candidates[0]))

    def _estimator(self, estimator, where):
        self._find_fitted_copies(estimator)
        node_id = self._remember(estimator)
        params = estimator.get_params(deep=False)
        state = {k: v for k, v in vars(estimator).items() if k not in params}
        name = type(estimator).__name__
        return {"__kind__": "estimator", "id": node_id,
                "class": self._name(type(estimator), where),
                "params": self.write(params, f"{where}{name}"),
                "state": self.write(state, f"{where}{name}")}

    def _net(self, net, where):
        try:
            description = describe_net(net)
        except TypeError as error:
            _refuse(net, where, str(error))
        node_id = self._remember(net)
        where = f"{where}.net_"
        return {
            "__kind__": "net", "id": node_id,
            "module": self.write(description["module"], f"{where}.module_"),
            "criterion": self.write(description["criterion"], f"{where}.criterion"),
            "criterion_params": self.write(description["criterion_params"], where),
            "optimizer": self.write(description["optimizer"], f"{where}.optimizer"),
            "optimizer_params": self.write(description["optimizer_params"], where),
            "device": description["device"],
            "settings": self.write(description["settings"], where),
            "optimizer_state": self.write(net.optimizer_.state_dict(), f"{where}.optimizer_"),
            "history": self.write(net.history_, f"{where}.history_"),
        }


def _check_module_writable(module, where):
    if torch.nn.utils.parametrize.is_parametrized(module):
        _refuse(module, where, "a parametrized module (torch.nn.utils.parametrize, such as "
                "weight_norm or spectral_norm) is rebuilt only by code; remove its "
                "parametrizations (torch.nn.utils.parametrize.remove_parametrizations) first")
    if _holds_lazy_tensors(module, recurse=False):
        _refuse(module, where, "its lazy layers are not initialised yet; fit the estimator, "
                "or give the layers their input sizes, before saving it")


def _holds_lazy_tensors(module, recurse=True):
    tensors = [*module.parameters(recurse=recurse), *module.buffers(recurse=recurse)]
    return any(torch.nn.parameter.is_lazy(tensor) for tensor in tensors)


def _structure(module):
    """Names and classes of a module's tree, a lazy layer standing for the layer it becomes."""
    return tuple((name, getattr(type(sub), "cls_to_become", None) or type(sub))
                 for name, sub in module.named_modules())


def _safetensors():
    # An optional dependency: skae imports without it.
    try:
        import safetensors.torch
    except ImportError as error:
        raise ImportError(
            "skae.save and skae.load need safetensors: pip install 'skae[safe]'."
        ) from error
    return safetensors.torch


def _versions():
    versions = {}
    for package in ("skae", "torch", "scikit-learn", "skorch", "numpy", "safetensors"):
        versions[package] = importlib.metadata.version(package)
    return versions


def save(estimator, file):
    """Write a skae estimator to a file that :func:`load` reads without pickle.

    The file is a zip archive holding ``metadata.json`` (the estimator's
    class, parameters and fitted attributes as typed JSON, the format
    version, and the versions of skae, torch, scikit-learn, skorch, numpy
    and safetensors) and ``tensors.safetensors`` (every weight, buffer,
    optimizer moment and numeric array, on the CPU). Fitted and unfitted
    estimators are written, the classifier and outlier detector with their
    autoencoders. The estimator is not changed. Read more in the
    :ref:`User Guide <saving>`.

    Parameters
    ----------
    estimator : estimator instance
        An instance of one of skae's estimators (a subclass of one is written
        too, and loads only when the caller trusts it).
    file : str, os.PathLike or binary file object
        Where to write. A path is written to a temporary file beside it,
        then renamed, so that no half-written file is ever left there.

    Raises
    ------
    TypeError
        If ``estimator`` is not a skae estimator, or holds a value that the
        format cannot carry: a skorch callback, a lambda or a function
        defined inside another function, an arbitrary object. The message
        names where it was found.

    See Also
    --------
    load : Read the file back.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import skae
    >>> X = np.random.RandomState(0).normal(size=(50, 6))
    >>> ae = skae.Autoencoder(n_components=2, hidden_layer_sizes=(4,),
    ...                       max_epochs=2, device="cpu", random_state=0).fit(X)
    >>> buffer = io.BytesIO()
    >>> skae.save(ae, buffer)
    >>> loaded = skae.load(io.BytesIO(buffer.getvalue()))
    >>> bool(np.array_equal(loaded.transform(X), ae.transform(X)))
    True
    """
    # skae's estimators, and families written on skae.extend (their classes
    # load with trusted=).
    if not isinstance(estimator, (*_skae_estimators().values(), TorchEstimatorMixin)):
        raise TypeError(
            "skae.save writes skae estimators (the classes of skae.__all__ and families "
            "written on skae.extend); got "
            f"{type(estimator).__name__}. A Pipeline or a scikit-learn estimator is "
            "saved by other means: see the User Guide page 'Saving and sharing models'."
        )
    safetensors_torch = _safetensors()
    writer = _Writer()
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "estimator": writer.write(estimator, ""),
    }
    text = json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))
    tensors = safetensors_torch.save(writer.tensors, metadata={"format": FORMAT_NAME})
    if isinstance(file, (str, os.PathLike)):
        _write_atomically(os.fspath(file), text, tensors)
    else:
        _write_archive(file, text, tensors)


def _write_archive(file, text, tensors):
    with zipfile.ZipFile(file, "w") as archive:
        archive.writestr(zipfile.ZipInfo(_METADATA, _ZIP_DATE), text.encode("utf-8"),
                         compress_type=zipfile.ZIP_DEFLATED)
        # Weights hardly compress; stored as they are, they read at disk speed.
        archive.writestr(zipfile.ZipInfo(_TENSORS, _ZIP_DATE), tensors,
                         compress_type=zipfile.ZIP_STORED)


def _write_atomically(path, text, tensors):
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as out:
            _write_archive(out, text, tensors)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# --------------------------------------------------------------------- loading
class _BadFile(ValueError):
    """A file that is not a readable skae model file (raised as ValueError)."""




def _check_tree(root, trusted_names=frozenset(), text_length=0):
    """Every node well formed; returns the class names and the declared tensors.

    The schema is closed: a node is a plain JSON value, a list, or a dict of
    one of the kinds save writes, with the fields of its kind, each of the
    type save writes; dtypes from a fixed list; array namespaces from a
    fixed list; nesting at most ``_MAX_DEPTH`` deep. A class or function is
    named only where save writes one (the net's criterion and optimizer, an
    estimator's parameters and the record of them its fit keeps), or, when
    it is one the caller trusts, anywhere. Arrays of strings hold at most
    ``_TEXT_ARRAY_BYTES`` plus ``_TEXT_ARRAY_BYTES_PER_CHARACTER`` bytes per
    character of the JSON. Nothing is built here.
    """
    names, tensors, ids = set(), {}, []
    text_bytes = 0
    stack = [(root, 0, False)]
    while stack:
        node, depth, names_allowed = stack.pop()
        if depth > _MAX_DEPTH:
            raise _BadFile(f"it nests deeper than the limit of {_MAX_DEPTH} levels")
        if type(node) in _PLAIN:
            continue
        if isinstance(node, list):
            stack.extend((item, depth + 1, names_allowed) for item in reversed(node))
            continue
        if not isinstance(node, dict) or node.get("__kind__") not in _KINDS:
            raise _BadFile(f"it holds a node of no known kind: {str(node):.80}")
        kind = node["__kind__"]
        fields = {"__kind__", *_KINDS[kind]}
        if kind == "ndarray":
            # Numbers sit in the tensors member under a key, anything else in items.
            fields |= {"key"} if "key" in node else {"items"}
        if set(node) != fields:
            missing, extra = sorted(fields - set(node)), sorted(set(node) - fields)
            raise _BadFile(f"a {kind!r} node lacks {missing} or has fields {extra} "
                           "that skae.save does not write")
        _check_node(kind, node)
        if "id" in node and kind != "ref":
            ids.append(node["id"])
        if kind in ("type", "object", "estimator"):
            names.add(node["name" if kind == "type" else "class"])
        if kind == "type" and not names_allowed and node["name"] not in trusted_names:
            raise _BadFile(f"it names {node['name']!r:.80} where skae.save writes data, "
                           "not a class or function")
        if kind == "ndarray" and "items" in node:
            text_bytes += len(node["items"]) * np.dtype(node["dtype"]).itemsize
            if text_bytes > _TEXT_ARRAY_BYTES + _TEXT_ARRAY_BYTES_PER_CHARACTER * text_length:
                raise _BadFile(
                    f"its arrays of strings take {text_bytes:,} bytes, more than the limit of "
                    f"{_TEXT_ARRAY_BYTES:,} bytes plus {_TEXT_ARRAY_BYTES_PER_CHARACTER} "
                    "per character of its metadata"
                )
        if "key" in node:
            if node["key"] in tensors:
                raise _BadFile(f"tensor {node['key']!r} is declared twice")
            tensors[node["key"]] = node
        stack.extend((child, depth + 1, names_allowed or allowed)
                     for child, allowed in _children(kind, node))
    # Whether a reference points back to a node read before it is checked
    # as it is read.
    if len(set(ids)) != len(ids):
        raise _BadFile("two nodes share an id")
    return names, tensors


def _children(kind, node):
    """A node's children, each with whether a class or function may be named in it."""
    if kind == "estimator":
        yield node["params"], True
        state = node["state"]
        if isinstance(state, dict) and state.get("__kind__") == "dict" \
                and isinstance(state.get("items"), list):
            for pair in state["items"]:
                key = pair[0] if isinstance(pair, list) and pair else None
                yield pair, key == "_fitted_architecture"
        else:
            yield state, False
        return
    for field, value in node.items():
        if isinstance(value, (list, dict)):
            yield value, kind == "net" and field in ("criterion", "optimizer")


# Each node kind's fields besides "__kind__"; an "ndarray" node has "key"
# (numbers, in the tensors member) or "items" (strings and other plain values).
_KINDS = {
    "ref": ("id",), "tensor": ("id", "key", "dtype", "shape", "parameter", "requires_grad"),
    "ndarray": ("id", "dtype", "shape"), "scalar": ("dtype", "value"),
    "np_dtype": ("str",), "torch_dtype": ("name",), "device": ("name",), "type": ("name",),
    "history": ("rows",), "tuple": ("items",), "dict": ("ordered", "items"),
    "set": ("frozen", "items"), "random_state": ("state",), "fit_namespace": ("name", "device"),
    "object": ("id", "class", "state"), "estimator": ("id", "class", "params", "state"),
    "net": ("id", "module", "criterion", "criterion_params", "optimizer",
            "optimizer_params", "device", "settings", "optimizer_state", "history"),
}
_STRING_FIELDS = {"key", "name", "class", "str", "device", "dtype"}
_BOOL_FIELDS = {"parameter", "requires_grad", "ordered", "frozen"}
_LIST_FIELDS = {"items", "rows", "shape"}


def _check_node(kind, node):
    """The fields of one node have the types save writes; dtypes and names from fixed lists."""
    for field, value in node.items():
        if field == "id" and type(value) is not int:
            raise _BadFile(f"a {kind!r} node's id is not an integer")
        if field in _STRING_FIELDS and type(value) is not str:
            raise _BadFile(f"a {kind!r} node's {field} is not a string")
        if field in _BOOL_FIELDS and type(value) is not bool:
            raise _BadFile(f"a {kind!r} node's {field} is not true or false")
        if field in _LIST_FIELDS and type(value) is not list:
            raise _BadFile(f"a {kind!r} node's {field} is not a list")
    if kind == "dict" and not all(type(pair) is list and len(pair) == 2 for pair in node["items"]):
        raise _BadFile("a dict node's items are not key-value pairs")
    if kind in ("tensor", "ndarray"):
        if not all(type(size) is int and size >= 0 for size in node["shape"]):
            raise _BadFile(f"an array's shape is not a list of sizes: {node['shape']!r:.80}")
    if kind == "ndarray":
        _check_ndarray(node)
    elif kind == "scalar":
        if type(node["dtype"]) is not str or not _NUMERIC_DTYPE.match(node["dtype"]) \
                or type(node["value"]) not in (bool, int, float):
            raise _BadFile(f"a scalar is not a number of a numeric dtype: {node!r:.80}")
    elif kind == "np_dtype":
        if not (_NUMERIC_DTYPE.match(node["str"]) or _TEXT_DTYPE.match(node["str"])):
            raise _BadFile(f"{node['str']!r:.40} is not a dtype skae.save writes")
    elif kind == "net":
        for part in ("criterion", "optimizer"):
            if not (isinstance(node[part], dict) and node[part].get("__kind__") == "type"):
                raise _BadFile(f"the net's {part} is not a class")
    elif kind == "fit_namespace":
        if not is_known_namespace(node["name"]):
            raise _BadFile(f"it names the array namespace {node['name']!r:.80}, none that "
                           "skae knows (numpy's, torch's, array_api_strict)")
        if len(node["device"]) > 200:
            raise _BadFile("its array namespace's device is no device name")


def _check_ndarray(node):
    dtype = node["dtype"]
    if "key" in node:
        if not _NUMERIC_DTYPE.match(dtype):
            raise _BadFile(f"an array of numbers has dtype {dtype!r:.40}, not one skae.save "
                           "writes (bool, integers, floats)")
        return
    if not _TEXT_DTYPE.match(dtype):
        raise _BadFile(f"an array of items has dtype {dtype!r:.40}, not one skae.save writes "
                       "(strings or objects)")
    items = node["items"]
    if not all(type(item) in _PLAIN for item in items):
        raise _BadFile("an array holds items that are not plain values")
    if math.prod(node["shape"]) != len(items):
        raise _BadFile(f"an array of shape {tuple(node['shape'])} holds {len(items)} items")


def _check_tensors(declared, tensors):
    if set(declared) != set(tensors):
        extra, lacking = set(tensors) - set(declared), set(declared) - set(tensors)
        raise _BadFile(
            f"its tensors do not match its metadata (undeclared: {sorted(extra)[:5]}, "
            f"missing: {sorted(lacking)[:5]})"
        )
    for key, node in declared.items():
        tensor = tensors[key]
        dtype = str(tensor.dtype).removeprefix("torch.")
        if node["__kind__"] == "ndarray":
            expected = np.dtype(node["dtype"]).newbyteorder("=")
            if tensor.numpy().dtype != expected or list(tensor.shape) != node["shape"]:
                raise _BadFile(
                    f"array {key!r} is {tensor.numpy().dtype} of shape {tuple(tensor.shape)}, "
                    f"but the metadata declares {expected} of shape {tuple(node['shape'])}"
                )
        elif dtype != node["dtype"] or list(tensor.shape) != node["shape"]:
            raise _BadFile(
                f"tensor {key!r} is {dtype} of shape {tuple(tensor.shape)}, but the "
                f"metadata declares {node['dtype']} of shape {tuple(node['shape'])}"
            )


class _Reader:
    """Builds objects from checked JSON nodes and loaded tensors."""

    def __init__(self, tensors, classes):
        self.tensors = tensors
        self.classes = classes
        self.memo = {}
        self.owners = []

    def read(self, node):
        if type(node) in _PLAIN:
            return node
        if isinstance(node, list):
            return [self.read(item) for item in node]
        kind = node["__kind__"]
        return getattr(self, f"_read_{kind}")(node)

    def _remember(self, node, value):
        self.memo[node["id"]] = value
        return value

    def _read_ref(self, node):
        if node["id"] not in self.memo:
            raise _BadFile(f"a reference points to no earlier node ({node['id']})")
        return self.memo[node["id"]]

    def _read_tensor(self, node):
        tensor = self.tensors[node["key"]]
        if node["parameter"]:
            tensor = torch.nn.Parameter(tensor, requires_grad=bool(node["requires_grad"]))
        elif node["requires_grad"]:
            tensor.requires_grad_(True)
        return self._remember(node, tensor)

    def _read_ndarray(self, node):
        dtype = np.dtype(node["dtype"])
        if "key" in node:
            array = self.tensors[node["key"]].numpy().astype(dtype, copy=False)
        else:
            array = np.array(node["items"], dtype=dtype).reshape(node["shape"])
        return self._remember(node, array)

    def _read_scalar(self, node):
        return np.dtype(node["dtype"]).type(node["value"])

    def _read_np_dtype(self, node):
        return np.dtype(node["str"])

    def _read_torch_dtype(self, node):
        dtype = getattr(torch, node["name"], None)
        if not isinstance(dtype, torch.dtype):
            raise _BadFile(f"{node['name']!r} is not a torch dtype")
        return dtype

    def _read_device(self, node):
        return _device(node["name"])

    def _read_type(self, node):
        return self.classes[node["name"]]

    def _read_history(self, node):
        return History(self.read(node["rows"]))

    def _read_fit_namespace(self, node):
        if not (isinstance(node["name"], str) and isinstance(node["device"], str)):
            raise _BadFile("a fit namespace is not two names")
        return FitNamespace(node["name"], node["device"])

    def _read_tuple(self, node):
        return tuple(self.read(node["items"]))

    def _read_dict(self, node):
        pairs = [(self.read(k), self.read(v)) for k, v in node["items"]]
        return collections.OrderedDict(pairs) if node["ordered"] else dict(pairs)

    def _read_set(self, node):
        items = self.read(node["items"])
        return frozenset(items) if node["frozen"] else set(items)

    def _read_random_state(self, node):
        random_state = np.random.RandomState()
        random_state.set_state(self.read(node["state"]))
        return random_state

    def _read_object(self, node):
        cls = self.classes[node["class"]]
        if not isinstance(cls, type):
            raise _BadFile(f"{node['class']} is not a class")
        if issubclass(cls, BaseEstimator):
            # Estimators are built from their parameters only (estimator nodes).
            raise _BadFile(f"{node['class']} is an estimator written as a plain object")
        obj = self._remember(node, cls.__new__(cls))
        state = self.read(node["state"])
        if not isinstance(state, dict):
            raise _BadFile(f"the state of a {node['class']} is not a dict")
        _check_state_keys(cls, state, f"a {node['class']}")
        if issubclass(cls, torch.nn.Module):
            _check_module_state(node["class"], state)
        # As pickle restores an object, from its attributes alone.
        if hasattr(obj, "__setstate__"):
            obj.__setstate__(state)
        else:
            vars(obj).update(state)
        return obj

    def _read_estimator(self, node):
        cls = self.classes[node["class"]]
        if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
            raise _BadFile(f"{node['class']} is not an estimator")
        params = self.read(node["params"])
        if not isinstance(params, dict):
            raise _BadFile(f"the parameters of {node['class']} are not a dict")
        try:
            estimator = cls(**params)
        except TypeError as error:
            raise _BadFile(f"its parameters are not those of {node['class']} ({error})") \
                from error
        if set(estimator.get_params(deep=False)) != set(params):
            raise _BadFile(f"its parameters are not those of {node['class']}")
        self._remember(node, estimator)
        self.owners.append(estimator)
        try:
            state = self.read(node["state"])
        finally:
            self.owners.pop()
        if not isinstance(state, dict):
            raise _BadFile(f"the state of a {node['class']} is not a dict")
        _check_state_keys(cls, state, f"a {node['class']}", params=params)
        _check_estimator_state(node["class"], state, params)
        vars(estimator).update(_on_load_device(state))
        return estimator

    def _read_net(self, node):
        if not self.owners:
            raise _BadFile("a net belongs to no estimator")
        owner = self.owners[-1]
        module = self.read(node["module"])
        criterion, optimizer = self.read(node["criterion"]), self.read(node["optimizer"])
        if not (isinstance(module, torch.nn.Module)
                and isinstance(criterion, type) and issubclass(criterion, torch.nn.Module)
                and isinstance(optimizer, type)
                and issubclass(optimizer, torch.optim.Optimizer)):
            raise _BadFile("its net has no module, criterion or optimizer")
        device = _load_device(node["device"])
        optimizer_params = self.read(node["optimizer_params"])
        if device.type != "cuda":
            # Capturable steps are for CUDA graphs; the engine asks for them there only.
            optimizer_params.pop("capturable", None)
        criterion_params = self.read(node["criterion_params"])
        settings = self.read(node["settings"])
        if not isinstance(owner, TorchEstimatorMixin):
            raise _BadFile("a net belongs to an estimator that trains none")
        net = rebuild_net(owner, module, criterion=criterion, criterion_params=criterion_params,
                          optimizer=optimizer, optimizer_params=optimizer_params, device=device,
                          settings=settings)
        state = self.read(node["optimizer_state"])
        _check_optimizer_state(net.optimizer_, state)
        net.optimizer_.load_state_dict(state)
        net.history_ = self.read(node["history"])
        return self._remember(node, net)


def _check_state_keys(cls, state, what, params=()):
    """A file sets data, never behaviour: no key may shadow what the class defines.

    A key that names a method, property, class or any other attribute of the
    class would replace it on the instance; only a class-level default of a
    plain value (a number, a string, None) may be overridden by a plain
    value, as instances do. An estimator's parameters come from its
    parameters, not its state.
    """
    for key, value in state.items():
        if type(key) is not str:
            raise _BadFile(f"the state of {what} has a key that is not a name: {key!r:.40}")
        if key in params:
            raise _BadFile(f"the state of {what} sets its parameter {key!r}")
        try:
            default = inspect.getattr_static(cls, key)
        except AttributeError:
            continue
        if not (type(default) in _PLAIN and type(value) in _PLAIN):
            raise _BadFile(f"the state of {what} sets {key!r:.40}, which the class defines "
                           f"({type(default).__name__}): a file may not replace it")


# scikit-learn reads these from an instance; a file may set them only as
# set_output would.
_OUTPUT_CONTAINERS = frozenset({"default", "pandas", "polars"})


def _check_estimator_state(name, state, params):
    """The engine's and scikit-learn's own records in an estimator's state hold what they may.

    ``_fitted_names`` (the attributes a fit set, which the next fit removes)
    names only attributes of the state; ``_sklearn_output_config`` maps
    methods to one of set_output's containers; nothing else of scikit-learn's
    machinery (names starting ``_sklearn`` or ``_metadata_request``) and no
    dunder name is set.
    """
    for key in state:
        if key.startswith("__") or (key.startswith(("_sklearn", "_metadata_request"))
                                    and key != "_sklearn_output_config"):
            raise _BadFile(f"the state of a {name} sets {key!r:.40}, which skae.save "
                           "does not write")
    fitted_names = state.get("_fitted_names", ())
    if not (isinstance(fitted_names, tuple)
            and all(type(n) is str and n in state and n not in params for n in fitted_names)):
        raise _BadFile(f"the state of a {name} lists fitted attributes it does not hold")
    output = state.get("_sklearn_output_config", {})
    if not (isinstance(output, dict) and all(
            type(k) is str and type(v) is str and v in _OUTPUT_CONTAINERS
            for k, v in output.items())):
        raise _BadFile(f"the state of a {name} sets an output configuration set_output "
                       "does not make")


def _check_module_state(name, state):
    """A module's attributes hold its parameter, buffer and submodule tables."""
    tables = {"_parameters": torch.nn.Parameter, "_buffers": torch.Tensor,
              "_modules": torch.nn.Module}
    for table, kind in tables.items():
        values = state.get(table)
        if not isinstance(values, dict) or not all(
                value is None or isinstance(value, kind) for value in values.values()):
            raise _BadFile(f"the {name} module's {table} are missing or not {kind.__name__}s")
    if not isinstance(state.get("training"), bool):
        raise _BadFile(f"the {name} module's training flag is missing")
    # An attribute named as a parameter, buffer or submodule would hide it
    # from forward while state_dict and the optimizer saw the table's.
    hidden = set(state) & set().union(*(state[table] for table in tables))
    if hidden:
        raise _BadFile(f"the {name} module's state sets {sorted(hidden)[:3]}, which name its "
                       "parameters, buffers or submodules")
    # Hooks are called with the module's inputs: only functions the caller
    # trusted by name may be there, never a class (calling one builds it).
    for table, hooks in state.items():
        if table.endswith("hooks") and isinstance(hooks, dict) and not all(
                inspect.isfunction(hook) for hook in hooks.values()):
            raise _BadFile(f"the {name} module's {table} hold something other than functions")


def _on_load_device(state):
    """An estimator's attributes with its fitted tensors where its net went.

    Under array API dispatch a fit on torch tensors keeps tensor attributes
    on the input's device, which ``_fit_namespace`` records: they go back
    there when this machine has it, and to the CPU otherwise, the record
    saying so, as the net's module does.
    """
    record = state.get("_fit_namespace")
    if not isinstance(record, FitNamespace) or record.name.rsplit(".", 1)[-1] != "torch":
        return state
    device = _load_device(record.device)
    state = {name: value.to(device) if isinstance(value, torch.Tensor) else value
             for name, value in state.items()}
    state["_fit_namespace"] = record._replace(device=str(device))
    return state


def _check_optimizer_state(optimizer, state):
    """The moments must have their parameters' shapes, which torch does not check."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    groups = state.get("param_groups") if isinstance(state, dict) else None
    if not isinstance(groups, list) or sum(len(g.get("params", ())) for g in groups) != len(params):
        raise _BadFile("its optimizer state does not match the module's parameters")
    for index, values in state.get("state", {}).items():
        if not isinstance(index, int) or not 0 <= index < len(params):
            raise _BadFile("its optimizer state names a parameter the module lacks")
        for name, value in values.items():
            if (isinstance(value, torch.Tensor) and value.dim() > 0
                    and value.shape != params[index].shape):
                raise _BadFile(
                    f"optimizer state {name!r} of parameter {index} has shape "
                    f"{tuple(value.shape)}, but the parameter has {tuple(params[index].shape)}"
                )


def _device(name):
    try:
        return torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise _BadFile(f"{name!r} is not a torch device") from error


def _load_device(name):
    """The saved device when this machine has it; otherwise the CPU."""
    device = _device(name)
    if (device.type == "cuda" and torch.cuda.is_available()
            and (device.index or 0) < torch.cuda.device_count()):
        return device
    return torch.device("cpu")


def _read_archive(file):
    """The JSON tree and the tensors' bytes, every size checked before anything inflates."""
    _check_directory(file)
    try:
        with zipfile.ZipFile(file) as archive:
            infos = archive.infolist()
            names = sorted(info.filename for info in infos)
            if names != sorted([_METADATA, _TENSORS]):
                raise _BadFile(f"it holds {names[:5]}, not {_METADATA} and {_TENSORS}")
            text = _read_member(archive, archive.getinfo(_METADATA))
            tensor_bytes = _read_member(archive, archive.getinfo(_TENSORS))
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, OSError,
            RuntimeError) as error:
        raise _BadFile(f"it is not a zip archive, or it is truncated or corrupt ({error})") \
            from error
    _check_json_size(text)
    try:
        metadata = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise _BadFile(f"its {_METADATA} is not valid JSON ({error})") from error
    return metadata, tensor_bytes, len(text)


# The zip archive's end records: zipfile reads the whole central directory
# they point to before it lists a single member, so its size is checked
# first. Two members take about 130 bytes of directory.
_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END_OF_DIRECTORY = b"PK\x06\x06"
_MAX_DIRECTORY_BYTES = 4096


def _check_directory(file):
    """Refuse an archive whose central directory lists other than two members, unread."""
    with contextlib.ExitStack() as stack:
        handle = (stack.enter_context(open(file, "rb")) if isinstance(file, (str, os.PathLike))
                  else file)
        try:
            start = handle.tell()
            end = handle.seek(0, os.SEEK_END)
            tail_start = max(start, end - (22 + 65535))
            handle.seek(tail_start)
            tail = handle.read()
            handle.seek(start)
        except (AttributeError, OSError, ValueError) as error:
            raise _BadFile(f"it cannot be read as a file ({error})") from error
    at = tail.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(tail) < at + 22:
        raise _BadFile("it is not a zip archive, or it is truncated or corrupt")
    entries, total, directory_bytes = (int.from_bytes(tail[at + k : at + k + n], "little")
                                       for k, n in ((8, 2), (10, 2), (12, 4)))
    locator = at - 20
    if locator >= 0 and tail[locator : locator + 4] == _ZIP64_LOCATOR:
        # A ZIP64 record overrides the counts: it must be in the tail and agree.
        offset = int.from_bytes(tail[locator + 8 : locator + 16], "little") - tail_start
        record = tail[offset : offset + 56] if offset >= 0 else b""
        if len(record) < 56 or record[:4] != _ZIP64_END_OF_DIRECTORY:
            raise _BadFile("its ZIP64 end record is missing or corrupt")
        entries, total, directory_bytes = (int.from_bytes(record[k : k + 8], "little")
                                           for k in (24, 32, 40))
    if entries != 2 or total != 2 or directory_bytes > _MAX_DIRECTORY_BYTES:
        raise _BadFile(f"its zip directory lists {total} members in {directory_bytes:,} "
                       f"bytes, not {_METADATA} and {_TENSORS}")


def _check_tensor_header(data, declared):
    """The safetensors header holds the declared tensors and save's metadata, nothing more.

    Checked before safetensors parses it, so that a header padded with
    entries costs nothing.
    """
    if len(data) < 8:
        raise _BadFile(f"its {_TENSORS} is truncated")
    length = int.from_bytes(data[:8], "little")
    if length > 8 + len(data) or length > 1024 + 256 * len(declared):
        raise _BadFile(f"its {_TENSORS} header is {length:,} bytes, more than its "
                       f"{len(declared)} tensors need")
    try:
        header = json.loads(data[8 : 8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise _BadFile(f"its {_TENSORS} header is not valid JSON ({error})") from error
    if not isinstance(header, dict) or set(header) - {"__metadata__"} != set(declared) \
            or header.get("__metadata__", {"format": FORMAT_NAME}) != {"format": FORMAT_NAME}:
        raise _BadFile(f"its {_TENSORS} header does not list the tensors its metadata declares")


def _read_member(archive, info):
    """A member's bytes, no more than its checked, declared size."""
    if info.flag_bits & 0x1:
        raise _BadFile(f"its {info.filename} is encrypted; skae.save does not encrypt")
    if info.filename == _TENSORS:
        # save stores the weights as they are: a compressed member could
        # inflate far beyond the file's size before safetensors saw it.
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
            raise _BadFile(f"its {_TENSORS} is compressed; skae.save stores it uncompressed")
    else:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _BadFile(f"its {_METADATA} is compressed by a method skae.save does not use")
        if info.file_size > _MAX_METADATA_BYTES:
            raise _BadFile(f"its {_METADATA} is larger than the limit of "
                           f"{_MAX_METADATA_BYTES:,} bytes")
        if info.file_size > _MAX_METADATA_RATIO * info.compress_size + 1024:
            raise _BadFile(f"its {_METADATA} inflates {info.file_size:,} bytes from "
                           f"{info.compress_size:,}, more than the limit of "
                           f"{_MAX_METADATA_RATIO} times")
    with archive.open(info) as member:
        # zipfile stops at the declared size and checks the CRC at its end.
        data = member.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise _BadFile(f"its {info.filename} is not the size its header declares")
    return data


def _check_json_size(text):
    """Refuse JSON whose parsed objects would outgrow its text by more than a fixed factor."""
    containers = text.count(b"[") + text.count(b"{")
    if containers * _MIN_BYTES_PER_CONTAINER > len(text) + 64:
        raise _BadFile(
            f"its {_METADATA} holds {containers:,} lists or objects in {len(text):,} bytes, "
            f"more than the limit of one per {_MIN_BYTES_PER_CONTAINER} bytes"
        )


def _check_version(metadata):
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise _BadFile("it was not written by skae.save")
    version = metadata.get("format_version")
    if type(version) is not int or version < 1:
        raise _BadFile(f"its format version {version!r} is not valid")
    if version > FORMAT_VERSION:
        writer = metadata.get("versions", {}).get("skae", "a newer skae")
        raise _BadFile(
            f"it has format version {version}, written by skae {writer}, and this skae "
            f"reads format versions up to {FORMAT_VERSION}: upgrade skae to load it"
        )
    if "estimator" not in metadata:
        raise _BadFile("it holds no estimator")


def load(file, *, trusted=()):
    """Read an estimator written by :func:`save`, running no code from the file.

    Nothing is unpickled and no module is imported by a name from the file.
    Before anything is built, the format version is checked, the JSON's
    structure, every tensor's dtype and shape against the metadata, and
    every class or function the file names against skae's allow-list (skae's
    estimators and ``skae.nn`` modules, the public layers and losses of
    ``torch.nn``, the optimizers of ``torch.optim``) and ``trusted``. A
    model saved on CUDA goes back to its device when this machine has it,
    and to the CPU otherwise. Read more in the :ref:`User Guide <saving>`.

    Parameters
    ----------
    file : str, os.PathLike or binary file object
        A file written by :func:`save`.
    trusted : sequence of classes and functions, default=()
        Your own code the file may name: the classes of your own torch
        modules (``encoder=``, ``decoder=``), factory functions. A trusted
        module is rebuilt as pickle would rebuild it, from its attributes
        and tensors (``__setstate__`` if the class defines one), without
        calling ``__init__``; a trusted estimator subclass is constructed
        from its parameters.

    Returns
    -------
    estimator : estimator instance
        The estimator, fitted if it was saved fitted: the same ``transform``
        output, and ``partial_fit`` or a warm start continues from the saved
        weights and optimizer state.

    Raises
    ------
    TypeError
        If the file names a class or function that is neither allowed nor in
        ``trusted``; the message lists them all.
    ValueError
        If the file is not a skae model file, is truncated or corrupt, has a
        newer format version, or holds tensors whose dtype or shape differ
        from the metadata's.

    See Also
    --------
    save : Write the file.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import skae
    >>> X = np.random.RandomState(0).normal(size=(50, 6))
    >>> ae = skae.LinearAutoencoder(n_components=2, max_epochs=2, device="cpu",
    ...                             random_state=0).fit(X)
    >>> buffer = io.BytesIO()
    >>> skae.save(ae, buffer)
    >>> loaded = skae.load(io.BytesIO(buffer.getvalue()))
    >>> loaded.components_.shape
    (2, 6)
    """
    safetensors_torch = _safetensors()
    classes = {**_allowed(), **_trusted_names(trusted)}
    try:
        metadata, tensor_bytes, text_length = _read_archive(file)
        with _malformed_is_a_bad_file():
            _check_version(metadata)
            names, declared = _check_tree(metadata["estimator"],
                                          frozenset(_trusted_names(trusted)), text_length)
            _check_tensor_header(tensor_bytes, declared)
        untrusted = sorted(names - set(classes))
        if untrusted:
            raise TypeError(
                f"The file names {len(untrusted)} class(es) or function(s) that skae does "
                f"not load unless you trust them: {', '.join(untrusted)}. If you trust "
                "this file's author, pass them: skae.load(file, trusted=[...])."
            )
        try:
            tensors = safetensors_torch.load(tensor_bytes)
        except Exception as error:  # safetensors' own error type varies by version
            raise _BadFile(f"its {_TENSORS} cannot be read ({error})") from error
        with _malformed_is_a_bad_file():
            _check_tensors(declared, tensors)
            estimator = _Reader(tensors, classes).read(metadata["estimator"])
    except _BadFile as error:
        raise ValueError(f"{_describe(file)} cannot be loaded: {error}.") from None
    if not isinstance(estimator, BaseEstimator):
        raise ValueError(f"{_describe(file)} cannot be loaded: it holds no estimator.")
    return estimator


@contextlib.contextmanager
def _malformed_is_a_bad_file():
    try:
        yield
    except _BadFile:
        raise
    except _MALFORMED as error:
        raise _BadFile(f"it is malformed ({type(error).__name__}: {str(error):.200})") \
            from error


def _describe(file):
    if isinstance(file, (str, os.PathLike)):
        return f"The file {os.fspath(file)!r}"
    return "The file"
