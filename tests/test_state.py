"""The estimator's state: one copy of it, untouched by a fit that fails."""

import copy
import pickle
import threading
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from skorch.callbacks import Callback, Checkpoint, EarlyStopping, LoadInitState

from skae import (
    Autoencoder,
    LinearAutoencoder,
    RecurrentAutoencoder,
    SparseAutoencoder,
)
from skae.exceptions import DataScaleWarning, TrainingDivergedError


class RaiseAtEpoch(Callback):
    def __init__(self, epoch=1):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) >= self.epoch:
            raise RuntimeError("callback failed")


def small_ae(**params):
    settings = dict(hidden_layer_sizes=(16,), max_epochs=3, random_state=0, device="cpu")
    return Autoencoder(4, **{**settings, **params})


def fitted_state(est, X):
    """Everything a user can read of a fitted model."""
    return {
        "codes": est.transform(X),
        "n_features_in_": est.n_features_in_,
        "n_iter_": est.n_iter_,
        "loss_curve_": list(est.loss_curve_),
        "history": len(est.history_),
        "weights": {k: v.clone() for k, v in est.module_.state_dict().items()},
    }


def assert_same_state(before, after):
    assert_array_equal(before["codes"], after["codes"])
    for key in ("n_features_in_", "n_iter_", "loss_curve_", "history"):
        assert before[key] == after[key], key
    for name, tensor in before["weights"].items():
        assert torch.equal(tensor, after["weights"][name]), name


# ---------------------------------------------------------- one copy of state
def test_module_and_history_are_the_nets_own(digits):
    X, _ = digits
    est = small_ae().fit(X)
    assert est.module_ is est.net_.module_
    assert est.history_ is est.net_.history
    assert "module_" not in vars(est) and "history_" not in vars(est)
    restored = pickle.loads(pickle.dumps(est))
    # One copy of the weights: the module parameter and attribute are one object.
    assert restored.module_ is restored.net_.module_ is restored.net_.module
    assert_allclose(restored.transform(X), est.transform(X))


def test_no_callback_keeps_a_copy_of_the_weights_after_training(digits):
    # Such copies would escape skorch's device mapping in a pickle.
    X, _ = digits
    est = small_ae(early_stopping=True, n_iter_no_change=1, max_epochs=20).fit(X)
    snapshots = [
        getattr(callback, attribute, None)
        for _, callback in est.net_.callbacks_
        for attribute in ("weights_", "best_model_weights_")
    ]
    assert snapshots and all(snapshot is None for snapshot in snapshots)


def test_get_feature_names_out_before_fit_raises_as_pca_does():
    with pytest.raises(NotFittedError):
        PCA(2).get_feature_names_out()
    with pytest.raises(NotFittedError):
        small_ae().get_feature_names_out()


