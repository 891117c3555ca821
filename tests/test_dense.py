import numpy as np
import pytest

from skae import Autoencoder


def n_weights(module):
    return sum(p.numel() for name, p in module.named_parameters() if "bias" not in name)


def test_textbook_architecture_784_300_150_300_784():
    X = np.random.RandomState(0).uniform(size=(8, 784))
    ae = Autoencoder(150, hidden_layer_sizes=(300,), max_epochs=1, device="cpu").fit(X)
    encoder = [tuple(layer.weight.shape) for layer in ae.module_.encoder_layers]
    decoder = [tuple(layer.weight.shape) for layer in ae.module_.decoder_layers]
    assert encoder == [(300, 784), (150, 300)]
    assert decoder == [(300, 150), (784, 300)]


def test_tied_weights_halve_the_weight_parameters():
    X = np.random.RandomState(0).uniform(size=(8, 784))
    untied = Autoencoder(150, hidden_layer_sizes=(300,), max_epochs=1, device="cpu").fit(X)
    tied = Autoencoder(150, hidden_layer_sizes=(300,), tied_weights=True, max_epochs=1,
                       device="cpu").fit(X)
    assert n_weights(tied.module_) * 2 == n_weights(untied.module_)
    assert tied.transform(X).shape == (8, 150)


@pytest.mark.parametrize("tied_weights", [False, True])
@pytest.mark.parametrize("activation", ["relu", "selu", "tanh"])
def test_training_reduces_the_loss_and_beats_the_mean(digits, activation, tied_weights):
    X, _ = digits
    ae = Autoencoder(16, hidden_layer_sizes=(32,), activation=activation,
                     tied_weights=tied_weights, max_epochs=8, learning_rate=3e-3,
                     random_state=0, device="cpu").fit(X)
    assert ae.loss_curve_[-1] < 0.6 * ae.loss_curve_[0]
    mean_predictor_mse = np.mean((X - X.mean(axis=0)) ** 2)
    assert -ae.score(X) < 0.5 * mean_predictor_mse


def test_bce_with_sigmoid_output(digits):
    X, _ = digits
    ae = Autoencoder(16, hidden_layer_sizes=(32,), output_activation="sigmoid", loss="bce",
                     max_epochs=5, learning_rate=3e-3, random_state=0, device="cpu").fit(X)
    recon = ae.inverse_transform(ae.transform(X))
    assert recon.min() >= 0 and recon.max() <= 1
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]


def test_bce_needs_inputs_in_unit_interval_and_sigmoid_output(digits):
    X, _ = digits
    with pytest.raises(ValueError, match=r"inputs in \[0, 1\]"):
        Autoencoder(loss="bce", output_activation="sigmoid", device="cpu").fit(X * 16)
    with pytest.raises(ValueError, match="output_activation='sigmoid'"):
        Autoencoder(loss="bce", device="cpu").fit(X)


def test_hidden_layer_sizes_must_be_positive_integers(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        Autoencoder(hidden_layer_sizes=(8, 0), device="cpu").fit(X)


def test_early_stopping_holds_out_data_and_stops(digits):
    X, _ = digits
    ae = Autoencoder(8, hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=2,
                     tol=0.5, max_epochs=50, random_state=0, device="cpu").fit(X)
    assert ae.n_iter_ < 50
    assert len(ae.validation_scores_) == ae.n_iter_
    assert all(score < 0 for score in ae.validation_scores_)


def test_training_loss_plateau_stops_without_early_stopping(digits):
    X, _ = digits
    ae = Autoencoder(8, hidden_layer_sizes=(16,), n_iter_no_change=2, tol=0.5,
                     max_epochs=50, random_state=0, device="cpu").fit(X)
    assert ae.n_iter_ < 50


def test_warm_start_continues_training(digits):
    X, _ = digits
    ae = Autoencoder(8, hidden_layer_sizes=(16,), max_epochs=3, warm_start=True,
                     random_state=0, device="cpu").fit(X)
    weights = ae.module_.encoder_layers[0].weight.detach().clone()
    first_loss = ae.loss_curve_[-1]
    ae.fit(X)
    assert ae.n_iter_ == 6
    assert ae.loss_curve_[-1] < first_loss
    cold = Autoencoder(8, hidden_layer_sizes=(16,), max_epochs=3, random_state=0,
                       device="cpu").fit(X)
    assert cold.n_iter_ == 3
    assert not np.allclose(weights.numpy(), ae.module_.encoder_layers[0].weight.detach().numpy())


def test_warm_start_applies_changed_training_settings(digits):
    X, _ = digits
    ae = Autoencoder(4, hidden_layer_sizes=(8,), max_epochs=5, tol=0, n_iter_no_change=100,
                     random_state=0, device="cpu").fit(X)
    ae.set_params(warm_start=True, tol=0.5, n_iter_no_change=1, max_epochs=20, batch_size=500)
    ae.fit(X)
    # A 50 % relative improvement per epoch is out of reach, so the new rule
    # stops at the second epoch (the first sets the best loss).
    assert ae.n_iter_ == 5 + 2
    assert ae.history_[-1, "train_batch_count"] == 4


def test_partial_fit_is_one_epoch_per_call(digits):
    X, _ = digits
    ae = Autoencoder(8, hidden_layer_sizes=(16,), random_state=0, device="cpu")
    ae.partial_fit(X[:900])
    ae.partial_fit(X[900:])
    assert ae.n_iter_ == 2


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adadelta"])
def test_optimizers_by_name(digits, optimizer):
    import torch

    X, _ = digits
    ae = Autoencoder(8, hidden_layer_sizes=(16,), optimizer=optimizer, max_epochs=2,
                     random_state=0, device="cpu").fit(X)
    expected = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop,
                "adadelta": torch.optim.Adadelta}[optimizer]
    assert isinstance(ae.net_.optimizer_, expected)


