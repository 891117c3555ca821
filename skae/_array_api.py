"""Arrays of any array API library in and out, as scikit-learn's array API support defines.

Under ``sklearn.config_context(array_api_dispatch=True)`` an estimator fitted
on, say, torch tensors keeps its array attributes as torch tensors on their
device and returns torch tensors from every method, as ``PCA`` does; an
input of another namespace or device than the fit's raises. The estimators
compute with torch, so rows of another library are viewed as NumPy rows at
the method's boundary (without a copy where DLPack allows: torch CPU
tensors) and the results are moved back into the input's namespace and
device. Families that compute on torch rows themselves (the dense
autoencoders and the linear one, which set ``takes_torch_rows``, a part of
the :mod:`skae.extend` contract) take a torch tensor as it is instead: its rows never pass through NumPy, so
a CUDA tensor trains and is transformed on the GPU with no copy to the host.
Without dispatch nothing changes: inputs are converted by NumPy as before.
"""

import contextvars
import functools
from typing import NamedTuple

import numpy as np
import torch
from sklearn import get_config
from sklearn.utils.validation import validate_data

from ._registry import Registered
from ._compat import (
    array_api_helpers_available,
    array_namespace_and_device,
    is_numpy_namespace,
    move_to,
)

__all__ = [
    # The estimators' side: the boundary of every method that takes rows.
    "ArrayAPIMixin",
    "FitNamespace",
    "InputNamespace",
    "check_same_namespace",
    "fit_namespace",
    "follows_input_namespace",
    "in_fit_namespace",
    "is_known_namespace",
    "to_fit_namespace",
    # The families' side: torch rows taken as they are.
    "dispatched_tensor",
    "host_array",
    "numpy_dtype",
    "validate_tensor_rows",
]


class InputNamespace(NamedTuple):
    """An input's array library (array API namespace) and device."""

    xp: object
    device: object

    @property
    def name(self):
        return self.xp.__name__

    def record(self):
        """What a fitted estimator keeps of it: names only, which pickle and save as text."""
        return FitNamespace(self.name, str(self.device))


class FitNamespace(NamedTuple):
    """The array library and device of a fit's input, by name (``_fit_namespace``)."""

    name: str
    device: str


def _dispatching():
    # scikit-learn before 1.8 lacks the helpers: skae's methods then take
    # their inputs as they did before array API support.
    return get_config()["array_api_dispatch"] and array_api_helpers_available()


def _namespace_of(*arrays):
    """The namespace of ``arrays`` when dispatch is on and they are not NumPy's; else None."""
    if not _dispatching():
        return None
    xp, device = array_namespace_and_device(*arrays)
    if is_numpy_namespace(xp):
        return None
    return InputNamespace(xp, device)


def _to_numpy(value):
    if value is None or isinstance(value, np.ndarray) or not hasattr(value, "shape"):
        return value
    if not _dispatching():
        return value
    if isinstance(value, torch.Tensor):
        # Rows a caller's own autograd graph produced are data here.
        value = value.detach()
    xp, _ = array_namespace_and_device(value)
    if is_numpy_namespace(xp):
        return value
    return move_to(value, xp=np, device="cpu")


def _to_namespace(value, namespace):
    if namespace is None:
        return value
    if isinstance(value, torch.Tensor):
        # Computed on torch rows: already in the namespace, maybe on the
        # model's device rather than the input's.
        return value.to(namespace.device)
    # Labels that are not numbers (strings, objects) stay NumPy's, as
    # scikit-learn's classifiers keep them. A NumPy scalar (a noise variance)
    # becomes a 0-d array of the namespace, as PCA's does.
    if isinstance(value, (np.ndarray, np.floating)) and value.dtype.kind in "biufc":
        return move_to(np.asarray(value), xp=namespace.xp, device=namespace.device)
    if isinstance(value, tuple):
        return tuple(_to_namespace(part, namespace) for part in value)
    return value


# The namespace of the input of the fit in progress, for the engine that sets
# the fitted state: each estimator's fit sets its own, so the inner
# autoencoder of a wrapper, which sees NumPy rows, records NumPy.
_FIT_NAMESPACE = contextvars.ContextVar("skae_fit_namespace", default=None)


