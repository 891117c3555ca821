"""The captured CUDA training step against an eager loop; skipped without CUDA."""

import copy

import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn
from torch.nn import functional as F

from skae._engine._captured import CapturedTrainStep
from skae.nn import DenseAutoencoderModule

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")

N_FEATURES = 64


def structured_data(n_rows, seed=0):
    """Rows near a 4-dimensional manifold in [0, 1]: an autoencoder can learn them."""
    generator = torch.Generator(device="cuda").manual_seed(seed)
    codes = torch.randn(n_rows, 4, generator=generator, device="cuda")
    mixing = torch.randn(4, N_FEATURES, generator=generator, device="cuda")
    return torch.sigmoid(codes @ mixing)


def permutations(n_rows, n_epochs, seed=0):
    generator = torch.Generator(device="cuda").manual_seed(seed)
    return [torch.randperm(n_rows, generator=generator, device="cuda") for _ in range(n_epochs)]


def make_module(seed=0, **settings):
    torch.manual_seed(seed)
    return DenseAutoencoderModule(N_FEATURES, 8, (32,), **settings).cuda()


def mse(module):
    return lambda inputs, targets: F.mse_loss(module(inputs).reconstruction, targets)


def capturable_adam(module, lr=1e-3):
    return torch.optim.Adam(module.parameters(), lr=lr, fused=True, capturable=True)


def eager_reference(module, X, orders, batch_sizes, lr=1e-3, scheduler=None):
    """The loop a user writes: index-gathered batches, fused Adam, same order."""
    optimizer = torch.optim.Adam(module.parameters(), lr=lr, fused=True)
    schedule = scheduler(optimizer) if scheduler else None
    losses = []
    for order, batch_size in zip(orders, batch_sizes):
        module.train()
        total = torch.zeros((), dtype=torch.float64, device="cuda")
        for start in range(0, len(order), batch_size):
            batch = X[order[start : start + batch_size]]
            optimizer.zero_grad(set_to_none=True)
            loss = F.mse_loss(module(batch).reconstruction, batch)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(batch)
        losses.append(float(total / len(order)))
        if schedule:
            schedule.step()
    return losses


def weights(module):
    return [p.detach().cpu().numpy().copy() for p in module.parameters()]


def assert_same_weights(first, second):
    for a, b in zip(weights(first), weights(second)):
        assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n_rows", [1024, 1000], ids=["whole-batches", "partial-last-batch"])
def test_matches_eager_loop(n_rows):
    X, orders, batch_size = structured_data(n_rows), permutations(n_rows, 4), 64
    module, reference = make_module(), make_module()
    engine = CapturedTrainStep(
        module, capturable_adam(module), mse(module), X, batch_size=batch_size
    )
    losses = [float(engine.run_epoch(order)) for order in orders]
    expected = eager_reference(reference, X, orders, [batch_size] * len(orders))
    assert engine.fallback_reason is None and engine.captured
    assert_allclose(losses, expected, rtol=1e-5)
    assert_same_weights(module, reference)
    assert losses[-1] < losses[0]


def test_partial_last_batch_is_captured_from_the_second_epoch():
    n_rows, batch_size, n_epochs = 1000, 64, 3
    X = structured_data(n_rows)
    module = make_module()
    engine = CapturedTrainStep(
        module, capturable_adam(module), mse(module), X, batch_size=batch_size, warmup_steps=2
    )
    for order in permutations(n_rows, n_epochs):
        engine.run_epoch(order)
    steps_per_epoch = n_rows // batch_size + 1
    # Two warm-up steps and the first epoch's shorter last batch run
    # eagerly; the last batch has its own graph from the second epoch on.
    assert engine.n_eager_steps == 3
    assert engine.n_replays == n_epochs * steps_per_epoch - 3
    assert engine.n_captures == 2


def test_explicit_targets_and_fewer_rows_than_the_inputs():
    X = structured_data(512)
    module, reference = make_module(), make_module()
    engine = CapturedTrainStep(
        module, capturable_adam(module), mse(module), X, X.clone(), batch_size=32
    )
    # A permuted subset, as with a held-out validation split.
    orders = [order[:400] for order in permutations(512, 3)]
    losses = [float(engine.run_epoch(order)) for order in orders]
    expected = eager_reference(reference, X, orders, [32] * 3)
    assert engine.captured
    assert_allclose(losses, expected, rtol=1e-5)
    assert_same_weights(module, reference)


