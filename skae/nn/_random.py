"""Random draws during training from the fit's own generator.

torch's default generator is one per process: fits running side by side in
threads would interleave their draws, and a seeded fit would depend on its
neighbours. A training engine sets the generator of the fit it runs with
:func:`drawing_from` (a context variable, so each thread sees its own), and
skae's modules draw their noise through the functions here, which fall back
to torch's default generator where none is set (a module used on its own)
or where the generator lives on another device.
"""

import contextlib
import contextvars

import torch
from torch import nn

__all__ = ["Dropout", "drawing_from", "randn_like", "training_generator"]

_GENERATOR = contextvars.ContextVar("skae_training_generator", default=None)


@contextlib.contextmanager
def drawing_from(generator):
    """Within the block, skae's modules and engine draw from ``generator`` (None: torch's)."""
    token = _GENERATOR.set(generator)
    try:
        yield generator
    finally:
        _GENERATOR.reset(token)


def training_generator(device):
    """The generator set for draws on ``device``, or None to use torch's default one."""
    generator = _GENERATOR.get()
    if generator is None or generator.device.type != torch.device(device).type:
        return None
    return generator


def randn_like(x):
    """``torch.randn_like(x)``, drawn from the fit's generator when one is set."""
    generator = training_generator(x.device)
    if generator is None:
        return torch.randn_like(x)
    return torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)


class Dropout(nn.Dropout):
    """``torch.nn.Dropout`` whose masks come from the fit's generator when one is set."""

    def forward(self, x):
        generator = training_generator(x.device)
        if not self.training or self.p == 0 or generator is None:
            return super().forward(x)
        keep = 1.0 - self.p
        mask = torch.empty_like(x).bernoulli_(keep, generator=generator)
        return x * mask / keep
