"""Dense (fully connected) autoencoder modules."""

from itertools import pairwise
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ._layers import make_activation
from ._output import AutoencoderOutput


def _activate(activation, x):
    return x if type(activation) is nn.Identity else activation(x)


class AffineLayer(NamedTuple):
    """One layer of a dense stack: ``activation(x @ W.T + bias)``.

    Attributes
    ----------
    weight : torch.nn.Parameter
        The parameter holding the layer's weights.
    bias : torch.nn.Parameter or None
        The layer's bias, if it has one.
    transposed : bool
        True when the layer multiplies by ``weight`` itself, not its
        transpose (a tied decoder layer reusing its mirror's weights).
    activation : torch.nn.Module or None
        The activation module after the layer; None for the identity.
    """

    weight: torch.Tensor
    bias: torch.Tensor | None
    transposed: bool
    activation: nn.Module | None


class AffineStack(NamedTuple):
    """:meth:`DenseAutoencoderModule.forward` as plain data (see ``affine_stack``)."""

    layers: tuple
    code_index: int
    corruption: nn.Module | None


class DenseAutoencoderModule(nn.Module):
    """A symmetric dense autoencoder, optionally with tied weights.

    The encoder maps ``n_features -> *hidden_layer_sizes -> n_components``;
    the decoder mirrors it. With ``tied_weights=True`` each decoder layer
    uses the transposed weight matrix of its mirror encoder layer and keeps
    only a bias of its own.

    Parameters
    ----------
    n_features : int
    n_components : int
    hidden_layer_sizes : tuple of int, default=()
    activation : str, default="relu"
        Activation after every hidden layer, in encoder and decoder.
    code_activation : str, default="identity"
        Activation of the coding layer.
    output_activation : str, default="identity"
    tied_weights : bool, default=False
    bias : bool, default=True
    corruption : nn.Module or None, default=None
        Applied to the input of :meth:`forward` only (denoising); it must
        be a no-op in eval mode.

    Attributes
    ----------
    n_features : int
        Width of the input rows.
    n_components : int
        Width of the codes.
    layer_sizes : tuple of int
        ``(n_features, *hidden_layer_sizes, n_components)``: encoder layer
        ``d`` maps ``layer_sizes[d]`` units to ``layer_sizes[d + 1]``.
    tied_weights : bool
        Whether the decoder reuses the transposed encoder weights.
    """

    # Its training step can be captured in a CUDA graph and replayed
    # (checked on an H100 for the dense, denoising and sparse nets; the
    # VAE's sampling draws from the same graph-safe generator as dropout).
    # Other modules train eagerly until checked: a capture that fails
    # midway can leave torch's CUDA generator unusable for the process.
    graph_capturable = True

    def __init__(
        self,
        n_features,
        n_components,
        hidden_layer_sizes=(),
        *,
        activation="relu",
        code_activation="identity",
        output_activation="identity",
        tied_weights=False,
        bias=True,
        corruption=None,
    ):
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes, n_components]
        self.n_features = n_features
        self.n_components = n_components
        self.layer_sizes = tuple(sizes)
        self.tied_weights = tied_weights
        # Kept to build matching one-layer stages (make_stage).
        self._stage_settings = {
            "activation": activation,
            "code_activation": code_activation,
            "output_activation": output_activation,
            "bias": bias,
        }
        self.encoder_layers = nn.ModuleList(
            nn.Linear(n_in, n_out, bias=bias) for n_in, n_out in pairwise(sizes)
        )
        mirrored = list(pairwise(reversed(sizes)))
        if tied_weights:
            self.decoder_biases = nn.ParameterList(
                nn.Parameter(torch.zeros(n_out)) if bias else None
                for _, n_out in mirrored
            )
        else:
            self.decoder_layers = nn.ModuleList(
                nn.Linear(n_in, n_out, bias=bias) for n_in, n_out in mirrored
            )
        self.hidden_activation = make_activation(activation)
        self.code_activation = make_activation(code_activation)
        self.output_activation = make_activation(output_activation)
        self.corruption = corruption if corruption is not None else nn.Identity()

    # A small net's step is bound by Python overhead: the loops below iterate
    # the ModuleLists (indexing one, or slicing it, costs microseconds) and
    # skip identity activations rather than calling them.
    def encode_hidden(self, x):
        """The last hidden layer's activations (x itself with no hidden layer)."""
        last = len(self.encoder_layers) - 1
        for depth, layer in enumerate(self.encoder_layers):
            if depth == last:
                break
            x = _activate(self.hidden_activation, layer(x))
        return x

    def encode(self, x):
        coding_layer = self.encoder_layers[-1]
        return _activate(self.code_activation, coding_layer(self.encode_hidden(x)))

    def decode(self, z):
        last = len(self.encoder_layers) - 1
        mirrors = list(self.encoder_layers)[::-1]
        decoders = self.decoder_biases if self.tied_weights else self.decoder_layers
        for depth, (mirror, decoder) in enumerate(zip(mirrors, decoders)):
            # A tied layer's decoder is its mirror's transposed weight and a bias.
            z = F.linear(z, mirror.weight.t(), decoder) if self.tied_weights else decoder(z)
            activation = self.output_activation if depth == last else self.hidden_activation
            z = _activate(activation, z)
        return z

    def forward(self, x):
        code = self.encode(_activate(self.corruption, x))
        return AutoencoderOutput(self.decode(code), code)

    def affine_stack(self):
        """The training forward pass as a list of affine layers, or None.

        A training step that differentiates the stack by hand (the CPU
        training step of :mod:`skae._engine._lean`) reads this instead of the
        module's attributes. Subclasses that change ``forward``, ``encode``,
        ``encode_hidden`` or ``decode`` get None: their pass is not the one
        described here.

        Returns
        -------
        stack : AffineStack or None
            ``layers``: one :class:`AffineLayer` per layer, from the input to
            the reconstruction; ``code_index``: the index of the layer whose
            output is the code; ``corruption``: the input corruption module,
            or None when there is none.
        """
        base = DenseAutoencoderModule
        if any(getattr(type(self), name) is not getattr(base, name)
               for name in ("forward", "encode", "encode_hidden", "decode")):
            return None

        def activation(module):
            return None if type(module) is nn.Identity else module

        last = len(self.encoder_layers) - 1
        layers = [
            AffineLayer(layer.weight, layer.bias, False, activation(
                self.code_activation if depth == last else self.hidden_activation))
            for depth, layer in enumerate(self.encoder_layers)
        ]
        mirrors = list(self.encoder_layers)[::-1]
        decoders = self.decoder_biases if self.tied_weights else self.decoder_layers
        for depth, (mirror, decoder) in enumerate(zip(mirrors, decoders)):
            after = activation(self.output_activation if depth == last else self.hidden_activation)
            if self.tied_weights:
                layers.append(AffineLayer(mirror.weight, decoder, True, after))
            else:
                layers.append(AffineLayer(decoder.weight, decoder.bias, False, after))
        return AffineStack(tuple(layers), last, activation(self.corruption))

    def make_stage(self, depth):
        """A fresh one-layer autoencoder standing for layer ``depth`` of the stack.

        Greedy layer-wise pretraining trains it on the codes of layers
        ``0 .. depth - 1`` and copies it in with :meth:`load_stage`. Its
        encoder has the shape and activation of encoder layer ``depth``
        (the coding activation for the last layer, the hidden one
        otherwise); its decoder has the shape and activation of the mirror
        decoder layer (the output activation for ``depth == 0``, since it
        reconstructs the input, the hidden one otherwise). It shares this
        module's ``tied_weights`` and bias setting, and, at depth 0 only,
        its input corruption.

        Parameters
        ----------
        depth : int
            Index of the encoder layer, from 0 (next to the input) to
            ``len(layer_sizes) - 2`` (the coding layer).

        Returns
        -------
        stage : DenseAutoencoderModule
            A new, randomly initialised module with one encoder layer.
        """
        n_layers = len(self.layer_sizes) - 1
        if not 0 <= depth < n_layers:
            raise IndexError(f"depth must be in [0, {n_layers - 1}]; got {depth}.")
        settings = self._stage_settings
        return DenseAutoencoderModule(
            self.layer_sizes[depth],
            self.layer_sizes[depth + 1],
            activation=settings["activation"],
            code_activation=(
                settings["code_activation"] if depth == n_layers - 1 else settings["activation"]
            ),
            output_activation=(
                settings["output_activation"] if depth == 0 else settings["activation"]
            ),
            tied_weights=self.tied_weights,
            bias=settings["bias"],
            corruption=self.corruption if depth == 0 else None,
        )

    def load_stage(self, depth, stage):
        """Copy a trained stage from :meth:`make_stage` into layer ``depth``.

        Its encoder layer becomes encoder layer ``depth`` and its decoder
        layer (or, with tied weights, its decoder bias) the mirror decoder
        layer; the other layers are left as they are.

        Parameters
        ----------
        depth : int
            Index of the encoder layer the stage stands for.
        stage : DenseAutoencoderModule
            The module :meth:`make_stage` returned for ``depth``, trained.
        """
        mirror = len(self.encoder_layers) - 1 - depth
        self.encoder_layers[depth].load_state_dict(stage.encoder_layers[0].state_dict())
        if not self.tied_weights:
            self.decoder_layers[mirror].load_state_dict(stage.decoder_layers[0].state_dict())
        elif self.decoder_biases[mirror] is not None:
            with torch.no_grad():
                self.decoder_biases[mirror].copy_(stage.decoder_biases[0])


