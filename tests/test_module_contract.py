"""The autoencoder module contract of skae.nn, checked on every module."""

import pytest
import torch

from skae import nn as skae_nn
from skae.nn import (
    ComposedAutoencoderModule,
    ComposedVariationalAutoencoderModule,
    ConvolutionalAutoencoderModule,
    DenseAutoencoderModule,
    EncoderClassifierModule,
    LinearAutoencoderModule,
    RecurrentAutoencoderModule,
    VariationalAutoencoderModule,
    dense_stack,
)

N_FEATURES, N_COMPONENTS = 24, 3

# How to build each module on rows of N_FEATURES; a module missing here
# fails its tests rather than escaping them.
MODULE_SETTINGS = {
    DenseAutoencoderModule: dict(n_features=N_FEATURES, hidden_layer_sizes=(8,)),
    LinearAutoencoderModule: dict(n_features=N_FEATURES),
    VariationalAutoencoderModule: dict(n_features=N_FEATURES, hidden_layer_sizes=(8,)),
    ConvolutionalAutoencoderModule: dict(image_shape=(2, 3, 4), channels=(4,)),
    RecurrentAutoencoderModule: dict(sequence_shape=(6, 4), hidden_size=5),
}
# A user's own networks, here two small dense stacks.
for _composed in (ComposedAutoencoderModule, ComposedVariationalAutoencoderModule):
    MODULE_SETTINGS[_composed] = dict(
        encoder=dense_stack((N_FEATURES, 8, N_COMPONENTS), "tanh"),
        decoder=dense_stack((N_COMPONENTS, 8, N_FEATURES), "tanh"),
        n_features=N_FEATURES,
    )

MODULES = [
    getattr(skae_nn, name) for name in skae_nn.__all__ if name.endswith("AutoencoderModule")
]


def build(module_class):
    torch.manual_seed(0)
    return module_class(n_components=N_COMPONENTS, **MODULE_SETTINGS[module_class])


@pytest.mark.parametrize("module_class", MODULES, ids=lambda cls: cls.__name__)
def test_encode_and_decode_map_flat_rows_to_codes_and_back(module_class):
    module = build(module_class).eval()
    assert (module.n_features, module.n_components) == (N_FEATURES, N_COMPONENTS)
    x = torch.rand(5, N_FEATURES)
    code = module.encode(x)
    assert code.shape == (5, N_COMPONENTS)
    assert module.decode(code).shape == (5, N_FEATURES)
    output = module(x)
    assert output.reconstruction.shape == x.shape
    torch.testing.assert_close(output.code, code)


@pytest.mark.parametrize("module_class", MODULES, ids=lambda cls: cls.__name__)
def test_a_classifier_head_fits_on_any_module(module_class):
    classifier = EncoderClassifierModule(build(module_class), n_classes=4)
    assert classifier(torch.rand(5, N_FEATURES)).shape == (5, 4)


@pytest.mark.parametrize("tied_weights", [False, True])
def test_loaded_stages_compose_into_the_stack(tied_weights):
    module = DenseAutoencoderModule(10, 3, (6,), activation="tanh", code_activation="sigmoid",
                                    output_activation="sigmoid", tied_weights=tied_weights)
    stages = [module.make_stage(depth) for depth in range(2)]
    assert [stage.layer_sizes for stage in stages] == [(10, 6), (6, 3)]
    with torch.no_grad():
        for stage in stages:
            for parameter in stage.parameters():
                parameter.normal_()
        for depth, stage in enumerate(stages):
            module.load_stage(depth, stage)
        x, z = torch.rand(5, 10), torch.rand(5, 3)
        # Stage 0 encodes and decodes with the stack's hidden and output
        # activations, stage 1 with its coding and hidden ones.
        torch.testing.assert_close(module.encode(x), stages[1].encode(stages[0].encode(x)))
        torch.testing.assert_close(module.decode(z), stages[0].decode(stages[1].decode(z)))
