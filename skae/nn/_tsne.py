"""The parametric t-SNE network and its minibatch loss.

Nothing here imports scikit-learn or skorch: the estimator computes the
affinities P and hands them over as tensors.
"""

import math

import torch
from torch import nn

from ._layers import GaussianNoise, make_activation


class SoftLandmarks(nn.Module):
    """Soft assignment of rows to learned landmarks: the softmax of minus their squared distances.

    Row ``i`` becomes the vector ``softmax_k(-|x_i - c_k|^2 / t)`` over
    ``n_landmarks`` centres ``c_k`` and a temperature ``t``, both learned,
    times ``sqrt(n_landmarks)``.
    Layers after it see where a row lies among the landmarks rather than
    its coordinates, so a new row is mapped much as the training rows
    around it are (the idea of kernel t-SNE, Gisbrecht et al. 2015, with
    learned kernel centres).

    Parameters
    ----------
    n_features : int
        Width of the input rows.
    n_landmarks : int
        Number of centres: the width of the output.

    Attributes
    ----------
    centres : torch.nn.Parameter
        (n_landmarks, n_features) landmark positions.
    log_temperature : torch.nn.Parameter
        Scalar log of the softmax temperature.
    gain : float
        ``sqrt(n_landmarks)``, the factor on the softmax's output.
    """

    def __init__(self, n_features, n_landmarks):
        super().__init__()
        self.centres = nn.Parameter(torch.randn(n_landmarks, n_features))
        self.log_temperature = nn.Parameter(torch.zeros(()))
        # The soft assignment sums to 1; scaled by sqrt(n_landmarks) its
        # entries reach the next layer at about the size of standardised
        # features, so that a short fit learns as fast as a plain dense net
        # (measured: 60 steps on 450 digits rows, trustworthiness 0.84 -> 0.97).
        self.gain = math.sqrt(n_landmarks)

    @torch.no_grad()
    def place(self, centres, temperature):
        """Set the centres (a tensor of their shape) and the temperature (a positive float)."""
        self.centres.copy_(centres)
        self.log_temperature.fill_(math.log(temperature))

    def logits(self, x):
        """(n_rows, n_landmarks) minus the squared distances over t, up to a constant per row.

        ``|x_i|^2`` is the same for every landmark and the softmax ignores
        it: one matrix product, with t folded into the small centres matrix.
        """
        centres = self.centres.to(x.dtype)
        inverse_temperature = torch.exp(-self.log_temperature.to(x.dtype))
        return torch.addmm(
            centres.square().sum(dim=1) * -inverse_temperature,
            x, centres.T * (2.0 * inverse_temperature),
        )

    def forward(self, x):
        # Distances and the softmax in at least float32, also under bf16 autocast:
        # bf16's 8-bit mantissa would blur which landmark is nearest.
        dtype = torch.promote_types(x.dtype, torch.float32)
        with torch.autocast(x.device.type, enabled=False):
            weights = torch.softmax(self.logits(x.to(dtype)), dim=1)
        if torch.is_grad_enabled():
            return weights * self.gain
        # In place where no backward needs the softmax's output: a pass fewer.
        return weights.mul_(self.gain)


class StandardisedInputs(nn.Module):
    """What every parametric t-SNE map does to its input rows before its network.

    Rows are centred, optionally projected onto ``n_inputs`` directions,
    and divided by one scale (set from the training data by the estimator),
    so that a network's initial weights suit data of any magnitude; one
    scale for all features keeps the geometry the affinities were computed
    from. In training mode Gaussian noise of ``input_noise`` times that
    scale is added.
    """

    def __init__(self, n_features, n_components, *, n_inputs=None, input_noise=0.0):
        super().__init__()
        self.n_features = n_features
        self.n_components = n_components
        self.register_buffer("shift", torch.zeros(n_features))
        if n_inputs is not None:
            self.register_buffer("projection", torch.eye(n_features, n_inputs))
        else:
            self.projection = None
        self.register_buffer("scale", torch.ones(()))
        self.noise = GaussianNoise(input_noise)
        self.landmarks = None

    @torch.no_grad()
    def set_input_statistics(self, shift, scale, projection=None, input_noise=None):
        """Set the shift (n_features,), the scale (a positive float), the projection and the noise.

        ``input_noise``, if given, replaces the training-time noise's
        standard deviation (in units of the scale).
        """
        self.shift.copy_(shift)
        self.scale.fill_(scale)
        if projection is not None:
            self.projection.copy_(projection)
        if input_noise is not None:
            self.noise.std = float(input_noise)

    def standardise(self, x):
        """The rows as the network's first layer sees them (without the training noise)."""
        if self.projection is None:
            return (x - self.shift) / self.scale
        # Shift and scale folded into the small projection matrix: one pass
        # over the input instead of three.
        projection = self.projection / self.scale
        return torch.addmm(-(self.shift @ projection), x, projection)


