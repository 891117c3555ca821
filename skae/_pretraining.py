"""Greedy layer-wise pretraining of a stacked dense autoencoder."""

import torch

from .nn import DenseAutoencoderModule, ReconstructionLoss


def pretrain_layerwise(estimator, module, X):
    """Pretrain ``module`` (a DenseAutoencoderModule) in place, one layer at a time.

    Layer ``d`` is trained as a shallow autoencoder on the codes of layers
    ``0..d-1``; its encoder becomes encoder layer ``d`` and its decoder the
    mirror decoder layer. Each shallow autoencoder uses the estimator's
    training settings. The first reconstructs the inputs with the
    estimator's loss, output activation and input corruption; deeper ones
    reconstruct hidden activations with the squared error. Sparsity (or
    any other) penalties apply to the coding layer's stage only.

    Returns the training loss curve of each stage.
    """
    device = next(module.parameters()).device
    codes = estimator._to_training_tensor(X, torch.float32, device)
    n_layers = len(module.encoder_layers)
    loss_curves = []
    for depth, layer in enumerate(module.encoder_layers):
        is_input, is_coding = depth == 0, depth == n_layers - 1
        shallow = DenseAutoencoderModule(
            layer.in_features,
            layer.out_features,
            activation=estimator.activation,
            code_activation=estimator._code_activation() if is_coding else estimator.activation,
            output_activation=(
                estimator.output_activation if is_input else estimator.activation
            ),
            tied_weights=module.tied_weights,
            corruption=module.corruption if is_input else None,
        )
        kind = estimator._reconstruction_loss() if is_input else "mse"
        net = estimator._make_net(
            shallow,
            (ReconstructionLoss, {"kind": kind}),
            estimator._penalties() if is_coding else (),
            device,
            len(codes),
            streaming=False,
        )
        with torch.enable_grad():
            net.partial_fit(codes, epochs=estimator.max_epochs)
        loss_curves.append(list(net.history[:, "train_loss"]))
        _copy_stage(shallow, module, depth)
        with torch.no_grad():
            codes = shallow.eval().encode(codes)
    return loss_curves


def _copy_stage(shallow, module, depth):
    mirror = len(module.encoder_layers) - 1 - depth
    module.encoder_layers[depth].load_state_dict(shallow.encoder_layers[0].state_dict())
    if module.tied_weights:
        module.decoder_biases[mirror].data.copy_(shallow.decoder_biases[0].data)
    else:
        module.decoder_layers[mirror].load_state_dict(shallow.decoder_layers[0].state_dict())
