"""Every private name of scikit-learn, skorch and accelerate that skae uses, in one place.

Each is used as it stands in the versions the dependency ranges of
``pyproject.toml`` admit, and was checked there: scikit-learn 1.6 to 1.9,
skorch 1.2 to 1.4, accelerate 0.28 to 1.15. A new major or minor release may
move or change them; the upper bounds say which releases were read.
"""

from sklearn.base import _fit_context
from sklearn.manifold._t_sne import _joint_probabilities_nn
from sklearn.utils._param_validation import Interval, StrOptions

try:
    # scikit-learn's array API helpers: get_namespace_and_device since 1.6,
    # move_to since 1.8; before that, skae's array API support is off.
    from sklearn.utils._array_api import _is_numpy_namespace, get_namespace_and_device
    from sklearn.utils._array_api import move_to as _move_to
except ImportError:  # pragma: no cover - scikit-learn < 1.8
    _move_to = None

__all__ = [
    "Interval",
    "StrOptions",
    "_fit_context",
    "_joint_probabilities_nn",
    "array_api_helpers_available",
    "array_namespace_and_device",
    "is_numpy_namespace",
    "move_to",
    "forget_prepared",
    "is_best_score",
    "map_to_cpu_on_load",
    "set_training_mode",
    "skip_accelerate_device_check",
    "drop_accelerate_flags",
    "unset_accelerate_wrapping",
]


def is_best_score(scoring, score):
    """Whether ``score`` beats a skorch scoring callback's best so far.

    ``ScoringBase._is_best_score``, unchanged from skorch 1.0 to 1.4.
    """
    return scoring._is_best_score(score)


def set_training_mode(net, training):
    """Put a skorch net's modules in training or eval mode, as its own loop does.

    ``NeuralNet._set_training``, unchanged from skorch 1.0 to 1.4.
    """
    net._set_training(training)


def map_to_cpu_on_load(net, attribute):
    """Have a skorch net pickle ``attribute`` with its module, mapped to the CPU on load.

    skorch 1.2 to 1.4 keep the attributes they move through ``torch.save``
    in ``cuda_dependent_attributes_``.
    """
    if attribute not in net.cuda_dependent_attributes_:
        net.cuda_dependent_attributes_ = [*net.cuda_dependent_attributes_, attribute]


# skorch's AccelerateMixin flags (skorch 1.0 to 1.4): the net unwraps its
# module after training, and records whether it wrapped it.
_ACCELERATE_FLAGS = ("unwrap_after_train", "_wrapped_with_accelerator")


def unset_accelerate_wrapping(net):
    """Tell skorch's ``AccelerateMixin`` that the module was never wrapped."""
    for name in _ACCELERATE_FLAGS:
        setattr(net, name, False)


def drop_accelerate_flags(net):
    """Remove what :func:`unset_accelerate_wrapping` set, so the plain net pickles as one."""
    for name in _ACCELERATE_FLAGS:
        vars(net).pop(name, None)


def skip_accelerate_device_check(net_class, net):
    """skorch's parameter validation without ``AccelerateMixin``'s ``device=None`` rule.

    ``NeuralNet._validate_params``, unchanged from skorch 1.0 to 1.4.
    """
    super(net_class, net)._validate_params()


def forget_prepared(accelerator, prepared):
    """Drop an accelerator's own references to the models and optimizers in ``prepared``.

    accelerate 0.28 to 1.15 list every prepared object in
    ``Accelerator._models`` and ``_optimizers``, and would keep each fit's
    alive for as long as the accelerator lives.
    """
    for name in ("_models", "_optimizers"):
        kept = getattr(accelerator, name, None)
        if isinstance(kept, list):
            kept[:] = [obj for obj in kept if not any(obj is p for p in prepared)]


def array_api_helpers_available():
    """Whether this scikit-learn has the array API helpers skae uses (1.8 and newer)."""
    return _move_to is not None


def _require_array_api_helpers():
    if _move_to is None:  # pragma: no cover - scikit-learn < 1.8
        import sklearn

        raise ImportError(
            "skae's array API support needs scikit-learn 1.8 or newer; "
            f"scikit-learn {sklearn.__version__} is installed."
        )


def array_namespace_and_device(*arrays):
    """The array API namespace and device of ``arrays``, as scikit-learn sees them.

    ``sklearn.utils._array_api.get_namespace_and_device`` (scikit-learn 1.8
    to 1.9), without its compliance flag.
    """
    _require_array_api_helpers()
    xp, _, device = get_namespace_and_device(*arrays)
    return xp, device


def is_numpy_namespace(xp):
    """Whether ``xp`` is NumPy's namespace (``sklearn.utils._array_api._is_numpy_namespace``)."""
    _require_array_api_helpers()
    return _is_numpy_namespace(xp)


def move_to(array, *, xp, device):
    """``array`` in namespace ``xp`` on ``device`` (``sklearn.utils._array_api.move_to``)."""
    _require_array_api_helpers()
    return _move_to(array, xp=xp, device=device)
