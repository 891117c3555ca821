"""A classifier head on a (pretrained) encoder."""

from torch import nn


class EncoderClassifierModule(nn.Module):
    """Logits of a linear softmax head on an autoencoder's codes.

    ``encoder`` is any module that keeps the autoencoder module contract of
    :mod:`skae.nn` (it reads ``encode`` and ``n_components`` only), such as
    a fitted skae autoencoder's module; its weights are fine-tuned unless
    frozen.
    """

    @property
    def graph_capturable(self):
        """Whether a training step can be replayed from a CUDA graph: as the encoder's."""
        return getattr(self.encoder, "graph_capturable", False)

    def __init__(self, encoder, n_classes, *, freeze_encoder=False):
        super().__init__()
        self.encoder = encoder
        self.encoder.requires_grad_(not freeze_encoder)
        self.head = nn.Linear(encoder.n_components, n_classes)

    def forward(self, x):
        return self.head(self.encoder.encode(x))