def fit_namespace():
    """The input namespace of the fit in progress (None: NumPy)."""
    return _FIT_NAMESPACE.get()


def in_fit_namespace(attributes, namespace):
    """``attributes`` with their NumPy arrays moved to the fit's namespace, and its record.

    Called where the fitted state is set, in the same step: the arrays a
    NumPy fit exposes (``components_``, ``embedding_``...) are then in the
    input's namespace and on its device.
    """
    # classes_ keeps NumPy's labels, as scikit-learn's estimators do: they may be strings.
    moved = {name: value if name == "classes_" else _to_namespace(value, namespace)
             for name, value in attributes.items()}
    moved["_fit_namespace"] = None if namespace is None else namespace.record()
    return moved


def _torch_namespace():
    xp, _ = array_namespace_and_device(torch.empty(0))
    return xp


def _array_api_strict_namespace():
    import array_api_strict

    xp, _ = array_namespace_and_device(array_api_strict.asarray([0.0]))
    return xp


# The array libraries a fitted estimator may name in its record, each found
# by code written here, never by importing the recorded name: a record read
# from a model file is data, and a name in it must not choose a module to
# import. Torch's namespace goes by the name of the compatibility layer that
# wraps it, vendored by scikit-learn or installed on its own.
_KNOWN_NAMESPACES = {
    "sklearn.externals.array_api_compat.torch": _torch_namespace,
    "array_api_compat.torch": _torch_namespace,
    "torch": _torch_namespace,
    "array_api_strict": _array_api_strict_namespace,
}


def is_known_namespace(name):
    """Whether ``name`` is one of the array libraries a fit's record may name."""
    return isinstance(name, str) and name in _KNOWN_NAMESPACES


def to_fit_namespace(value, record):
    """A NumPy result an estimator made without input rows (samples), in its fit's namespace.

    ``record`` is the estimator's ``_fit_namespace``; the namespace is one of
    the known array libraries, found by skae's own code (a record naming any
    other raises), and the device is found among those the namespace lists
    (the array API's ``__array_namespace_info__().devices()``).
    """
    if record is None or not _dispatching():
        return value
    if not is_known_namespace(record.name):
        raise ValueError(
            f"the fit's array namespace {record.name!r} is none that skae knows "
            f"({', '.join(sorted(_KNOWN_NAMESPACES))})."
        )
    xp = _KNOWN_NAMESPACES[record.name]()
    if record.name.rsplit(".", 1)[-1] == "torch":
        devices = [torch.device(record.device)]
    else:
        devices = [d for d in xp.__array_namespace_info__().devices() if str(d) == record.device]
    if not devices:
        raise ValueError(f"the fit's device {record.device} is not available to {record.name}.")
    return _to_namespace(value, InputNamespace(xp, devices[0]))


def check_same_namespace(estimator, X, method):
    """Raise as scikit-learn does when X's namespace or device is not the fit's."""
    if not _dispatching():
        return
    fitted = getattr(estimator, "_fit_namespace", None)
    xp, device = array_namespace_and_device(X)
    current = None if is_numpy_namespace(xp) else InputNamespace(xp, device).record()
    if current == fitted:
        return
    fitted_name = "numpy" if fitted is None else fitted.name
    current_name = "numpy" if current is None else current.name
    if fitted_name != current_name:
        difference = (f"Array namespaces used during fit ({fitted_name}) and {method} "
                      f"({current_name}) differ.")
    else:
        difference = (f"Devices used during fit ({fitted.device}) and {method} "
                      f"({current.device}) differ.")
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same namespace "
        f"and the same device as those passed to fit(). {difference}"
    )


# The estimator whose decorated method is running in this context: its own
# calls to its other methods (score to score_samples, fit_transform to fit)
# pass NumPy rows already, and run as they are.
_RUNNING = contextvars.ContextVar("skae_running_estimator", default=None)


