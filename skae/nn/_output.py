"""The one output contract between every torch module and the loss."""

from types import MappingProxyType
from typing import Mapping, NamedTuple

import torch

_NO_EXTRAS = MappingProxyType({})


class AutoencoderOutput(NamedTuple):
    """What every autoencoder module's ``forward`` returns.

    Attributes
    ----------
    reconstruction : torch.Tensor
        The decoded input, same shape as the input.
    code : torch.Tensor
        The coding layer's activations, shape (n_samples, n_components).
    extras : mapping of str to torch.Tensor
        Family-specific tensors the loss terms read (a VAE's ``mean`` and
        ``log_var``, for instance).
    """

    reconstruction: torch.Tensor
    code: torch.Tensor
    extras: Mapping[str, torch.Tensor] = _NO_EXTRAS