def test_dropout_inside_the_graph_draws_fresh_numbers():
    X = structured_data(1000)
    orders = permutations(1000, 3)
    module = make_module(corruption=nn.Dropout(0.3))
    engine = CapturedTrainStep(module, capturable_adam(module), mse(module), X, batch_size=64)
    torch.manual_seed(123)
    losses = [float(engine.run_epoch(order)) for order in orders]
    assert engine.captured
    # The same seed gives the same run; the default CUDA generator is
    # registered with the graph, so the masks follow the eager sequence.
    reference = make_module(corruption=nn.Dropout(0.3))
    torch.manual_seed(123)
    expected = eager_reference(reference, X, orders, [64] * 3)
    assert_allclose(losses, expected, rtol=1e-5)
    assert_same_weights(module, reference)


@pytest.mark.parametrize("precision", ["tf32", "bfloat16"])
def test_reduced_precision_trains_as_well_as_float32(precision):
    n_rows, n_epochs = 4096, 10
    X, orders = structured_data(n_rows), permutations(n_rows, n_epochs)
    final = {}
    for name in ("float32", precision):
        module = make_module()
        engine = CapturedTrainStep(
            module, capturable_adam(module), mse(module), X, batch_size=128, precision=name
        )
        final[name] = [float(engine.run_epoch(order)) for order in orders][-1]
        assert engine.captured
    assert final[precision] == pytest.approx(final["float32"], rel=0.05)


def test_bfloat16_runs_the_loss_under_autocast():
    X = structured_data(256)
    module = make_module()
    seen = []

    def loss_fn(inputs, targets):
        seen.append(torch.is_autocast_enabled("cuda"))
        return F.mse_loss(module(inputs).reconstruction, targets)

    engine = CapturedTrainStep(
        module, capturable_adam(module), loss_fn, X, batch_size=64, precision="bfloat16"
    )
    engine.run_epoch(permutations(256, 1)[0])
    assert seen and all(seen)
    assert not torch.is_autocast_enabled("cuda")


def test_learning_rate_changes_apply_between_epochs():
    X = structured_data(1000)
    orders = permutations(1000, 3)
    module = make_module()
    optimizer = capturable_adam(module)
    engine = CapturedTrainStep(module, optimizer, mse(module), X, batch_size=64)
    engine.run_epoch(orders[0])
    assert engine.captured
    # A float assigned into the group, as skorch and schedulers do.
    optimizer.param_groups[0]["lr"] = 0.0
    before = weights(module)
    replays = engine.n_replays
    engine.run_epoch(orders[1])  # all steps replayed, the last batch's too
    assert engine.n_replays == replays + 16
    for a, b in zip(before, weights(module)):
        assert_allclose(a, b, rtol=0, atol=0)
    captures = engine.n_captures
    optimizer.param_groups[0]["lr"] = 1e-3
    engine.run_epoch(orders[2])
    assert any((a != b).any() for a, b in zip(before, weights(module)))
    assert engine.n_captures == captures


def test_scheduler_matches_eager_loop():
    X = structured_data(1000)
    orders = permutations(1000, 4)
    module, reference = make_module(), make_module()
    optimizer = capturable_adam(module, lr=3e-3)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.3)
    engine = CapturedTrainStep(module, optimizer, mse(module), X, batch_size=64)
    losses = []
    for order in orders:
        losses.append(float(engine.run_epoch(order)))
        schedule.step()
    expected = eager_reference(
        reference, X, orders, [64] * 4, lr=3e-3,
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.3),
    )
    assert_allclose(losses, expected, rtol=1e-5)
    assert_same_weights(module, reference)


def test_batch_size_change_recaptures():
    X = structured_data(1000)
    orders = permutations(1000, 4)
    module, reference = make_module(), make_module()
    engine = CapturedTrainStep(module, capturable_adam(module), mse(module), X, batch_size=64)
    batch_sizes = [64, 64, 100, 100]
    losses = []
    for order, batch_size in zip(orders, batch_sizes):
        engine.batch_size = batch_size
        losses.append(float(engine.run_epoch(order)))
    # 64: full and last batch; 100: full batches only (1000 = 10 x 100).
    assert engine.n_captures == 3
    expected = eager_reference(reference, X, orders, batch_sizes)
    assert_allclose(losses, expected, rtol=1e-5)
    assert_same_weights(module, reference)


