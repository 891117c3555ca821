"""The parametric UMAP network, its edge sampler and UMAP's cross-entropy.

Nothing here imports scikit-learn or skorch: the estimator computes the
fuzzy graph and hands its edges over as tensors.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._output import AutoencoderOutput
from ._random import training_generator

# Added to squared map distances before their logarithm: keeps the gradient of
# d^(2b) finite at d = 0 (b < 1), and a pair of coinciding points' repulsion
# finite. umap-learn's own layout adds 0.001 to d^2 in its repulsive gradient.
_DISTANCE_FLOOR = 1e-3


class EdgeSampler:
    """Edges of a fuzzy graph, drawn with probability proportional to their weights.

    Holds the training rows and the graph's edges while a fit runs; the
    module that trains reads them, and drops them when training ends.

    Parameters
    ----------
    rows : torch.Tensor of shape (n_samples, n_features)
        The training rows (float32).
    heads, tails : torch.Tensor of int64, shape (n_edges,)
        The two ends of each edge (both directions of a symmetric graph).
    weights : torch.Tensor of shape (n_edges,)
        The edges' membership strengths, positive.
    """

    def __init__(self, rows, heads, tails, weights):
        self.rows = rows
        self.heads = heads
        self.tails = tails
        # Float64 running sums: with millions of edges a float32 sum loses the
        # small weights.
        self.cumulative = torch.cumsum(weights.to(torch.float64), 0)

    def to(self, device):
        """Move the tensors to ``device`` (once) and return self."""
        if self.rows.device != torch.device(device):
            self.rows = self.rows.to(device)
            self.heads = self.heads.to(device)
            self.tails = self.tails.to(device)
            self.cumulative = self.cumulative.to(device)
        return self

    def sample(self, n_edges):
        """``n_edges`` (heads, tails), drawn with replacement in proportion to the weights."""
        total = self.cumulative[-1]
        device = self.cumulative.device
        draws = torch.rand(n_edges, dtype=torch.float64, device=device,
                           generator=training_generator(device)) * total
        edges = torch.searchsorted(self.cumulative, draws, right=True)
        edges.clamp_(max=len(self.cumulative) - 1)
        return self.heads[edges], self.tails[edges]


def pack_edge_points(heads, tails, negatives):
    """One tensor of the points a batch of edges needs: heads, tails, then negatives.

    What :class:`ParametricUMAPModule` hands :class:`UMAPLoss` as the
    output's ``reconstruction`` (the engine gives its criterion that field):
    ``n_edges`` heads, ``n_edges`` tails, then ``negative_sample_rate``
    negatives per edge, the m-th block of ``n_edges`` paired with the heads
    in order.
    """
    return torch.cat([heads, tails, negatives])


def reconstruction_error(output):
    """Mean squared error of the decoded rows of a training batch (standardised units).

    The penalty a decoder is trained with: it reads the ``decoded`` and
    ``rows`` extras of :class:`ParametricUMAPModule`'s training output.
    """
    decoded, rows = output.extras["decoded"], output.extras["rows"]
    dtype = torch.promote_types(decoded.dtype, torch.float32)
    return F.mse_loss(decoded.to(dtype), rows.to(dtype))


class ParametricUMAPModule(nn.Module):
    """An encoder to a low-dimensional map, an optional decoder back, trained on sampled edges.

    ``encode`` and ``decode`` are the inference passes. ``forward(slots)``
    is the training pass: it draws ``len(slots)`` edges of the fuzzy graph
    from :attr:`sampler` (in proportion to their weights) and
    ``negative_sample_rate`` uniformly drawn rows per edge, encodes the rows
    involved, and returns an :class:`~skae.nn.AutoencoderOutput` whose
    ``reconstruction`` is their points packed by :func:`pack_edge_points`
    (for :class:`UMAPLoss`), ``code`` the points of every row encoded, and,
    with a decoder, ``extras`` the decoded rows (``"decoded"``) and the rows
    themselves (``"rows"``), standardised, for :func:`reconstruction_error`. When
    the batch would encode more rows than the training set holds, every row
    is encoded once instead and the batch reads its points from there.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps (n, n_features) rows to (n, n_components) points. Offers
        ``encode``, the ``shift`` and ``scale`` buffers its input is
        standardised with, and ``n_features`` / ``n_components`` (such as
        :class:`skae.nn._tsne.EmbeddingModule`).
    decoder : torch.nn.Module or None, default=None
        Maps (n, n_components) points to standardised (n, n_features) rows.
    negative_sample_rate : int, default=5
        Uniformly drawn rows each edge's head is pushed away from.

    Attributes
    ----------
    n_features : int
        Width of the input rows.
    n_components : int
        Dimension of the map.
    sampler : EdgeSampler or None
        The training rows and graph while a fit runs; None otherwise. Never
        copied or pickled with the module.
    """

    def __init__(self, encoder, decoder=None, *, negative_sample_rate=5):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.n_features = encoder.n_features
        self.n_components = encoder.n_components
        self.negative_sample_rate = int(negative_sample_rate)
        self.sampler = None

    def __getstate__(self):
        # Copies (a pickle, the float64 twin inference builds, a saved
        # model) hold the weights only, never the training rows.
        state = dict(self.__dict__)
        state["sampler"] = None
        return state

    @property
    def graph_capturable(self):
        # Each step draws a different number of distinct rows: no fixed-shape graph.
        return False

    def encode(self, x):
        """(n_samples, n_features) -> (n_samples, n_components): points on the map."""
        return self.encoder.encode(x)

    def decode(self, z):
        """(n_samples, n_components) -> (n_samples, n_features): rows in input space."""
        if self.decoder is None:
            raise RuntimeError("this map was trained without a decoder")
        return torch.addcmul(self.encoder.shift.to(z.dtype), self.decoder(z),
                             self.encoder.scale.to(z.dtype))

    def forward(self, slots):
        if self.sampler is None:
            raise RuntimeError(
                "ParametricUMAPModule.forward trains on a fuzzy graph, which only a fit "
                "attaches; use encode() to map rows."
            )
        sampler = self.sampler.to(slots.device)
        rows = sampler.rows
        n_edges, n_rows = slots.shape[0], rows.shape[0]
        n_negatives = n_edges * self.negative_sample_rate
        heads, tails = sampler.sample(n_edges)
        if 3 * n_edges >= n_rows:
            # Every row once: fewer rows than gathering the batch's would be.
            encoded = rows
            points = self.encoder(rows)
            negatives = torch.randint(n_rows, (n_negatives,), device=rows.device,
                                      generator=training_generator(rows.device))
            head_points, tail_points = points[heads], points[tails]
            negative_points = points[negatives]
        else:
            # Heads, tails and a pool of uniformly drawn rows the negatives come from.
            pool = torch.randint(n_rows, (n_edges,), device=rows.device,
                                 generator=training_generator(rows.device))
            encoded = rows[torch.cat([heads, tails, pool])]
            points = self.encoder(encoded)
            head_points, tail_points, pool_points = points.split(n_edges)
            negatives = torch.randint(n_edges, (n_negatives,), device=rows.device,
                                      generator=training_generator(rows.device))
            negative_points = pool_points[negatives]
        packed = pack_edge_points(head_points, tail_points, negative_points)
        if self.decoder is None:
            return AutoencoderOutput(packed, points)
        shift, scale = self.encoder.shift, self.encoder.scale
        return AutoencoderOutput(packed, points, {"decoded": self.decoder(points),
                                                  "rows": (encoded - shift) / scale})


class UMAPLoss(nn.Module):
    """UMAP's fuzzy-set cross-entropy on a batch of sampled edges.

    The map's membership strength of two points at distance d is
    ``q = 1 / (1 + a d^(2b))``. Each sampled edge (drawn in proportion to
    its weight, so its membership in the graph counts as 1) adds
    ``-log q`` between its ends and ``-repulsion_strength * log(1 - q)``
    between its head and each of its negative samples (UMAP's negative
    sampling: pairs outside the graph count as 0). The loss is the sum over
    a batch divided by its number of edges.

    Parameters
    ----------
    a, b : float
        The curve's parameters (from ``min_dist`` and ``spread``).
    negative_sample_rate : int, default=5
        Negatives per edge in the packed points.
    repulsion_strength : float, default=1.0
        Weight of the negative samples' term.
    """

    def __init__(self, a, b, negative_sample_rate=5, repulsion_strength=1.0):
        super().__init__()
        self.a = a
        self.b = b
        self.negative_sample_rate = negative_sample_rate
        self.repulsion_strength = repulsion_strength

    def log_odds(self, left, right):
        """log(a d^(2b)) between rows of ``left`` and ``right``: minus the logit of q."""
        squared = (left - right).square().sum(dim=1)
        return torch.log(squared + _DISTANCE_FLOOR).mul(self.b).add(math.log(self.a))

    def forward(self, points, slots=None):
        """The loss of the points :func:`pack_edge_points` packed; ``slots`` are ignored."""
        # At least float32, also under bf16 autocast.
        points = points.to(torch.promote_types(points.dtype, torch.float32))
        n_edges = points.shape[0] // (2 + self.negative_sample_rate)
        heads, tails = points[:n_edges], points[n_edges : 2 * n_edges]
        negatives = points[2 * n_edges :]
        # -log q = softplus(log(a d^2b)); -log(1 - q) = softplus(-log(a d^2b)).
        loss = F.softplus(self.log_odds(heads, tails)).sum()
        if self.negative_sample_rate:
            repeated = heads.repeat(self.negative_sample_rate, 1)
            repulsion = F.softplus(-self.log_odds(repeated, negatives)).sum()
            loss = loss + self.repulsion_strength * repulsion
        return loss / max(n_edges, 1)