class LinearAutoencoderModule(DenseAutoencoderModule):
    """An undercomplete linear autoencoder on centred data.

    No biases and no activations: the encoder is ``W_e (x - mean) / scale``
    and the decoder ``W_d (z * scale) + mean``. Minimising the squared error
    makes the column space of ``W_d`` the principal subspace. ``mean`` is a
    buffer set from the data, not a learned parameter, as PCA's ``mean_``
    is; ``code_scale`` is a buffer of ones that whitening sets to the codes'
    standard deviations (it cancels out of every reconstruction).
    """

    def __init__(self, n_features, n_components, *, tied_weights=False):
        super().__init__(
            n_features,
            n_components,
            activation="identity",
            tied_weights=tied_weights,
            bias=False,
        )
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("code_scale", torch.ones(n_components))

    def encode(self, x):
        return super().encode(x - self.mean) / self.code_scale

    def decode(self, z):
        return super().decode(z * self.code_scale) + self.mean

    def decoder_weight(self):
        """The (n_features, n_components) matrix that maps codes to inputs."""
        if self.tied_weights:
            return self.encoder_layers[0].weight.t()
        return self.decoder_layers[0].weight

    @torch.no_grad()
    def load_basis(self, components, code_scale):
        """Encode by orthogonal projection on the rows of ``components``, and decode back.

        Sets the encoder to ``components`` (n_components, n_features), with
        orthonormal rows, the decoder to its transpose and ``code_scale``;
        the reconstruction is then the orthogonal projection on their span.
        """
        components = torch.as_tensor(components)
        weight = self.encoder_layers[0].weight
        weight.copy_(components.to(weight))
        if not self.tied_weights:
            self.decoder_layers[0].weight.copy_(components.t().to(weight))
        self.code_scale.copy_(torch.as_tensor(code_scale).to(self.code_scale))