def test_optimizer_state_reload_recaptures():
    X = structured_data(512)
    orders = permutations(512, 2)
    module = make_module()
    optimizer = capturable_adam(module)
    engine = CapturedTrainStep(module, optimizer, mse(module), X, batch_size=64)
    engine.run_epoch(orders[0])
    # Loading a copy replaces the state tensors the graph wrote into.
    optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    engine.run_epoch(orders[1])
    assert engine.n_captures == 2


def test_global_float32_flags_are_restored():
    X = structured_data(256)
    module = make_module()
    seen = []

    def loss_fn(inputs, targets):
        seen.append((torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32))
        return F.mse_loss(module(inputs).reconstruction, targets)

    previous = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    try:
        torch.set_float32_matmul_precision("medium")
        torch.backends.cudnn.allow_tf32 = False
        engine = CapturedTrainStep(
            module, capturable_adam(module), loss_fn, X, batch_size=48, precision="tf32"
        )
        engine.run_epoch(permutations(256, 1)[0])
        assert seen and all(flags == ("high", True) for flags in seen)
        assert torch.get_float32_matmul_precision() == "medium"
        assert torch.backends.cudnn.allow_tf32 is False

        def failing_loss(inputs, targets):
            raise RuntimeError("boom")

        failing = CapturedTrainStep(
            module, capturable_adam(module), failing_loss, X, batch_size=48, precision="tf32"
        )
        with pytest.raises(RuntimeError, match="boom"):
            failing.run_epoch(permutations(256, 1)[0])
        assert torch.get_float32_matmul_precision() == "medium"
        assert torch.backends.cudnn.allow_tf32 is False
    finally:
        torch.set_float32_matmul_precision(previous[0])
        torch.backends.cudnn.allow_tf32 = previous[1]


@pytest.mark.parametrize(
    "make_optimizer, reason",
    [
        (lambda params: torch.optim.Adam(params, lr=1e-3, fused=True), "capturable=True"),
        (lambda params: torch.optim.SGD(params, lr=1e-3), "SGD cannot be captured"),
    ],
    ids=["adam-not-capturable", "sgd"],
)
def test_uncapturable_optimizers_run_eagerly(make_optimizer, reason):
    X = structured_data(500)
    orders = permutations(500, 2)
    module = make_module()
    optimizer = make_optimizer(module.parameters())
    engine = CapturedTrainStep(module, optimizer, mse(module), X, batch_size=64)
    losses = [float(engine.run_epoch(order)) for order in orders]
    assert reason in engine.fallback_reason
    assert not engine.captured and engine.n_replays == 0
    assert engine.n_eager_steps == 2 * 8
    assert losses[1] < losses[0]


def test_a_loss_that_syncs_with_the_host_falls_back_to_eager_steps():
    X = structured_data(512)
    orders = permutations(512, 2)
    module, reference = make_module(), make_module()

    def syncing_loss(inputs, targets):
        loss = F.mse_loss(module(inputs).reconstruction, targets)
        if loss.item() < 0:  # a host read: not capturable
            raise AssertionError
        return loss

    engine = CapturedTrainStep(module, capturable_adam(module), syncing_loss, X, batch_size=64)
    losses = [float(engine.run_epoch(order)) for order in orders]
    assert engine.fallback_reason.startswith("capture failed")
    expected = eager_reference(reference, X, orders, [64, 64])
    assert_allclose(losses, expected, rtol=1e-5)
    assert_same_weights(module, reference)


def test_rejects_bad_settings():
    X = structured_data(64)
    module = make_module()
    with pytest.raises(ValueError, match="precision"):
        CapturedTrainStep(
            module, capturable_adam(module), mse(module), X, batch_size=8, precision="fp16"
        )
    with pytest.raises(ValueError, match="warmup_steps"):
        CapturedTrainStep(
            module, capturable_adam(module), mse(module), X, batch_size=8, warmup_steps=0
        )
    engine = CapturedTrainStep(module, capturable_adam(module), mse(module), X, batch_size=8)
    with pytest.raises(ValueError, match="empty"):
        engine.run_epoch(torch.empty(0, dtype=torch.int64, device="cuda"))
