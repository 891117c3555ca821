"""What a fit tells its user: the progress bar, the epoch table, ConvergenceWarning."""

import pickle
import re
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

from skae import Autoencoder, LinearAutoencoder


def small_ae(**params):
    settings = dict(hidden_layer_sizes=(16,), max_epochs=3, random_state=0, device="cpu")
    return Autoencoder(4, **{**settings, **params})


def convergence_warnings(fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_verbose_1_shows_one_bar_over_the_epochs_with_the_loss(digits, capsys):
    X, _ = digits
    ae = small_ae(max_epochs=4, verbose=1).fit(X)
    out, err = capsys.readouterr()
    # No per-epoch table at verbose=1: the bar alone, on stderr.
    assert out == ""
    assert re.search(r"4/4 \[.*epoch/s, train_loss=[0-9.]+\]", err)
    # One bar: it counts epochs, it does not restart per epoch.
    assert "1/1" not in err and "0/4" in err
    # The bar is not part of the fitted model.
    assert pickle.loads(pickle.dumps(ae)).transform(X[:2]).shape == (2, 4)


def test_verbose_1_bar_shows_the_validation_loss_and_ends_at_the_early_stop(digits, capsys):
    X, _ = digits
    ae = small_ae(max_epochs=200, verbose=1, early_stopping=True, n_iter_no_change=1,
                  tol=0.5).fit(X)
    err = capsys.readouterr().err
    assert ae.n_iter_ < 200
    assert f"{ae.n_iter_}/200" in err and "valid_loss=" in err


def test_verbose_2_prints_the_table_too(digits, capsys):
    X, _ = digits
    small_ae(max_epochs=3, verbose=2).fit(X)
    out, err = capsys.readouterr()
    assert len(re.findall(r"^\s+[123]\s", out, flags=re.M)) == 3
    assert "3/3" in err


def test_partial_fit_logs_its_pass_without_a_bar(digits, capsys):
    X, _ = digits
    small_ae(verbose=1).partial_fit(X)
    out, err = capsys.readouterr()
    assert "train_loss" in out and "epoch/s" not in err


def test_stopping_at_max_epochs_while_improving_warns(digits):
    X, _ = digits
    caught = convergence_warnings(lambda: small_ae(max_epochs=3).fit(X))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "max_epochs=3" in message and "Autoencoder" in message
    # It points at the caller's line, not inside the package.
    assert caught[0].filename == __file__


def test_a_fit_its_stopping_rule_ended_does_not_warn(digits):
    X, _ = digits
    ae = small_ae(max_epochs=500, tol=0.5, n_iter_no_change=2)
    assert convergence_warnings(lambda: ae.fit(X)) == []
    assert ae.n_iter_ < 500


@pytest.mark.parametrize("make", [
    # A cosine schedule fixes the number of epochs.
    lambda: small_ae(learning_rate_schedule="cosine"),
    lambda: LinearAutoencoder(2, max_epochs=3, device="cpu"),
], ids=["cosine", "linear-default"])
def test_a_schedule_that_fixes_the_epochs_does_not_warn(digits, make):
    X, _ = digits
    assert convergence_warnings(lambda: make().fit(X)) == []


def test_partial_fit_does_not_warn(digits):
    X, _ = digits
    assert convergence_warnings(lambda: small_ae().partial_fit(X)) == []


def test_a_warning_raised_as_an_error_leaves_the_estimator_unfitted(digits):
    X, _ = digits
    ae = small_ae()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning):
            ae.fit(X)
    assert not hasattr(ae, "net_")


def test_the_warning_points_at_the_callers_line_through_fit_transform_and_pipelines(digits):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _ = digits
    for fit in (lambda: small_ae().fit_transform(X),
                lambda: make_pipeline(StandardScaler(), small_ae()).fit(X)):
        (caught,) = convergence_warnings(fit)
        assert caught.filename == __file__
