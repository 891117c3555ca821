"""The hand-differentiated CPU training step (skae._engine._lean) is autograd's step."""

import copy
import itertools
import warnings
from functools import partial

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from skorch.callbacks import Callback
from sklearn.exceptions import ConvergenceWarning

from skae import (
    Autoencoder,
    ConvolutionalAutoencoder,
    DenoisingAutoencoder,
    LinearAutoencoder,
    RecurrentAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)
from skae._engine._lean import LeanDenseStep, lean_step_unsupported_reason
from skae._engine._net import AutoencoderNet
from skae._sparse import _code_kl_sparsity, _code_l1_activity
from skae.exceptions import TrainingDivergedError
from skae.nn import (
    DenseAutoencoderModule,
    GaussianNoise,
    LinearAutoencoderModule,
    ReconstructionLoss,
)
from skae.nn._random import Dropout, drawing_from

ACTIVATIONS = ["relu", "elu", "selu", "tanh", "sigmoid", "identity"]
# (output activation, loss): the reconstruction losses each output allows.
OUTPUTS = [("identity", "mse"), ("sigmoid", "mse"), ("sigmoid", "bce")]


def autograd_gradients(module, X, criterion, weight, penalties, seed):
    """Loss and gradients of one step as the net's autograd step computes them."""
    module.zero_grad(set_to_none=True)
    with drawing_from(torch.Generator().manual_seed(seed)):
        output = module(X)
    loss = criterion(output.reconstruction, X)
    if weight != 1.0:
        loss = weight * loss
    for term_weight, penalty in penalties:
        loss = loss + term_weight * penalty(output)
    loss.backward()
    return float(loss.detach()), {name: p.grad.clone() for name, p in module.named_parameters()}


def lean_gradients(module, X, criterion, weight, penalties, seed):
    """Loss and gradients of one lean step (a zero learning rate keeps the weights)."""
    optimizer = torch.optim.SGD(module.parameters(), lr=0.0)
    step = LeanDenseStep(module, optimizer, criterion)
    with drawing_from(torch.Generator().manual_seed(seed)):
        loss, n_batches, n_rows = step.run_epoch(
            [(X, X)], reconstruction_weight=weight, penalties=penalties
        )
    assert (n_batches, n_rows) == (1, len(X))
    return loss, {name: p.grad.clone() for name, p in module.named_parameters()}


def assert_same_step(module, X, criterion, weight=1.0, penalties=(), seed=0):
    assert lean_step_unsupported_reason(module, torch.optim.SGD(module.parameters()),
                                        criterion) is None
    twin = copy.deepcopy(module)
    expected_loss, expected = autograd_gradients(module, X, criterion, weight, penalties, seed)
    loss, gradients = lean_gradients(twin, X, criterion, weight, penalties, seed)
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    assert gradients.keys() == expected.keys()
    for name, gradient in gradients.items():
        reference = expected[name]
        error = float((gradient - reference).norm() / reference.norm().clamp_min(1e-30))
        assert error <= 1e-5, f"{name}: relative error {error:.2g}"


