"""Every private name of scikit-learn, skorch and accelerate that skae uses, in one place.

Each is used as it stands in the versions the dependency ranges of
``pyproject.toml`` admit, and was checked there: scikit-learn 1.6 to 1.9,
skorch 1.2 to 1.4, accelerate 0.28 to 1.15. A new major or minor release may
move or change them; the upper bounds say which releases were read.
"""

from sklearn.base import _fit_context
from sklearn.manifold._t_sne import _joint_probabilities_nn
from sklearn.utils._param_validation import Interval, StrOptions

__all__ = [
    "Interval",
    "StrOptions",
    "_fit_context",
    "_joint_probabilities_nn",
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