class EmbeddingModule(StandardisedInputs):
    """A dense net from input rows to points of a low-dimensional map.

    Inputs are first centred, optionally projected onto a few directions
    (principal components, set from the training data by the estimator),
    and divided by one scale, so that the weights' initial scale suits
    data of any magnitude; one scale for all features keeps the data's
    geometry, which the affinities were computed from. In training mode
    Gaussian noise of ``input_noise`` times that scale is added to the
    (projected) inputs. Then comes an optional :class:`SoftLandmarks`
    layer, the hidden layers and a linear output layer.

    Parameters
    ----------
    n_features : int
    n_components : int
        Dimension of the map.
    hidden_layer_sizes : tuple of int, default=()
    activation : str, default="relu"
        Activation after every hidden layer; the output layer is linear.
    n_inputs : int, default=None
        Number of projection directions; None feeds the centred rows whole.
    n_landmarks : int, default=None
        Width of a :class:`SoftLandmarks` first layer; None for none.
    input_noise : float, default=0.0
        Standard deviation of the training-time input noise, in units of
        the scale.

    Attributes
    ----------
    n_features : int
        Width of the input rows.
    n_components : int
        Dimension of the map.
    shift : torch.Tensor
        Buffer of shape (n_features,) subtracted from the inputs.
    projection : torch.Tensor
        Buffer of shape (n_features, n_inputs) the centred inputs are
        multiplied by; None when ``n_inputs`` is None.
    scale : torch.Tensor
        Scalar buffer the (projected) inputs are divided by.
    landmarks : SoftLandmarks or None
        The first layer, when ``n_landmarks`` is set.
    first : torch.nn.Linear
        The dense layer after the landmarks (or the standardised input).
    later : torch.nn.Sequential
        What follows ``first``: an activation and a linear layer per
        further layer, the last linear one giving the map.
    """

    def __init__(self, n_features, n_components, hidden_layer_sizes=(), *, activation="relu",
                 n_inputs=None, n_landmarks=None, input_noise=0.0):
        super().__init__(n_features, n_components, n_inputs=n_inputs, input_noise=input_noise)
        width = n_features if n_inputs is None else n_inputs
        self.landmarks = None if n_landmarks is None else SoftLandmarks(width, n_landmarks)
        width = width if n_landmarks is None else n_landmarks
        sizes = [width, *hidden_layer_sizes, n_components]
        self.first = nn.Linear(sizes[0], sizes[1])
        later = []
        for n_in, n_out in zip(sizes[1:-1], sizes[2:]):
            later += [make_activation(activation), nn.Linear(n_in, n_out)]
        self.later = nn.Sequential(*later)

    def encode(self, x):
        """(n_samples, n_features) -> (n_samples, n_components): points on the map."""
        if self.landmarks is None and self.projection is None and (
            self.noise.std == 0 or not self.training
        ):
            # The shift and scale folded into the first layer's weights: a
            # pass over the small weight matrix instead of two over the input.
            weight = self.first.weight / self.scale
            bias = self.first.bias - weight @ self.shift
            return self.later(nn.functional.linear(x, weight, bias))
        h = self.noise(self.standardise(x))
        if self.landmarks is not None:
            h = self.landmarks(h)
        return self.later(self.first(h))

    def forward(self, x):
        return self.encode(x)