# ---------------------------------------------------------- failed fits
@pytest.mark.parametrize(
    "params, error",
    [
        ({"device": "tpu"}, ValueError),
        ({"callbacks": [RaiseAtEpoch()]}, RuntimeError),
        ({"callbacks": [1]}, TypeError),
    ],
)
def test_a_failed_first_fit_leaves_the_estimator_unfitted(params, error, digits):
    X, _ = digits
    est = small_ae(**params)
    with pytest.raises(error):
        est.fit(X)
    assert not [name for name in vars(est) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        est.transform(X)


def test_a_failed_refit_on_other_columns_keeps_the_fitted_model(digits):
    X, _ = digits
    est = small_ae().fit(X)
    before = fitted_state(est, X)
    est.set_params(callbacks=[RaiseAtEpoch()])
    with pytest.raises(RuntimeError, match="callback failed"):
        est.fit(X[:, :49])
    assert_same_state(before, fitted_state(est, X))


def test_a_diverging_partial_fit_restores_the_last_good_model(digits):
    X, _ = digits
    est = small_ae(learning_rate=0.01)
    est.partial_fit(X)
    before = fitted_state(est, X)
    optimizer_state = copy.deepcopy(est.net_.optimizer_.state_dict())
    est.set_params(learning_rate=1e8)
    with pytest.raises(TrainingDivergedError, match="epoch 2.*learning rate"):
        for _ in range(5):
            est.partial_fit(X)
    assert_same_state(before, fitted_state(est, X))
    assert np.isfinite(est.transform(X)).all()
    restored_state = est.net_.optimizer_.state_dict()
    assert restored_state["param_groups"] == optimizer_state["param_groups"]
    for key, moments in optimizer_state["state"].items():
        for name, value in moments.items():
            assert torch.equal(restored_state["state"][key][name], value), name


@pytest.mark.parametrize(
    "est",
    [
        LinearAutoencoder(3, learning_rate=1e6, max_epochs=10, device="cpu", random_state=0),
        SparseAutoencoder(3, hidden_layer_sizes=(16,), learning_rate=1e6, max_epochs=10,
                          device="cpu", random_state=0),
        RecurrentAutoencoder(3, hidden_size=8, sequence_shape=(8, 8), learning_rate=1e6,
                             max_epochs=10, device="cpu", random_state=0),
    ],
    ids=lambda est: type(est).__name__,
)
def test_divergence_that_stays_finite_is_an_error(est, digits):
    X, _ = digits
    with pytest.raises(TrainingDivergedError, match="diverged|became"):
        est.fit(X[:400])
    with pytest.raises(NotFittedError):
        est.transform(X)


# ---------------------------------------------------------- warm start
@pytest.mark.parametrize(
    "change", [{"n_components": 5}, {"hidden_layer_sizes": (8,)}, {"activation": "tanh"}]
)
def test_warm_start_refuses_a_changed_architecture(change, digits):
    X, _ = digits
    est = small_ae(warm_start=True).fit(X)
    before = fitted_state(est, X)
    (name,) = change
    est.set_params(**change)
    with pytest.raises(ValueError, match=f"{name}=.*warm_start=False"):
        est.fit(X)
    with pytest.raises(ValueError, match=name):
        est.partial_fit(X)
    assert_same_state(before, fitted_state(est, X))


def test_warm_start_applies_changed_training_parameters(digits):
    X, _ = digits
    est = small_ae(warm_start=True).fit(X)
    est.set_params(optimizer="sgd", learning_rate=0.005, weight_decay=0.1, max_epochs=2)
    est.fit(X)
    assert isinstance(est.net_.optimizer_, torch.optim.SGD)
    group = est.net_.optimizer_.param_groups[0]
    assert group["weight_decay"] == 0.1 and group["lr"] == 0.005
    assert est.n_iter_ == 3 + 2


def test_fit_means_this_data_and_partial_fit_a_running_mean(digits):
    X, _ = digits
    first, second = X[:900], X[900:] + 1.0
    warm = LinearAutoencoder(4, max_epochs=2, warm_start=True, device="cpu").fit(first)
    warm.fit(second)
    assert_allclose(warm.mean_, second.mean(axis=0))
    streamed = LinearAutoencoder(4, device="cpu").partial_fit(first).partial_fit(second)
    assert_allclose(streamed.mean_, np.vstack([first, second]).mean(axis=0))


# ---------------------------------------------------------- skorch callbacks
def test_skorch_checkpoint_and_load_init_state_work(digits, tmp_path):
    X, _ = digits
    checkpoint = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path))
    first = small_ae(callbacks=[checkpoint]).fit(X)
    assert (tmp_path / "params.pt").exists()
    assert any(row["event_cp"] for row in first.history_)
    resumed = small_ae(
        callbacks=[LoadInitState(Checkpoint(monitor="train_loss_best", dirname=str(tmp_path)))],
        max_epochs=1,
    ).fit(X)
    # Training resumed from the checkpoint, its history included.
    assert resumed.n_iter_ == 3 + 1
    assert resumed.loss_curve_[:3] == first.loss_curve_
    assert resumed.loss_curve_[-1] < first.loss_curve_[-1]


def test_skorch_checkpoint_on_the_validation_loss(digits, tmp_path):
    X, _ = digits
    est = small_ae(early_stopping=True, callbacks=[Checkpoint(dirname=str(tmp_path))]).fit(X)
    assert "valid_loss_best" in est.history_[-1]
    assert (tmp_path / "params.pt").exists()


def test_skorch_early_stopping_on_the_training_loss_stops_normally(digits):
    X, _ = digits
    est = small_ae(
        max_epochs=200,
        callbacks=[EarlyStopping(monitor="train_loss", patience=1, threshold=0.5)],
    ).fit(X)
    assert 2 <= est.n_iter_ < 200
    assert est.history_[0, "train_loss_best"] is True


