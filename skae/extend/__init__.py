"""The contract a family of skae estimators is written on.

A family is an estimator class, a subclass of :class:`BaseAutoencoder` (or of
:class:`TorchEstimatorMixin` for a model that is not an autoencoder), with
two methods:

``training_spec(X, y=None, *, fitted_module=None, streaming=False)``
    returns a :class:`TrainingSpec`: the module to train, its loss, its
    callbacks, its epoch budget;
``fitted_attributes(net, X, spec)``
    returns the fitted attributes the trained net stands for.

:func:`apply_module` runs a module over rows as the estimators' inference
does. A family that trains in stages (layer-wise pretraining, an inner
model) trains each from its ``training_spec`` with :func:`train_stage`, which
uses the device, seed and precision of the fit in progress. A family whose two methods handle X as a torch tensor (``X.shape``,
slicing, torch reductions) sets the class attribute ``takes_torch_rows = True``:
under scikit-learn's array API dispatch it then receives torch rows as they
are, on their device; otherwise its methods receive NumPy rows. The engine does the rest: the skorch net, seeds, devices, batching, failure
safety, Ctrl-C, divergence, inference chunk by chunk in the input's dtype.
Every skae family is written on this contract. Read more in the
:ref:`User Guide <new_family>`.
"""

from .._compat import Interval, StrOptions
from .._engine._chunks import is_memory_mapped
from .._engine._data_parallel import data_parallel
from .._engine._inference import apply_module
from .._engine._nets import describe_net
from .._engine._rows import dense_block
from .._engine._runtime import resolve_device
from .._engine._safety import restore_on_failure
from .._engine._spec import TrainingSpec
from .._engine._stages import train_stage
from ._autoencoder import (
    BaseAutoencoder,
    check_reconstruction_settings,
    decode_rows,
    encode_rows,
)
from ._estimator import TorchEstimatorMixin, draw_seed, rebuild_net

# Interval and StrOptions are scikit-learn's parameter constraints, which a
# family's _parameter_constraints extend; re-exported so that no family
# imports them from a private module of scikit-learn.
__all__ = [
    "BaseAutoencoder",
    "Interval",
    "StrOptions",
    "TorchEstimatorMixin",
    "TrainingSpec",
    "apply_module",
    "restore_on_failure",
    "train_stage",
    # Helpers a family's own code may use: rows of any source as a dense
    # block, the device and seed a parameter stands for.
    "check_reconstruction_settings",
    "decode_rows",
    "dense_block",
    "draw_seed",
    "encode_rows",
    "is_memory_mapped",
    "resolve_device",
    # For services (saving, exporting) and the package's front door.
    "data_parallel",
    "describe_net",
    "rebuild_net",
]
