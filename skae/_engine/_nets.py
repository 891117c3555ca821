"""The engine's skorch net: built, described for a service, stripped of training-only state."""

import torch

from ._net import AutoencoderNet

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
}


def make_net(module, criterion, criterion_params, penalties, optimizer, optimizer_params,
             **settings):
    """An initialised :class:`~skae._engine._net.AutoencoderNet` training ``module``."""
    net = AutoencoderNet(
        module=module,
        criterion=criterion,
        **{f"criterion__{k}": v for k, v in criterion_params.items()},
        optimizer=optimizer,
        **{f"optimizer__{k}": v for k, v in optimizer_params.items()},
        penalties=penalties,
        **settings,
    )
    return net.initialize()


# The net's settings besides its module, criterion and optimizer: the ones
# make_net takes, and the loss weight a continued fit keeps.
_NET_SETTINGS = (
    "lr", "batch_size", "max_epochs", "precision", "validation_fraction", "verbose",
    "reconstruction_weight",
)


def describe_net(net):
    """What rebuilds a fitted estimator's net: for services that save a model.

    Parameters
    ----------
    net : skorch.NeuralNet
        A fitted estimator's ``net_``.

    Returns
    -------
    description : dict
        ``module`` (the fitted module), ``criterion`` and ``optimizer``
        (classes), ``criterion_params`` and ``optimizer_params`` (dicts),
        ``device`` (a string) and ``settings`` (the net's training settings),
        which :func:`rebuild_net` takes back.

    Raises
    ------
    TypeError
        If ``net`` is not the engine's own net.
    """
    if type(net) is not AutoencoderNet:
        raise TypeError("only the skae engine's own net can be described")
    attributes = vars(net)
    return {
        "module": net.module_,
        "criterion": net.criterion,
        "criterion_params": _prefixed(attributes, "criterion__"),
        "optimizer": net.optimizer,
        "optimizer_params": _prefixed(attributes, "optimizer__"),
        "device": str(net.device),
        "settings": {name: attributes[name] for name in _NET_SETTINGS},
    }


def _prefixed(settings, prefix):
    return {k[len(prefix):]: v for k, v in settings.items() if k.startswith(prefix)}


def drop_training_references(net):
    """Forget what the callbacks kept of the model while training.

    Copies of the weights (the last epoch's, early stopping's best) and
    references to the optimizer (a learning-rate scheduler's) are of no use
    once training ends, and a pickle would carry them a second time, outside
    skorch's device mapping: a model trained on CUDA would then not load
    where there is none. A callback's fitted attributes (named with a
    trailing underscore) that hold tensors, a module or an optimizer are
    reset to None; the next fit initialises them again.
    """
    for _, callback in net.callbacks_:
        for name, value in list(vars(callback).items()):
            if name.endswith("_") and not name.startswith("_") and _holds_model_state(value):
                setattr(callback, name, None)


def _holds_model_state(value, depth=0):
    if isinstance(value, (torch.Tensor, torch.nn.Module, torch.optim.Optimizer,
                          torch.optim.lr_scheduler.LRScheduler)):
        return True
    if depth < 3 and isinstance(value, dict):
        return any(_holds_model_state(v, depth + 1) for v in value.values())
    if depth < 3 and isinstance(value, (list, tuple)):
        return any(_holds_model_state(v, depth + 1) for v in value)
    return False
