"""Per-sample loss terms; the net composes and weights them."""

from torch import nn
from torch.nn import functional as F


def reconstruction_error(reconstruction, target, kind):
    """Per-sample reconstruction loss, averaged over features: shape (n,)."""
    if kind == "bce":
        elementwise = F.binary_cross_entropy(reconstruction, target, reduction="none")
    else:
        elementwise = (reconstruction - target).square()
    return elementwise.flatten(1).mean(dim=1)


class ReconstructionLoss(nn.Module):
    """Mean reconstruction loss over a batch ("mse" or "bce")."""

    def __init__(self, kind="mse"):
        super().__init__()
        self.kind = kind

    def forward(self, reconstruction, target):
        if self.kind == "bce":
            return F.binary_cross_entropy(reconstruction, target)
        return F.mse_loss(reconstruction, target)
