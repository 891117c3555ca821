"""The default outlier detector's score, as one torch module over its members."""

import math

import torch
from torch import nn


class EnsembleScore(nn.Module):
    """Normality score of rows under an ensemble of fitted autoencoder modules.

    Each member scales the rows to its training range and scores a row by its
    parts (``parts_of_members``): the log of its mean squared reconstruction
    error, then minus the log-density of its code under each of the Gaussian
    mixtures fitted to its training codes. Each part is centred on its
    training median and divided by its robust spread (1.4826 median absolute
    deviations); a member's score is its standardised error plus
    ``density_weight`` times the mean of its standardised code densities, and
    the module returns minus the mean over the members. The detector's
    ``score_samples`` and its ONNX graph both run this module.

    Parameters
    ----------
    members : sequence of torch.nn.Module
        Fitted autoencoder modules (``encode``, ``decode``), shared, not copied.
    low, span : torch.Tensor of shape (n_features,)
        The min-max scaling of the training rows: rows are ``(x - low) / span``.
    mixtures : sequence of sequences of (log_normalisers, means, precisions_cholesky)
        Each member's code mixtures, the same number for every member; a
        mixture is three tensors of shapes (n_mixture,),
        (n_mixture, n_components) and (n_mixture, n_components, n_components).
        ``precisions_cholesky`` is scikit-learn's
        ``GaussianMixture.precisions_cholesky_``; a component's log normaliser
        is the log of its weight plus the log-determinant of its precision's
        Cholesky factor minus ``n_components / 2 * log(2 pi)``.
    centres, spreads : torch.Tensor of shape (n_members, 1 + n_mixtures) or None
        Each member's training median and robust spread of each of its parts;
        None (while they are being gathered) leaves the parts unstandardised.
    density_weight : float, default=1.0
        Weight of the mean standardised code density beside the error.
    """

    def __init__(self, members, low, span, mixtures, centres=None, spreads=None,
                 density_weight=1.0):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("low", low)
        self.register_buffer("span", span)
        self.n_mixtures = len(mixtures[0]) if len(mixtures) else 0
        for i, member_mixtures in enumerate(mixtures):
            for j, (log_normalisers, means, precisions_cholesky) in enumerate(member_mixtures):
                self.register_buffer(f"mixture_log_normalisers_{i}_{j}", log_normalisers)
                self.register_buffer(f"mixture_means_{i}_{j}", means)
                self.register_buffer(f"mixture_precisions_cholesky_{i}_{j}",
                                     precisions_cholesky)
        self.register_buffer("centres", centres)
        self.register_buffer("spreads", spreads)
        self.density_weight = density_weight

    def scaled(self, x):
        """Rows in the members' training range."""
        return (x - self.low) / self.span

    def parts(self, member, z):
        """A member's squared reconstruction errors (n, n_features) and codes (n, k)."""
        codes = member.encode(z)
        return (member.decode(codes) - z).square(), codes

    def code_log_density(self, i, j, codes):
        """Log-density of codes under member ``i``'s mixture ``j``: shape (n,)."""
        log_normalisers = getattr(self, f"mixture_log_normalisers_{i}_{j}")
        means = getattr(self, f"mixture_means_{i}_{j}")
        cholesky = getattr(self, f"mixture_precisions_cholesky_{i}_{j}")
        # (n_mixture, n, k): each row whitened by each component.
        whitened = torch.matmul(codes.unsqueeze(0) - means.unsqueeze(1), cholesky)
        log_components = -0.5 * whitened.square().sum(dim=-1) + log_normalisers.unsqueeze(1)
        # torch.logsumexp by hand: torch.onnx exports it with an If subgraph.
        largest = log_components.max(dim=0).values
        # A code so far out that every component's density underflows has
        # log-density -inf, not -inf minus -inf.
        largest = torch.where(torch.isfinite(largest), largest, torch.zeros_like(largest))
        return largest + torch.log(torch.exp(log_components - largest).sum(dim=0))

    def parts_of_members(self, x):
        """Each member's parts, unstandardised: shape (n, n_members, 1 + n_mixtures)."""
        z = self.scaled(x)
        parts = []
        for i, member in enumerate(self.members):
            squared_errors, codes = self.parts(member, z)
            error = squared_errors.mean(dim=1)
            parts.append(torch.stack(
                [torch.log(error + 1e-12)]
                + [-self.code_log_density(i, j, codes) for j in range(self.n_mixtures)],
                dim=1))
        return torch.stack(parts, dim=1)

    def feature_contributions(self, x, baselines):
        """Each feature's share of minus the score: shape (n, n_features).

        The rows sum to ``-forward(x)`` (up to rounding). A member's
        standardised error part, ``(log(e + 1e-12) - centre) / spread`` with
        ``e`` the mean of its squared errors ``d``, is split over the features
        by integrated gradients (Sundararajan et al., ICML 2017) along the
        straight line from the member's per-feature baseline ``b`` to ``d``:
        in closed form, feature f gets ``(d_f - b_f) / n_features`` times
        ``(log(e + 1e-12) - log(mean(b) + 1e-12)) / (e - mean(b))``, positive
        exactly when it is reconstructed worse than its baseline. What that
        path leaves (``log(mean(b) + 1e-12)`` against the centre) and the
        code densities, which no one feature carries, are spread evenly.

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_features)
            Rows, unscaled.
        baselines : torch.Tensor of shape (n_members, n_features)
            Each member's typical squared error of each feature on the
            training rows.

        Returns
        -------
        contributions : torch.Tensor of shape (n, n_features)
        """
        z = self.scaled(x)
        n_features = z.shape[1]
        total = torch.zeros_like(z)
        for i, member in enumerate(self.members):
            squared_errors, codes = self.parts(member, z)
            baseline = baselines[i].to(dtype=z.dtype, device=z.device)
            typical = baseline.mean() + 1e-12
            error = squared_errors.mean(dim=1, keepdim=True) + 1e-12
            # log(error / typical) / (error - typical), written with log1p
            # so that it stays exact as the two meet (its limit: 1 / typical).
            ratio = (error - typical) / typical
            near = ratio.abs() < 1e-4
            safe = torch.where(near, torch.ones_like(ratio), ratio)
            slope = torch.where(near, 1.0 - ratio / 2, torch.log1p(safe) / safe) / typical
            shares = (squared_errors - baseline) / n_features * slope
            centres, spreads = self.centres[i], self.spreads[i]
            rest = (torch.log(typical) - centres[0]) / spreads[0]
            densities = torch.stack(
                [(-self.code_log_density(i, j, codes) - centres[1 + j]) / spreads[1 + j]
                 for j in range(self.n_mixtures)], dim=1)
            rest = rest + self.density_weight * densities.mean(dim=1, keepdim=True)
            total = total + shares / spreads[0] + rest / n_features
        total = total / len(self.members)
        overflowed = ~torch.isfinite(total).all(dim=1)
        if overflowed.any():
            total[overflowed] = self._overflowed_contributions(z[overflowed])
        return total

    def _overflowed_contributions(self, z):
        """Rows whose score overflowed: +inf on the features that overflowed it, 0 elsewhere.

        The features whose squared error is infinite in some member carry the
        infinite score; where none is (the code alone overflowed), the
        feature farthest outside its training range does.
        """
        culprits = torch.zeros_like(z, dtype=torch.bool)
        for member in self.members:
            squared_errors, _ = self.parts(member, z)
            culprits |= ~torch.isfinite(squared_errors)
        unnamed = ~culprits.any(dim=1)
        farthest = torch.nan_to_num(z.abs(), nan=math.inf).argmax(dim=1)
        culprits[unnamed, farthest[unnamed]] = True
        return torch.where(culprits, torch.full_like(z, math.inf), torch.zeros_like(z))

    def forward(self, x):
        parts = self.parts_of_members(x)
        if self.centres is not None:
            parts = (parts - self.centres) / self.spreads
        density = parts[:, :, 1:].mean(dim=2)
        score = -(parts[:, :, 0] + self.density_weight * density).mean(dim=1)
        # A finite row far enough out overflows its error or its code (an
        # infinity minus another): it is as anomalous as a score can say.
        return torch.where(torch.isnan(score), torch.full_like(score, -math.inf), score)
