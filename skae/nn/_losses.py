"""Per-sample loss terms; the net composes and weights them."""

import torch
from torch import nn
from torch.nn import functional as F


def reconstruction_error(reconstruction, target, kind):
    """Per-sample reconstruction loss, averaged over features: shape (n,).

    The cross-entropy ("bce") is defined for targets in [0, 1] only; a target
    outside (a held-out row scaled by a scaler fitted on other rows) is
    scored as its nearest value in the range plus its squared distance to
    the range, so that scores stay finite and still penalise the excursion.
    """
    if kind == "bce":
        in_range = target.clamp(0, 1)
        # torch's binary_cross_entropy, written out (logs floored at -100 as
        # torch floors them), so that torch.onnx exports the score too.
        log_p = torch.log(reconstruction).clamp(min=-100.0)
        log_not_p = torch.log(1.0 - reconstruction).clamp(min=-100.0)
        elementwise = -(in_range * log_p + (1.0 - in_range) * log_not_p)
        elementwise = elementwise + (target - in_range).square()
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


def gaussian_kl(mean, log_var):
    """Per-sample KL(N(mean, exp(log_var)) || N(0, I)), in closed form: shape (n,)."""
    return -0.5 * (1 + log_var - log_var.exp() - mean.square()).sum(dim=1)


def kl_sparsity(code, target, eps=1e-6):
    """Sum over coding units of KL(target || q_j), q_j the batch-mean activation.

    Expects activations in (0, 1) (a sigmoid coding layer).
    """
    q = code.mean(dim=0).clamp(eps, 1 - eps)
    return (target * (target / q).log() + (1 - target) * ((1 - target) / (1 - q)).log()).sum()


def l1_activity(code):
    """Mean absolute coding activation: an L1 activity regulariser."""
    return code.abs().mean()