def follows_input_namespace(method):
    """Decorate a public method taking X (and y): arrays in X's namespace in and out.

    ``fit`` and ``partial_fit`` record X's namespace for the fitted state;
    the other methods refuse an X of another namespace or device than the
    fit's and return their arrays in X's namespace, on its device.
    """
    fits = method.__name__ in ("fit", "partial_fit", "fit_transform", "fit_predict")
    returns_self = method.__name__ in ("fit", "partial_fit")

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if not _dispatching() or _RUNNING.get() is self:
            return method(self, X, *args, **kwargs)
        namespace = _namespace_of(X)
        if not fits or (method.__name__ == "partial_fit" and "net_" in vars(self)):
            check_same_namespace(self, X, method.__name__)
        native = isinstance(X, torch.Tensor) and getattr(self, "takes_torch_rows", False)
        args = tuple(_to_numpy(arg) for arg in args)
        kwargs = {name: _to_numpy(value) for name, value in kwargs.items()}
        running = _RUNNING.set(self)
        fitting = _FIT_NAMESPACE.set(namespace) if fits else None
        try:
            result = method(self, X if native else _to_numpy(X), *args, **kwargs)
        finally:
            if fitting is not None:
                _FIT_NAMESPACE.reset(fitting)
            _RUNNING.reset(running)
        return result if returns_self else _to_namespace(result, namespace)

    wrapper._follows_input_namespace = True
    return wrapper


# The methods that take rows: fits record their namespace, the others
# answer in it.
_ROW_METHODS = frozenset({
    "fit", "partial_fit", "fit_transform", "fit_predict", "transform", "inverse_transform",
    "score_samples", "score", "decision_function", "predict", "predict_proba",
    "predict_log_proba",
})


class ArrayAPIMixin(Registered):
    """Array API support for every method of an estimator that takes rows.

    Each such method a class defines (its own or a subclass's: a family
    written on :mod:`skae.extend` too) is wrapped by
    :func:`follows_input_namespace` when the class is created.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Wherever in the class's bases the method comes from: a user's mixin,
        # scikit-learn's fit_transform or score.
        for name in _ROW_METHODS:
            method = getattr(cls, name, None)
            if callable(method) and not getattr(method, "_follows_input_namespace", False):
                setattr(cls, name, follows_input_namespace(method))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = array_api_helpers_available()
        return tags


# ------------------------------------------------------------ torch rows
_FLOAT_TENSOR_DTYPES = (torch.float32, torch.float64)


def dispatched_tensor(X):
    """Whether X is a torch tensor that array API dispatch hands over as it is."""
    return isinstance(X, torch.Tensor) and _dispatching()


def validate_tensor_rows(X, estimator=None, *, reset=False, ensure_all_finite=True):
    """X, a torch tensor, checked as ``validate_data`` checks an array, on X's device.

    Two dimensions, at least one row and one column, float32 or float64
    (other dtypes become float64, as scikit-learn converts them), finite
    unless told otherwise; ``estimator``'s ``n_features_in_`` is set or
    checked as ``validate_data`` does. Nothing leaves X's device.
    """
    # Rows a caller's own autograd graph produced are data here.
    X = X.detach()
    if X.layout != torch.strided:
        raise TypeError(f"sparse torch tensors ({X.layout}) are not supported; give dense rows.")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D array, got a {X.ndim}D tensor of shape "
                         f"{tuple(X.shape)} instead.")
    if X.is_complex():
        raise ValueError("Complex data not supported.")
    if X.dtype not in _FLOAT_TENSOR_DTYPES:
        X = X.to(torch.float64)
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"Found array with shape {tuple(X.shape)}, while at least one sample "
                         "and one feature are required.")
    if ensure_all_finite and not bool(torch.isfinite(X).all()):
        raise ValueError("Input X contains NaN or infinity.")
    if estimator is not None:
        validate_data(estimator, X, reset=reset, skip_check_array=True)
    return X


def numpy_dtype(X):
    """X's dtype as NumPy's, for a NumPy array or a torch tensor."""
    if isinstance(X, torch.Tensor):
        return torch.empty((), dtype=X.dtype).numpy().dtype
    return np.dtype(X.dtype)


def host_array(value):
    """A NumPy array of a small array of any namespace (a fitted attribute, a reduction)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) or not hasattr(value, "__dlpack__"):
        return np.asarray(value)
    return move_to(value, xp=np, device="cpu")
