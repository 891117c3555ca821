"""The convolutional autoencoder module."""

import math

from torch import nn

from ._layers import make_activation
from ._output import AutoencoderOutput


def _halved(size):
    return size if size == 1 else math.ceil(size / 2)


def _same_size_conv(c_in, c_out, kernel):
    """A stride-1 convolution whose output has its input's height and width."""
    if all(k % 2 == 1 for k in kernel):
        return nn.Conv2d(c_in, c_out, kernel, padding=(kernel[0] // 2, kernel[1] // 2))
    # An even kernel needs one pixel more on one side. Conv2d's
    # padding="same" does that by copying the input, with a warning; an
    # explicit padding layer does the same copy silently.
    (before_h, after_h), (before_w, after_w) = [((k - 1) // 2, k // 2) for k in kernel]
    return nn.Sequential(
        nn.ZeroPad2d((before_w, after_w, before_h, after_h)), nn.Conv2d(c_in, c_out, kernel)
    )


class ConvolutionalAutoencoderModule(nn.Module):
    """Conv2d + max-pooling encoder, a dense coding layer, an upsampling decoder.

    Each encoder block is a same-padded convolution (an even kernel pads
    one pixel more at the bottom and right than at the top and left, as
    ``padding="same"`` does), the activation and a 2x2 max-pooling (ceil
    mode, so odd sizes lose no pixel; a dimension of size 1 is left alone,
    so a one-row image is a 1-D signal). The coding layer is dense. Each
    decoder block upsamples (nearest) to the exact size its mirror block
    received, then convolves: any height and width come back exactly,
    powers of two or not.

    Inputs and reconstructions are flat, (n, C*H*W), like every skae module.

    Attributes
    ----------
    n_features : int
        Width of the input rows, C*H*W.
    n_components : int
        Width of the codes.
    image_shape : tuple (C, H, W)
        How a row is read as an image.
    """

    def __init__(
        self,
        image_shape,
        n_components,
        channels=(16, 32, 64),
        kernel_size=3,
        *,
        activation="elu",
        output_activation="identity",
        corruption=None,
    ):
        super().__init__()
        n_channels, height, width = image_shape
        self.image_shape = tuple(image_shape)
        self.n_features = math.prod(self.image_shape)
        self.n_components = n_components
        sizes = [(height, width)]
        for _ in channels:
            sizes.append((_halved(sizes[-1][0]), _halved(sizes[-1][1])))
        self.block_sizes = sizes
        kernel = (1 if height == 1 else kernel_size, 1 if width == 1 else kernel_size)
        pool = (1 if height == 1 else 2, 1 if width == 1 else 2)
        widths = [n_channels, *channels]

        encoder = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            encoder += [
                _same_size_conv(c_in, c_out, kernel),
                make_activation(activation),
                nn.MaxPool2d(pool, ceil_mode=True),
            ]
        self.encoder = nn.Sequential(*encoder)
        self.bottleneck_shape = (widths[-1], *sizes[-1])
        n_bottleneck = math.prod(self.bottleneck_shape)
        self.to_code = nn.Linear(n_bottleneck, n_components)
        self.from_code = nn.Sequential(nn.Linear(n_components, n_bottleneck),
                                       make_activation(activation))

        decoder = []
        for depth, (c_in, c_out) in enumerate(zip(widths[:0:-1], widths[-2::-1])):
            is_output = depth == len(channels) - 1
            decoder += [
                nn.Upsample(size=sizes[len(channels) - 1 - depth], mode="nearest"),
                _same_size_conv(c_in, c_out, kernel),
                make_activation(output_activation if is_output else activation),
            ]
        self.decoder = nn.Sequential(*decoder)
        self.corruption = corruption if corruption is not None else nn.Identity()

    def encode(self, x):
        # -1, not len(x): an exported graph must take any number of rows.
        images = x.reshape(-1, *self.image_shape)
        return self.to_code(self.encoder(images).flatten(1))

    def decode(self, z):
        bottleneck = self.from_code(z).reshape(-1, *self.bottleneck_shape)
        return self.decoder(bottleneck).flatten(1)

    def forward(self, x):
        code = self.encode(self.corruption(x))
        return AutoencoderOutput(self.decode(code), code)
