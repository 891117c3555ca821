"""Greedy layer-wise pretraining of a stacked dense autoencoder."""

import numpy as np
import torch
from scipy import sparse

from .extend import TrainingSpec, train_stage


def pretrain_layerwise(module, X, *, loss, penalties, epochs):
    """Pretrain ``module`` (a DenseAutoencoderModule) in place, one layer at a time.

    Layer ``d`` is trained as a shallow autoencoder (``module.make_stage(d)``)
    on the codes of layers ``0..d-1``, then copied in with
    ``module.load_stage``: its encoder becomes encoder layer ``d`` and its
    decoder the mirror decoder layer. Each stage is trained by the engine's
    :func:`~skae.extend.train_stage` for ``epochs`` epochs with the
    estimator's training settings, on the fit's device and under its seed.
    The first reconstructs the inputs with the ``loss`` kind (and the
    module's output activation and input corruption); deeper ones
    reconstruct hidden activations with the squared error. ``penalties``
    (sparsity, for instance) apply to the coding layer's stage only.

    Returns the training loss curve of each stage.
    """
    codes = X
    n_layers = len(module.layer_sizes) - 1
    loss_curves = []
    for depth in range(n_layers):
        stage = module.make_stage(depth)
        net = train_stage(TrainingSpec(
            module=stage,
            epochs=epochs,
            criterion_params={"kind": loss if depth == 0 else "mse"},
            penalties=penalties if depth == n_layers - 1 else (),
        ), codes)
        loss_curves.append(list(net.history[:, "train_loss"]))
        module.load_stage(depth, net.module_)
        codes = _encode_in_chunks(net.module_.eval(), codes, net.device)
    return loss_curves


# Rows encoded at a time between stages: sparse inputs are densified no
# more than this many rows at once.
_ENCODE_CHUNK = 8192


def _encode_in_chunks(stage, rows, device):
    with torch.no_grad():
        return torch.cat([
            stage.encode(_float_rows(rows[start : start + _ENCODE_CHUNK], device))
            for start in range(0, rows.shape[0], _ENCODE_CHUNK)
        ])


def _float_rows(block, device):
    """A block of rows (a tensor, an array, a sparse matrix) as a float32 tensor on device."""
    if isinstance(block, torch.Tensor):
        return block.to(device=device, dtype=torch.float32)
    dense = block.toarray() if sparse.issparse(block) else np.asarray(block)
    return torch.as_tensor(dense, dtype=torch.float32, device=device)
