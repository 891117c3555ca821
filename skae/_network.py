"""A user's own network as an estimator parameter: built, checked, seeded.

``encoder=`` and ``decoder=`` take a ``torch.nn.Module`` instance or a
callable ``factory(n_features=..., n_components=...)`` that returns one. An
instance is deep-copied at every fit, so the parameter stays what the user
passed, ``clone`` works and two fits never share weights.
"""

import copy

import torch
from torch import nn

# The parameters' constraint for scikit-learn's validation: a module is
# callable too, and named for the error message.
NETWORK_CONSTRAINT = [nn.Module, callable, None]

# Rows of the dry forward pass that checks a network before training.
_DRY_RUN_ROWS = 2


def given_networks(estimator, names=("encoder", "decoder")):
    """The names among ``names`` whose parameter holds a user's network."""
    return [name for name in names if getattr(estimator, name, None) is not None]


def refuse_with_networks(estimator, settings, names=("encoder", "decoder")):
    """Raise when a setting that needs skae's own network is combined with a user's.

    ``settings`` maps a parameter name to whether its current value needs
    skae's network (``tied_weights=True`` ties layers the user's network
    may not have, for instance).
    """
    given = given_networks(estimator, names)
    if not given:
        return
    clashing = [name for name, needs_own in settings.items() if needs_own]
    if clashing:
        values = ", ".join(f"{name}={getattr(estimator, name)!r}" for name in clashing)
        raise ValueError(
            f"{values} needs skae's own network, but {' and '.join(given)} "
            f"{'is' if len(given) == 1 else 'are'} given; leave "
            f"{'it' if len(clashing) == 1 else 'them'} at the default."
        )


def check_network_parameter(name, value):
    """Refuse, before any work, a parameter that can hold no network."""
    if value is None or isinstance(value, nn.Module) or callable(value):
        return
    raise TypeError(
        f"{name} must be a torch.nn.Module, a callable returning one "
        f"(called as {name}(n_features=..., n_components=...)), or None; "
        f"got {type(value).__name__}."
    )


def build_network(name, value, *, n_features, n_components):
    """A fresh copy of the user's ``name`` network, re-initialised under the fit's seed.

    Called inside the fit's seeded region: a factory builds its module
    there, and an instance's copy has each submodule's ``reset_parameters()``
    called there, so that the same ``random_state`` gives the same weights
    whatever values the instance passed in held.
    """
    check_network_parameter(name, value)
    if isinstance(value, nn.Module):
        module = copy.deepcopy(value)
        reset_parameters(module)
        return module
    module = value(n_features=n_features, n_components=n_components)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"{name}(n_features={n_features}, n_components={n_components}) must return a "
            f"torch.nn.Module; got {type(module).__name__}."
        )
    return module


def reset_parameters(module):
    """Re-draw every parameter a submodule's ``reset_parameters`` knows of."""
    for submodule in module.modules():
        reset = getattr(submodule, "reset_parameters", None)
        if callable(reset):
            reset()


def check_network_shapes(encoder, decoder=None, *, n_features, n_components):
    """Run two rows through the encoder and the decoder; raise naming the one that breaks.

    The encoder must map (n, n_features) float rows to (n, n_components)
    codes and the decoder, when there is one, those codes back to
    (n, n_features). The pass runs in eval mode without gradients, so that
    it changes no running statistics; lazy layers take their shapes from it.
    """
    rows = torch.zeros(_DRY_RUN_ROWS, n_features)
    codes = _dry_run("encoder", encoder, rows, (_DRY_RUN_ROWS, n_components),
                     f"codes of n_components={n_components}")
    if decoder is not None:
        _dry_run("decoder", decoder, codes, (_DRY_RUN_ROWS, n_features),
                 f"rows of the input's n_features={n_features}")


def _dry_run(name, module, inputs, expected, meaning):
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            outputs = module(inputs)
    except Exception as error:
        raise ValueError(
            f"{name} fails on a batch of shape {tuple(inputs.shape)}: "
            f"{type(error).__name__}: {error}"
        ) from error
    finally:
        module.train(was_training)
    if not isinstance(outputs, torch.Tensor):
        raise TypeError(
            f"{name} must return one tensor of shape {expected}; got a "
            f"{type(outputs).__name__} for a batch of shape {tuple(inputs.shape)}."
        )
    if tuple(outputs.shape) != expected:
        raise ValueError(
            f"{name} maps a batch of shape {tuple(inputs.shape)} to shape "
            f"{tuple(outputs.shape)}; it must give {expected}: {meaning}."
        )
    if not outputs.is_floating_point():
        raise TypeError(f"{name} must return floating-point values; got {outputs.dtype}.")
    return outputs