def test_optimizer_class_and_weight_decay_are_passed(digits):
    import torch

    X, _ = digits
    ae = Autoencoder(8, hidden_layer_sizes=(16,), optimizer=torch.optim.AdamW,
                     weight_decay=0.01, max_epochs=1, device="cpu").fit(X)
    assert isinstance(ae.net_.optimizer_, torch.optim.AdamW)
    assert ae.net_.optimizer_.param_groups[0]["weight_decay"] == 0.01


def test_cosine_schedule_anneals_the_learning_rate(digits):
    X, _ = digits
    ae = Autoencoder(8, hidden_layer_sizes=(16,), learning_rate_schedule="cosine",
                     learning_rate=0.01, max_epochs=10, n_iter_no_change=20,
                     device="cpu").fit(X)
    assert ae.net_.optimizer_.param_groups[0]["lr"] < 0.001


def test_exploding_loss_stops_with_a_clear_error(digits):
    X, _ = digits
    ae = Autoencoder(8, hidden_layer_sizes=(16,), optimizer="sgd", learning_rate=1e6,
                     max_epochs=20, random_state=0, device="cpu")
    with pytest.raises(FloatingPointError, match=r"at epoch \d+.*lower learning_rate"):
        ae.fit(X * 100)
    assert not hasattr(ae, "net_")


def test_verbose_2_logs_per_epoch_and_silence_otherwise(digits, capsys):
    X, _ = digits
    Autoencoder(8, hidden_layer_sizes=(16,), max_epochs=2, device="cpu").fit(X)
    assert capsys.readouterr() == ("", "")
    Autoencoder(8, hidden_layer_sizes=(16,), max_epochs=2, verbose=2, device="cpu").fit(X)
    out = capsys.readouterr().out
    assert "train_loss" in out and "epoch" in out


def test_user_callbacks_are_passed_through(digits):
    from skorch.callbacks import Callback

    class CountEpochs(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    X, _ = digits
    counter = CountEpochs()
    ae = Autoencoder(8, hidden_layer_sizes=(16,), max_epochs=3, callbacks=[counter],
                     device="cpu").fit(X)
    fitted_counter = dict(ae.net_.callbacks_)["CountEpochs"]
    assert fitted_counter.epochs == 3


def test_lbfgs_gets_its_closure(digits):
    import torch

    X, _ = digits
    ae = Autoencoder(8, hidden_layer_sizes=(16,), optimizer=torch.optim.LBFGS, learning_rate=0.5,
                     batch_size=len(X), max_epochs=5, random_state=0, device="cpu").fit(X)
    assert ae.loss_curve_[-1] < 0.5 * ae.loss_curve_[0]


def test_weight_decay_with_an_optimizer_without_it_is_refused(digits):
    import torch

    X, _ = digits
    ae = Autoencoder(8, optimizer=torch.optim.LBFGS, weight_decay=0.1, device="cpu")
    with pytest.raises(ValueError, match="LBFGS takes no weight_decay"):
        ae.fit(X)
    assert not hasattr(ae, "net_")
