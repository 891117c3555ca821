"""The default outlier detector's score, as one torch module over its members."""

import torch
from torch import nn


class EnsembleScore(nn.Module):
    """Normality score of rows under an ensemble of fitted autoencoder modules.

    Each member scales the rows to its training range, then scores a row by
    its per-feature standardised squared reconstruction error plus
    ``code_distance_weight`` times the code's Mahalanobis distance per code
    unit (``raw``); the score is minus the mean over members of
    ``log(raw / median)``, the member's median ``raw`` on its training rows.
    The detector's ``score_samples`` and its ONNX graph both run this module.

    Parameters
    ----------
    members : sequence of torch.nn.Module
        Fitted autoencoder modules (``encode``, ``decode``), shared, not copied.
    low, span : torch.Tensor of shape (n_features,)
        The min-max scaling of the training rows: rows are ``(x - low) / span``.
    error_scales : sequence of torch.Tensor of shape (n_features,)
        Each member's per-feature squared-error scale.
    code_means : sequence of torch.Tensor of shape (n_components,)
        Each member's mean training code.
    code_precisions : sequence of torch.Tensor of shape (n_components, n_components)
        Each member's inverse code covariance.
    medians : sequence of float or None
        Each member's median ``raw`` score on the training rows; None (while
        the statistics are being gathered) scores by ``raw`` alone.
    code_distance_weight : float
        Weight of the code distance beside the reconstruction error.
    """

    def __init__(self, members, low, span, error_scales, code_means, code_precisions, medians,
                 code_distance_weight):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("low", low)
        self.register_buffer("span", span)
        for i, (scale, mean, precision) in enumerate(
            zip(error_scales, code_means, code_precisions)
        ):
            self.register_buffer(f"error_scale_{i}", scale)
            self.register_buffer(f"code_mean_{i}", mean)
            self.register_buffer(f"code_precision_{i}", precision)
        self.register_buffer(
            "medians",
            None if medians is None else torch.tensor(list(medians), dtype=low.dtype),
        )
        self.code_distance_weight = code_distance_weight

    def scaled(self, x):
        """Rows in the members' training range."""
        return (x - self.low) / self.span

    def parts(self, member, z):
        """A member's squared reconstruction errors (n, n_features) and codes (n, k)."""
        codes = member.encode(z)
        return (member.decode(codes) - z).square(), codes

    def raw(self, x):
        """Each member's raw score of the rows: shape (n, n_members)."""
        z = self.scaled(x)
        scores = []
        for i, member in enumerate(self.members):
            squared_errors, codes = self.parts(member, z)
            error = (squared_errors / getattr(self, f"error_scale_{i}")).mean(dim=1)
            centred = codes - getattr(self, f"code_mean_{i}")
            distance = ((centred @ getattr(self, f"code_precision_{i}")) * centred).sum(dim=1)
            scores.append(error + self.code_distance_weight * distance / codes.shape[1])
        return torch.stack(scores, dim=1)

    def forward(self, x):
        return -torch.log(self.raw(x) / self.medians + 1e-12).mean(dim=1)
