import pytest
import torch
from torch import nn

from skae._engine._net import AutoencoderNet, GatheredBatches, RowSubset
from skae.exceptions import TrainingDivergedError
from skae.nn import DenseAutoencoderModule, ReconstructionLoss


def batches_of(tensors, batch_size, *, shuffle, rows=None):
    return list(GatheredBatches(RowSubset(tensors, rows), batch_size, shuffle=shuffle, device="cpu"))


def test_gathered_batches_cover_every_row_once_per_epoch():
    X = torch.arange(10.0).reshape(10, 1)
    batches = batches_of((X, X), 4, shuffle=True)
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    seen = torch.cat([b[0] for b in batches]).flatten()
    assert sorted(seen.tolist()) == list(range(10))
    assert all(b[0] is b[1] for b in batches), "an input used as target is sliced once"


def test_gathered_batches_keep_pairs_aligned_when_shuffled():
    X = torch.arange(12.0).reshape(12, 1)
    y = torch.arange(12) * 10
    for xb, yb in batches_of((X, y), 5, shuffle=True):
        assert torch.equal(xb.flatten().long() * 10, yb)


def test_gathered_batches_keep_order_without_shuffle():
    X = torch.arange(7.0).reshape(7, 1)
    batches = batches_of((X, X), 3, shuffle=False)
    assert torch.cat([b[0] for b in batches]).flatten().tolist() == list(range(7))


def test_gathered_batches_draw_only_the_split_rows():
    X = torch.arange(10.0).reshape(10, 1)
    rows = torch.tensor([7, 2, 5])
    shuffled = batches_of((X, X), 2, shuffle=True, rows=rows)
    assert sorted(torch.cat([b[0] for b in shuffled]).flatten().tolist()) == [2.0, 5.0, 7.0]
    in_order = batches_of((X, X), 2, shuffle=False, rows=rows)
    assert torch.cat([b[0] for b in in_order]).flatten().tolist() == [7.0, 2.0, 5.0]


def test_batches_are_gathered_without_a_shuffled_copy_of_the_data():
    X = torch.rand(1000, 3)
    gathered = []
    original = torch.Tensor.index_select

    def spy(tensor, dim, index):
        gathered.append(len(index))
        return original(tensor, dim, index)

    torch.Tensor.index_select = spy
    try:
        batches_of((X, X), 100, shuffle=True)
    finally:
        torch.Tensor.index_select = original
    assert gathered == [100] * 10


def make_net(**kwargs):
    settings = {"batch_size": 8, "max_epochs": 3, "device": "cpu", "verbose": 0, **kwargs}
    return AutoencoderNet(
        DenseAutoencoderModule(6, 2, (4,)),
        criterion=ReconstructionLoss,
        optimizer=torch.optim.Adam,
        **settings,
    ).initialize()


def test_penalties_are_weighted_and_added_to_the_reconstruction_loss():
    net = make_net(penalties=[(0.5, lambda out: out.code.abs().mean()), (2.0, lambda out: torch.tensor(1.0))])
    X = torch.rand(5, 6)
    output = net.module_(X)
    expected = nn.functional.mse_loss(output.reconstruction, X) + 0.5 * output.code.abs().mean() + 2.0
    assert torch.allclose(net.get_loss(output, X), expected)


def test_epoch_loss_is_the_size_weighted_mean_of_batch_losses():
    torch.manual_seed(0)
    net = make_net()
    X = torch.rand(20, 6)
    net.history.new_epoch()
    batches = GatheredBatches(RowSubset((X, X)), 8, shuffle=False, device="cpu")
    net.run_single_epoch(batches, training=False, prefix="valid", step_fn=net.validation_step)
    with torch.no_grad():
        expected = nn.functional.mse_loss(net.module_(X).reconstruction, X).item()
    assert net.history[-1, "valid_batch_count"] == 3
    assert net.history[-1, "valid_loss"] == pytest.approx(expected, rel=1e-5)


def test_validation_split_needs_rows_on_both_sides():
    net = make_net(validation_fraction=0.01)
    with pytest.raises(ValueError, match="validation_fraction"):
        net.partial_fit(torch.rand(10, 6), epochs=1)


def test_validation_loss_is_recorded():
    net = make_net(validation_fraction=0.25)
    net.partial_fit(torch.rand(20, 6), epochs=2)
    assert len(net.history[:, "valid_loss"]) == 2


def test_non_finite_loss_names_the_epoch():
    from skae._engine._net import StopOnDivergence

    net = make_net(callbacks=[StopOnDivergence()])
    X = torch.rand(16, 6)
    X[3, 2] = float("nan")
    with pytest.raises(TrainingDivergedError, match="at epoch 1.*learning rate"):
        net.partial_fit(X, epochs=2)


def test_finite_loss_far_above_the_reference_is_divergence():
    from skae._engine._net import StopOnDivergence

    X = torch.rand(16, 6)
    net = make_net(callbacks=[StopOnDivergence()])
    reference = net.reference_loss(X, n_rows=8)
    assert reference >= float((X.index_select(0, torch.linspace(0, 15, 8).long()) ** 2).mean())
    net = make_net(callbacks=[StopOnDivergence(reference_loss=reference / 1e4)])
    with pytest.raises(TrainingDivergedError, match="diverged"):
        net.partial_fit(X, epochs=2)
    assert len(net.history) == 1


def test_batch_events_reach_callbacks_that_act_on_them():
    from skorch.callbacks import Callback, GradientNormClipping, LRScheduler

    class CountSteps(Callback):
        def initialize(self):
            self.begun, self.ended = 0, 0
            return self

        def on_batch_begin(self, net, **kwargs):
            self.begun += 1

        def on_batch_end(self, net, **kwargs):
            self.ended += 1

    counter = CountSteps()
    net = make_net(callbacks=[counter], max_epochs=2)
    net.partial_fit(torch.rand(20, 6))
    assert counter.begun == counter.ended == 2 * 3
    assert len(net.history[-1, "batches"]) == 3

    for callbacks, wanted in [
        ([], False),
        ([LRScheduler(torch.optim.lr_scheduler.StepLR, step_size=1)], False),
        ([LRScheduler(torch.optim.lr_scheduler.StepLR, step_size=1, step_every="batch")], True),
        ([GradientNormClipping(1.0)], True),
    ]:
        assert make_net(callbacks=callbacks).batch_events_wanted_ is wanted