def rows(n_rows, n_features, seed=0):
    return torch.rand(n_rows, n_features, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("hidden", [(), (12, 6)], ids=["shallow", "deep"])
@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("output_activation, loss", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_autograd(activation, output_activation, loss, tied, hidden):
    torch.manual_seed(0)
    module = DenseAutoencoderModule(
        10, 3, hidden, activation=activation, code_activation=activation,
        output_activation=output_activation, tied_weights=tied,
    ).train()
    assert_same_step(module, rows(37, 10), ReconstructionLoss(loss))


@pytest.mark.parametrize("weight", [0.25, 3.0])
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_gradients_match_autograd_with_a_weighted_reconstruction(loss, weight):
    torch.manual_seed(1)
    module = DenseAutoencoderModule(8, 2, (5,), output_activation="sigmoid").train()
    assert_same_step(module, rows(20, 8), ReconstructionLoss(loss), weight=weight)


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("sparsity", ["kl", "l1"])
def test_gradients_match_autograd_with_sparsity_penalties(sparsity, tied):
    torch.manual_seed(2)
    code_activation = "sigmoid" if sparsity == "kl" else "relu"
    module = DenseAutoencoderModule(9, 12, (7,), code_activation=code_activation,
                                    tied_weights=tied).train()
    term = partial(_code_kl_sparsity, target=0.1) if sparsity == "kl" else _code_l1_activity
    assert_same_step(module, rows(30, 9), ReconstructionLoss("mse"), penalties=[(0.3, term)])


@pytest.mark.parametrize("corruption", [GaussianNoise(0.2), Dropout(0.3)],
                         ids=["gaussian", "dropout"])
def test_gradients_match_autograd_with_input_corruption(corruption):
    torch.manual_seed(3)
    module = DenseAutoencoderModule(8, 3, (6,), corruption=corruption).train()
    assert_same_step(module, rows(25, 8), ReconstructionLoss("mse"), seed=7)


def test_gradients_match_autograd_without_biases():
    torch.manual_seed(4)
    for tied in (False, True):
        module = DenseAutoencoderModule(8, 3, (6,), bias=False, tied_weights=tied).train()
        assert_same_step(module, rows(16, 8), ReconstructionLoss("mse"))


def test_what_the_lean_step_leaves_to_autograd():
    module = DenseAutoencoderModule(6, 2, (4,))
    sgd = torch.optim.SGD(module.parameters(), lr=0.1)
    mse = ReconstructionLoss("mse")
    assert lean_step_unsupported_reason(module, sgd, mse) is None
    assert "criterion" in lean_step_unsupported_reason(module, sgd, torch.nn.L1Loss())
    assert "LBFGS" in lean_step_unsupported_reason(
        module, torch.optim.LBFGS(module.parameters()), mse)
    leaky = DenseAutoencoderModule(6, 2, (4,))
    leaky.hidden_activation = torch.nn.LeakyReLU()
    assert "activation" in lean_step_unsupported_reason(leaky, sgd, mse)
    hooked = DenseAutoencoderModule(6, 2, (4,))
    hooked.encoder_layers[0].register_forward_hook(lambda *args: None)
    assert "hooks" in lean_step_unsupported_reason(hooked, sgd, mse)
    frozen = DenseAutoencoderModule(6, 2, (4,))
    frozen.encoder_layers[0].weight.requires_grad_(False)
    assert lean_step_unsupported_reason(frozen, sgd, mse) is not None
    # A subclass that changes the forward pass is not the stack it inherits.
    assert LinearAutoencoderModule(6, 2).affine_stack() is None


# ------------------------------------------------------------- estimators
@pytest.fixture
def lean_epochs(monkeypatch):
    """Counts the training epochs the lean step runs."""
    counter = {"epochs": 0}
    original = LeanDenseStep.run_epoch

    def counting(self, *args, **kwargs):
        counter["epochs"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LeanDenseStep, "run_epoch", counting)
    return counter


def autograd_only(monkeypatch):
    monkeypatch.setattr(AutoencoderNet, "lean_step_unsupported_reason",
                        lambda self: "autograd steps asked for by the test")


class OnBatch(Callback):
    def on_batch_end(self, net, **kwargs):
        self.batches_ = getattr(self, "batches_", 0) + 1


QUICK = dict(max_epochs=3, device="cpu", random_state=0)


@pytest.mark.parametrize("estimator", [
    Autoencoder(4, hidden_layer_sizes=(8,), **QUICK),
    Autoencoder(4, hidden_layer_sizes=(8,), tied_weights=True, loss="bce",
                output_activation="sigmoid", **QUICK),
    Autoencoder(4, hidden_layer_sizes=(8,), optimizer="sgd", weight_decay=1e-3, **QUICK),
    Autoencoder(4, hidden_layer_sizes=(8,), early_stopping=True, **QUICK),
    SparseAutoencoder(4, hidden_layer_sizes=(8,), **QUICK),
    DenoisingAutoencoder(4, hidden_layer_sizes=(8,), **QUICK),
], ids=["plain", "tied-bce", "sgd", "early-stopping", "sparse", "denoising"])
def test_dense_families_train_with_the_lean_step(estimator, digits, lean_epochs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(digits[0][:300])
    assert lean_epochs["epochs"] == estimator.n_iter_ == 3
    assert np.all(np.isfinite(estimator.loss_curve_))


@pytest.mark.parametrize("estimator", [
    Autoencoder(4, encoder=torch.nn.Linear(64, 4), **QUICK),
    Autoencoder(4, hidden_layer_sizes=(8,), callbacks=[OnBatch()], **QUICK),
    LinearAutoencoder(4, max_epochs=3, device="cpu", random_state=0),
    VariationalAutoencoder(4, hidden_layer_sizes=(8,), **QUICK),
    ConvolutionalAutoencoder(4, image_shape=(1, 8, 8), channels=(2,), **QUICK),
    RecurrentAutoencoder(4, sequence_shape=(8, 8), hidden_size=4, **QUICK),
], ids=["own-network", "batch-callback", "linear", "vae", "conv", "recurrent"])
def test_other_networks_fall_back_to_autograd_steps(estimator, digits, lean_epochs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(digits[0][:200])
    assert lean_epochs["epochs"] == 0
    assert estimator.n_iter_ >= 1
    if estimator.callbacks:
        assert estimator.callbacks[0].batches_ > 0


def fit_both(monkeypatch, make, X, *, then=None):
    """The same fit (and continuation) with the lean step and with autograd steps."""
    fitted = []
    for lean in (True, False):
        with monkeypatch.context() as patch:
            if not lean:
                autograd_only(patch)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                estimator = make().fit(X)
                if then is not None:
                    then(estimator)
        fitted.append(estimator)
    return fitted


def test_sixty_epochs_on_digits_end_within_one_percent_of_autograd(monkeypatch, digits,
                                                                   lean_epochs):
    lean, autograd = fit_both(
        monkeypatch,
        lambda: Autoencoder(16, hidden_layer_sizes=(32,), max_epochs=60, n_iter_no_change=61,
                            device="cpu", random_state=0),
        digits[0],
    )
    assert lean_epochs["epochs"] == 60
    assert lean.loss_curve_[-1] == pytest.approx(autograd.loss_curve_[-1], rel=0.01)


def test_partial_fit_and_warm_start_continue_as_autograd_steps_do(monkeypatch, digits):
    X = digits[0][:400]

    def continue_training(estimator):
        estimator.partial_fit(X[:200])
        estimator.set_params(warm_start=True, max_epochs=2).fit(X)

    lean, autograd = fit_both(
        monkeypatch,
        lambda: Autoencoder(4, hidden_layer_sizes=(8,), max_epochs=3, device="cpu",
                            random_state=0),
        X, then=continue_training,
    )
    assert lean.n_iter_ == autograd.n_iter_ == 6
    assert_allclose(lean.loss_curve_, autograd.loss_curve_, rtol=1e-4)
    # Adam's state is the optimizer's own: its step counters count every step.
    for optimizer in (lean.net_.optimizer_, autograd.net_.optimizer_):
        steps = {float(state["step"]) for state in optimizer.state.values()}
        assert steps == {3 * 7 + 4 + 2 * 7}
    for a, b in zip(lean.net_.optimizer_.state.values(), autograd.net_.optimizer_.state.values()):
        assert_allclose(a["exp_avg_sq"], b["exp_avg_sq"], rtol=1e-3, atol=1e-9)


def test_history_has_one_batch_row_per_epoch(digits):
    ae = Autoencoder(4, hidden_layer_sizes=(8,), **QUICK).fit(digits[0][:300])
    for row in ae.history_:
        assert len(row["batches"]) == 1
        assert row["batches"][0]["train_batch_size"] == 300
        assert row["train_batch_count"] == 5
        assert row["batches"][0]["train_loss"] == row["train_loss"]


def test_divergence_stops_the_lean_step_and_keeps_the_estimator_unfitted(digits, lean_epochs):
    ae = Autoencoder(4, hidden_layer_sizes=(8,), learning_rate=1e4, optimizer="sgd",
                     max_epochs=20, device="cpu", random_state=0)
    with pytest.raises(TrainingDivergedError):
        ae.fit(digits[0][:300] * 100)
    assert lean_epochs["epochs"] >= 1
    assert "net_" not in vars(ae)


def test_the_optimizer_state_is_whole_when_an_epoch_stops_midway(monkeypatch, digits):
    # Stopped by an exception in the middle of an epoch, the fused Adam's
    # step counters are written back: every parameter counts the same steps.
    calls = {"n": 0}
    original = LeanDenseStep.step

    def failing(self, X, y):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("stop here")
        return original(self, X, y)

    ae = Autoencoder(4, hidden_layer_sizes=(8,), max_epochs=1, device="cpu", random_state=0)
    ae.fit(digits[0][:300])
    monkeypatch.setattr(LeanDenseStep, "step", failing)
    optimizer = ae.net_.optimizer_
    net = ae.net_
    with pytest.raises(RuntimeError, match="stop here"):
        net.partial_fit(torch.as_tensor(digits[0][:300], dtype=torch.float32), epochs=1)
    steps = [float(state["step"]) for state in optimizer.state.values()]
    assert steps == [5 + 2] * len(steps)


def test_the_engine_is_not_kept_after_training(digits):
    ae = Autoencoder(4, hidden_layer_sizes=(8,), **QUICK).fit(digits[0][:100])
    assert "lean_step_" not in vars(ae.net_)


def test_a_replaced_parameter_rebuilds_the_engine(digits):
    X = torch.as_tensor(digits[0][:100], dtype=torch.float32)
    ae = Autoencoder(4, hidden_layer_sizes=(8,), **QUICK).fit(digits[0][:100])
    net = ae.net_
    engine = net._lean_step()
    assert engine is not None and net._lean_step() is engine
    layer = net.module_.encoder_layers[0]
    layer.weight = torch.nn.Parameter(layer.weight.detach().clone())
    net.initialize_optimizer()
    rebuilt = net._lean_step()
    assert rebuilt is not engine and rebuilt.trains(net.module_, net.optimizer_, net.criterion_)
    net.partial_fit(X, epochs=1)
    assert layer.weight.grad is not None


ADAMS = [
    (torch.optim.Adam, {}),
    (torch.optim.Adam, {"weight_decay": 1e-2}),
    (torch.optim.Adam, {"amsgrad": True, "maximize": True}),
    (torch.optim.AdamW, {"weight_decay": 1e-2}),
]


@pytest.mark.parametrize("adam, settings", ADAMS, ids=["adam", "l2", "amsgrad", "adamw"])
@pytest.mark.parametrize("kinds", list(itertools.product(["relu", "tanh"], [False, True])))
def test_steps_follow_autograd_and_the_optimizers_own_step(kinds, adam, settings):
    # Several fused Adam steps, its kernel called directly, against Adam.step.
    activation, tied = kinds
    torch.manual_seed(5)
    module = DenseAutoencoderModule(10, 3, (6,), activation=activation, tied_weights=tied)
    twin = copy.deepcopy(module)
    X = rows(64, 10)
    batches = [(X[i:i + 16], X[i:i + 16]) for i in range(0, 64, 16)]
    criterion = ReconstructionLoss("mse")
    reference = adam(module.parameters(), lr=1e-2, fused=True, **settings)
    for _ in range(3):
        for xb, _ in batches:
            reference.zero_grad()
            criterion(module(xb).reconstruction, xb).backward()
            reference.step()
    optimizer = adam(twin.parameters(), lr=1e-2, fused=True, **settings)
    step = LeanDenseStep(twin, optimizer, criterion)
    for _ in range(3):
        step.run_epoch(batches)
    for a, b in zip(module.parameters(), twin.parameters()):
        assert_allclose(b.detach(), a.detach(), rtol=1e-4, atol=1e-6)
    for a, b in zip(reference.state.values(), optimizer.state.values()):
        assert float(a["step"]) == float(b["step"]) == 12
