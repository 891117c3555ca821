"""A classifier head on a (pretrained) encoder."""

from torch import nn


class EncoderClassifierModule(nn.Module):
    """Logits of a linear softmax head on an autoencoder's codes.

    ``encoder`` is any module with an ``encode`` method (a fitted skae
    autoencoder module); its weights are fine-tuned unless frozen.
    """

    def __init__(self, encoder, n_classes, *, freeze_encoder=False):
        super().__init__()
        self.encoder = encoder
        self.encoder.requires_grad_(not freeze_encoder)
        n_components = encoder.encoder_layers[-1].out_features
        self.head = nn.Linear(n_components, n_classes)

    def forward(self, x):
        return self.head(self.encoder.encode(x))
