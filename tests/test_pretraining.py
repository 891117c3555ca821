import numpy as np
import pytest

from skae import Autoencoder, SparseAutoencoder


@pytest.mark.parametrize("tied_weights", [False, True])
def test_layerwise_pretraining_beats_the_mean_predictor(digits, tied_weights):
    X, _ = digits
    ae = Autoencoder(8, hidden_layer_sizes=(32, 16), pretrain="layerwise",
                     tied_weights=tied_weights, max_epochs=8, learning_rate=3e-3,
                     random_state=0, device="cpu").fit(X)
    assert len(ae.pretraining_loss_curves_) == 3
    assert all(curve[-1] < curve[0] for curve in ae.pretraining_loss_curves_)
    assert -ae.score(X) < 0.6 * np.mean((X - X.mean(axis=0)) ** 2)


def test_layerwise_pretraining_helps_a_deep_sigmoid_stack(digits):
    X, _ = digits
    settings = dict(n_components=8, hidden_layer_sizes=(48, 32, 16), activation="sigmoid",
                    max_epochs=15, random_state=0, device="cpu")
    pretrained = Autoencoder(pretrain="layerwise", **settings).fit(X)
    from_scratch = Autoencoder(**settings).fit(X)
    assert -pretrained.score(X) < 0.8 * -from_scratch.score(X)


def test_pretrained_weights_are_the_starting_point(digits):
    X, _ = digits
    ae = Autoencoder(4, hidden_layer_sizes=(16,), pretrain="layerwise", max_epochs=3,
                     random_state=0, device="cpu").fit(X)
    again = Autoencoder(4, hidden_layer_sizes=(16,), pretrain="layerwise", max_epochs=3,
                        random_state=0, device="cpu").fit(X)
    assert np.array_equal(ae.transform(X), again.transform(X))


def test_sparse_penalty_applies_at_the_coding_stage(digits):
    X, _ = digits
    sae = SparseAutoencoder(16, hidden_layer_sizes=(32,), pretrain="layerwise",
                            sparsity_weight=1.0, sparsity_target=0.05, max_epochs=5,
                            random_state=0, device="cpu").fit(X)
    assert sae.mean_activation_.mean() < 0.3


def _recording_stage_devices(monkeypatch):
    import skae._pretraining as pretraining

    devices = []
    original = pretraining.train_stage

    def recording(spec, X):
        net = original(spec, X)
        devices.append(next(net.module_.parameters()).device.type)
        return net

    monkeypatch.setattr(pretraining, "train_stage", recording)
    return devices


def test_stages_train_on_the_fits_device(digits, monkeypatch):
    X, _ = digits
    devices = _recording_stage_devices(monkeypatch)
    Autoencoder(n_components=4, hidden_layer_sizes=(16, 8), pretrain="layerwise", max_epochs=1,
                device="cpu").fit(X[:200])
    assert devices == ["cpu"] * 3


def test_a_stage_is_trained_only_within_a_fit():
    from skae.extend import TrainingSpec, train_stage
    from skae.nn import DenseAutoencoderModule

    with pytest.raises(RuntimeError, match="fit in progress"):
        train_stage(TrainingSpec(module=DenseAutoencoderModule(4, 2), epochs=1),
                    np.zeros((8, 4)))