@pytest.mark.parametrize("bad", [1, "print_log", (1, 2), [Callback()], Callback()])
def test_a_callback_that_is_not_a_skorch_callback_is_a_type_error(bad, digits):
    X, _ = digits
    callbacks = [bad] if not isinstance(bad, Callback) else [("fine", bad), object()]
    est = small_ae(callbacks=callbacks)
    with pytest.raises(TypeError, match="callbacks"):
        est.fit(X)
    assert not hasattr(est, "net_")


def test_a_callback_class_is_accepted_as_skorch_allows(digits):
    X, _ = digits
    assert small_ae(callbacks=[Callback]).fit(X).n_iter_ == 3


# ---------------------------------------------------------- scale, scoring, strides
@pytest.fixture(scope="module")
def linear_on_digits(digits):
    return LinearAutoencoder(8, random_state=0, device="cpu").fit(digits[0])


@pytest.mark.parametrize("scale", [1e-6, 1e4])
def test_linear_autoencoder_is_scale_equivariant_as_pca(scale, digits, linear_on_digits):
    X = digits[0] * scale

    def mse(model):
        return np.mean((model.inverse_transform(model.transform(X)) - X) ** 2)

    ae = LinearAutoencoder(8, random_state=0, device="cpu").fit(X)
    assert mse(ae) <= 1.01 * mse(PCA(8).fit(X))
    # The same training at any scale: codes scale with the data, as PCA's do.
    expected = scale * linear_on_digits.transform(digits[0])
    assert_allclose(ae.transform(X), expected, rtol=0, atol=1e-4 * np.abs(expected).max())
    assert_allclose(ae.loss_curve_, linear_on_digits.loss_curve_, rtol=1e-4)


def test_bce_pipelines_score_held_out_folds_finitely(digits):
    X, _ = digits
    pipeline = make_pipeline(
        MinMaxScaler(),
        Autoencoder(8, loss="bce", output_activation="sigmoid", max_epochs=2,
                    random_state=0, device="cpu"),
    )
    scores = cross_val_score(pipeline, X, cv=3)
    assert np.isfinite(scores).all() and (scores < 0).all()


def test_bce_score_penalises_values_outside_the_unit_range(digits):
    X, _ = digits
    est = small_ae(loss="bce", output_activation="sigmoid").fit(X)
    outside = X.copy()
    outside[:, 0] = 1.5
    assert (est.score_samples(outside) < est.score_samples(np.clip(outside, 0, 1))).all()


def test_negative_strides_are_accepted_everywhere(digits):
    X, _ = digits
    est = small_ae().fit(X[::-1])
    codes = est.transform(X[::-1])
    assert_allclose(codes, est.transform(X.copy()[::-1].copy()))
    assert_allclose(est.inverse_transform(codes[::-1]), est.inverse_transform(codes.copy())[::-1])
    assert np.isfinite(est.score(X[::-1]))


# ---------------------------------------------------------- seeds and threads
def test_fits_in_threads_match_a_serial_fit(digits):
    X, _ = digits
    serial = small_ae(random_state=3).fit(X).transform(X)
    results = [None] * 4

    def fit(i):
        results[i] = small_ae(random_state=3).fit(X).transform(X)

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for codes in results:
        assert_array_equal(codes, serial)


def test_a_fit_leaves_numpys_and_torchs_global_random_state_alone(digits):
    X, _ = digits
    np.random.seed(0)
    torch.manual_seed(0)
    expected = np.random.rand(), torch.rand(1).item()
    np.random.seed(0)
    torch.manual_seed(0)
    small_ae(random_state=None).fit(X)
    assert (np.random.rand(), torch.rand(1).item()) == expected


@pytest.mark.parametrize("scale, warns", [(1e-6, True), (1.0, False), (1e4, False)])
def test_nonlinear_autoencoders_warn_about_badly_scaled_data(scale, warns, digits):

    X = digits[0] * scale
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small_ae(max_epochs=1).fit(X)
        LinearAutoencoder(2, max_epochs=1, device="cpu").fit(X)
    scale_warnings = [w for w in caught if issubclass(w.category, DataScaleWarning)]
    assert len(scale_warnings) == int(warns)
    if warns:
        assert "Autoencoder trains best on data of order 1" in str(scale_warnings[0].message)
        assert "StandardScaler" in str(scale_warnings[0].message)


def test_skorch_print_log_marks_the_best_epochs(digits, capsys):
    X, _ = digits
    small_ae(verbose=2).fit(X)
    log = capsys.readouterr().out
    # PrintLog colours a loss that is the best so far.
    assert "train_loss" in log and "\x1b[36m" in log