class NetworkEmbeddingModule(StandardisedInputs):
    """A parametric t-SNE map through a user's own network.

    The rows are centred and scaled as :class:`StandardisedInputs` does
    (with no projection), then ``network`` maps them, (n_samples,
    n_features), to points of the map, (n_samples, n_components).

    Attributes
    ----------
    network : torch.nn.Module
        The user's network.
    graph_capturable : bool
        Whether ``network`` declares ``graph_capturable = True``.
    """

    def __init__(self, network, n_features, n_components, *, input_noise=0.0):
        super().__init__(n_features, n_components, input_noise=input_noise)
        self.network = network

    @property
    def graph_capturable(self):
        return bool(getattr(self.network, "graph_capturable", False))

    def encode(self, x):
        """(n_samples, n_features) -> (n_samples, n_components): points on the map."""
        return self.network(self.noise(self.standardise(x)))

    def forward(self, x):
        return self.encode(x)


# Under bf16 autocast (precision="bfloat16") the map's distances and kernels
# are still computed in float32: bf16's 8-bit mantissa would blur them.
_FLOAT32_ON_CUDA = torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
_BACKWARD_ON_CUDA = torch.amp.custom_bwd(device_type="cuda")


class _LogPartition(torch.autograd.Function):
    """log Z, Z the sum of Student-t kernels over all ordered pairs of rows of y.

    Written out rather than left to autograd: autograd keeps half a dozen
    (n, n) intermediates and makes as many passes over them; this keeps one
    kernel matrix and computes the gradient with one matrix product.
    """

    @staticmethod
    @_FLOAT32_ON_CUDA
    def forward(ctx, y, dof):
        squared = y.square().sum(dim=1)
        # ||y_i - y_j||^2 as |y_i|^2 + |y_j|^2 - 2 y_i.y_j, in place from here on.
        u = torch.addmm(squared[:, None] + squared[None, :], y, y.T, alpha=-2.0)
        u.clamp_(min=0).div_(dof).add_(1).reciprocal_()
        kernel = u if dof == 1.0 else u.pow((dof + 1) / 2)
        # The diagonal (a point with itself, kernel 1) is no pair.
        partition = (kernel.sum() - y.shape[0]).clamp(min=torch.finfo(y.dtype).tiny)
        ctx.save_for_backward(y, u, kernel, partition)
        ctx.dof = dof
        return partition.log()

    @staticmethod
    @_BACKWARD_ON_CUDA
    def backward(ctx, grad_output):
        y, u, kernel, partition = ctx.saved_tensors
        dof = ctx.dof
        # d kernel_ij / d ||y_i - y_j||^2 = -(dof + 1) / (2 dof) u_ij kernel_ij;
        # each pair appears twice in Z. The diagonal terms cancel out.
        weights = u * kernel
        scale = -(2.0 * (dof + 1) / dof) * grad_output / partition
        grad = scale * (weights.sum(dim=1, keepdim=True) * y - weights @ y)
        return grad, None


def log_partition(y, dof=1.0):
    """log of the sum over ordered pairs i != j of (1 + |y_i - y_j|^2 / dof)^(-(dof + 1) / 2).

    Differentiable in ``y``; costs two (n, n) matrices.
    """
    return _LogPartition.apply(y, float(dof))


class _Attraction(torch.autograd.Function):
    """sum_e p_e log(1 / w_e) over the pairs (heads[e], tails[e]) of a symmetric P.

    P's restriction to a batch stores each pair twice, once from each end,
    so a point's gradient is summed over the pairs it heads: no scatter to
    the tail of each pair, as autograd of the gathers would do.
    """

    @staticmethod
    @_FLOAT32_ON_CUDA
    def forward(ctx, y, heads, tails, p, dof):
        differences = y[heads] - y[tails]
        distances = differences.square().sum(dim=1)
        ctx.save_for_backward(heads, differences, distances, p)
        ctx.dof = dof
        ctx.n_points = y.shape[0]
        return (p * torch.log1p(distances / dof)).sum() * ((dof + 1) / 2)

    @staticmethod
    @_BACKWARD_ON_CUDA
    def backward(ctx, grad_output):
        heads, differences, distances, p = ctx.saved_tensors
        dof = ctx.dof
        # d/dy_i of (dof + 1) / 2 * p_ij log(1 + d_ij / dof) is
        # (dof + 1) p_ij (y_i - y_j) / (dof + d_ij), from pair (i, j) and
        # again from its mirror (j, i).
        weighted = (p / (dof + distances))[:, None] * differences
        grad = differences.new_zeros(ctx.n_points, differences.shape[1])
        grad.index_add_(0, heads, weighted)
        return grad * (2.0 * (dof + 1) * grad_output), None, None, None, None


