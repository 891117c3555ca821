"""Greedy layer-wise pretraining of a stacked dense autoencoder."""

import torch

from .extend import TrainingSpec
from ._engine._training import to_training_tensor


def pretrain_layerwise(module, X, make_net, *, loss, penalties, epochs):
    """Pretrain ``module`` (a DenseAutoencoderModule) in place, one layer at a time.

    Layer ``d`` is trained as a shallow autoencoder (``module.make_stage(d)``)
    on the codes of layers ``0..d-1``, then copied in with
    ``module.load_stage``: its encoder becomes encoder layer ``d`` and its
    decoder the mirror decoder layer. Each stage is trained for ``epochs``
    epochs with the estimator's training settings. The first reconstructs
    the inputs with the ``loss`` kind (and the module's output activation
    and input corruption); deeper ones reconstruct hidden activations with
    the squared error. ``penalties`` (sparsity, for instance) apply to the
    coding layer's stage only.

    Returns the training loss curve of each stage.
    """
    device = next(module.parameters()).device
    codes = to_training_tensor(X, torch.float32, device)
    n_layers = len(module.layer_sizes) - 1
    loss_curves = []
    for depth in range(n_layers):
        stage = module.make_stage(depth)
        net = make_net(TrainingSpec(
            module=stage,
            epochs=epochs,
            criterion_params={"kind": loss if depth == 0 else "mse"},
            penalties=penalties if depth == n_layers - 1 else (),
        ))
        with torch.enable_grad():
            net.partial_fit(codes, epochs=epochs)
        loss_curves.append(list(net.history[:, "train_loss"]))
        module.load_stage(depth, stage)
        codes = _encode_in_chunks(stage.eval(), codes, device)
    return loss_curves


# Rows encoded at a time between stages: sparse inputs are densified no
# more than this many rows at once.
_ENCODE_CHUNK = 8192


def _encode_in_chunks(stage, rows, device):
    with torch.no_grad():
        return torch.cat([
            stage.encode(rows[start : start + _ENCODE_CHUNK].to(device))
            for start in range(0, len(rows), _ENCODE_CHUNK)
        ])