class NeighbourAffinities:
    """A sparse symmetric affinity matrix P over the training rows, stored row by row.

    Row ``i``'s non-zero entries are ``values[i]`` at columns ``columns[i]``,
    padded to the longest row with value 0 at column ``n_samples`` (no
    row). That layout gives any batch's restriction of P with fixed-shape
    gathers (no sparse indexing).

    Parameters
    ----------
    columns : torch.Tensor of int64, shape (n_samples, width)
    values : torch.Tensor of float32, shape (n_samples, width)
    """

    def __init__(self, columns, values):
        self.columns = columns
        self.values = values

    def __len__(self):
        return len(self.columns)

    def to(self, device):
        """Move the tensors to ``device`` (once) and return self."""
        if self.columns.device != torch.device(device):
            self.columns = self.columns.to(device)
            self.values = self.values.to(device)
        return self

    def release(self):
        """Drop the tensors: a fitted model does not need P, and should not pickle it."""
        self.columns = self.values = torch.empty(0)

    def restricted(self, rows):
        """P restricted to ``rows`` (a batch), as its pairs: (heads, tails, values).

        ``heads`` and ``tails`` are positions within ``rows`` of the two
        ends of each non-zero entry whose row and column both lie in the
        batch, and ``values`` the entries. Each pair comes twice, once from
        each end; heads are in ascending order.
        """
        # One slot past the rows for the padding column, which is in no batch.
        position = torch.full((len(self) + 1,), -1, dtype=torch.int64, device=rows.device)
        position[rows] = torch.arange(len(rows), device=rows.device)
        width = self.columns.shape[1]
        columns = position.take(self.columns.index_select(0, rows)).view(-1)
        # Only the pairs inside the batch: about batch_size / n_samples of
        # the stored entries, and none of the padding. Flat indices into the
        # (batch, width) block, as flat gathers are the fast ones.
        entries = (columns >= 0).nonzero().squeeze(1)
        heads = entries.div(width, rounding_mode="floor")
        stored = rows.index_select(0, heads) * width + (entries - heads * width)
        return heads, columns.take(entries), self.values.take(stored)


class TSNELoss(nn.Module):
    """KL(P_b || Q_b) of one batch of map points: t-SNE's objective on a minibatch.

    P_b is P restricted to the batch's rows and renormalised to sum to 1;
    Q_b is the Student-t kernel normalised over the batch's ordered pairs.
    With ``exaggeration`` a > 1 the gradient is that of
    ``a * sum P_b log(1 / w) + log Z`` (t-SNE's early exaggeration), while
    the value returned stays the batch's KL divergence, so that losses of
    all epochs compare.

    Parameters
    ----------
    affinities : NeighbourAffinities
        P over the training rows.
    dof : float, default=1.0
        Degrees of freedom of the Student-t kernel.
    exaggeration : float, default=1.0
        Factor on the attractive term's gradient; set between epochs.
    """

    def __init__(self, affinities, dof=1.0, exaggeration=1.0):
        super().__init__()
        self.affinities = affinities
        self.dof = dof
        self.exaggeration = exaggeration

    def forward(self, embedding, rows):
        """The batch's KL divergence; ``rows`` are the batch's indices into P."""
        if len(rows) < 2:
            # No pair: nothing to match.
            return embedding.sum() * 0.0
        dof = float(self.dof)
        heads, tails, values = self.affinities.to(embedding.device).restricted(rows)
        # At least float32, also when the map comes out of bf16 autocast.
        values = values.to(torch.promote_types(embedding.dtype, torch.float32))
        total = values.sum().clamp(min=torch.finfo(values.dtype).tiny)
        p = values / total
        # -log w_ij = (dof + 1) / 2 * log(1 + d_ij / dof), over P's non-zero pairs only.
        attraction = _Attraction.apply(embedding, heads, tails, p, dof)
        entropy = torch.special.xlogy(p, p).sum()
        log_z = log_partition(embedding, dof)
        kl = entropy + attraction + log_z
        if self.exaggeration == 1.0:
            return kl
        objective = self.exaggeration * attraction + log_z
        return objective + (kl - objective).detach()
