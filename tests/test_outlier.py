"""AutoencoderOutlierDetector: scikit-learn's outlier-detector API over any skae autoencoder."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skae
from skae import (
    Autoencoder,
    AutoencoderOutlierDetector,
    ConvolutionalAutoencoder,
    LinearAutoencoder,
    RecurrentAutoencoder,
)
from skae.extend import BaseAutoencoder
from skae.exceptions import TrainingDivergedError

# Every public autoencoder, derived from skae's exports so that a new family
# is covered here without an edit.
AUTOENCODER_CLASSES = [
    getattr(skae, name) for name in skae.__all__
    if isinstance(getattr(skae, name), type) and issubclass(getattr(skae, name), BaseAutoencoder)
]
FAMILY_SETTINGS = {
    LinearAutoencoder: {},
    ConvolutionalAutoencoder: {"channels": (4, 8)},
    RecurrentAutoencoder: {"hidden_size": 8},
}


def small(autoencoder_class, **params):
    settings = {"n_components": 3, "max_epochs": 60, "learning_rate": 0.01, "device": "cpu",
                **FAMILY_SETTINGS.get(autoencoder_class, {"hidden_layer_sizes": (8,)})}
    return autoencoder_class(**{**settings, **params})


def test_every_autoencoder_family_is_covered():
    # Named apart from the subclass test above, so that an export that is
    # not a BaseAutoencoder, or a list left empty, fails here.
    named = {name for name in skae.__all__ if name.endswith("Autoencoder")}
    assert named and named == {cls.__name__ for cls in AUTOENCODER_CLASSES}


@pytest.mark.parametrize("autoencoder_class", AUTOENCODER_CLASSES)
def test_far_rows_are_outliers_with_any_autoencoder(autoencoder_class, blobs):
    detector = AutoencoderOutlierDetector(small(autoencoder_class), random_state=0).fit(blobs)
    far = blobs[:5] + 25.0
    assert_array_equal(detector.predict(far), -1)
    # The "auto" threshold flags only the training rows far out in the score tail.
    assert (detector.predict(blobs) == 1).mean() >= 0.8
    assert detector.autoencoder_.n_iter_ == 60
    assert type(detector.autoencoder_) is autoencoder_class


def test_api_relations_hold(blobs):
    detector = AutoencoderOutlierDetector(small(Autoencoder), random_state=0).fit(blobs)
    X = np.vstack([blobs, blobs[:5] + 25.0])
    scores = detector.score_samples(X)
    assert_allclose(scores, detector.autoencoder_.score_samples(X))
    assert_allclose(detector.decision_function(X), scores - detector.offset_)
    assert_array_equal(detector.predict(X), np.where(scores < detector.offset_, -1, 1))
    assert_array_equal(detector.fit_predict(X), detector.predict(X))


@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.5])
def test_contamination_sets_the_share_of_training_outliers(contamination, blobs):
    detector = AutoencoderOutlierDetector(small(Autoencoder), contamination=contamination,
                                          random_state=0).fit(blobs)
    assert (detector.predict(blobs) == -1).sum() == round(contamination * len(blobs))
    assert detector.offset_ == pytest.approx(
        np.percentile(detector.score_samples(blobs), 100 * contamination))


def test_auto_contamination_is_three_robust_deviations_below_the_median(blobs):
    detector = AutoencoderOutlierDetector(small(Autoencoder), random_state=0).fit(blobs)
    scores = detector.score_samples(blobs)
    median = np.median(scores)
    spread = 1.4826 * np.median(np.abs(scores - median))
    assert detector.offset_ == pytest.approx(median - 3 * spread)


def test_auto_flags_few_rows_of_clean_data():
    # Anomaly-free correlated Gaussian rows: the docstring quotes 0.1 to
    # 3.4 % on clean data, so more than 4 % would contradict it.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(600, 9)) @ rng.normal(size=(9, 9))
    detector = AutoencoderOutlierDetector(random_state=0).fit(X)
    assert (detector.predict(X) == -1).mean() <= 0.04


@pytest.mark.parametrize("contamination", [0.0, 0.6, "high"])
def test_bad_contamination_names_itself(contamination, blobs):
    detector = AutoencoderOutlierDetector(small(Autoencoder), contamination=contamination)
    with pytest.raises(ValueError, match="contamination"):
        detector.fit(blobs)
    assert not hasattr(detector, "autoencoder_")


def narrow_table_with_anomalies(n_rows=400, n_features=9, n_anomalies=12, seed=0):
    """Correlated Gaussian rows with a few rows that break the correlations (synthetic)."""
    rng = np.random.RandomState(seed)
    latent = rng.normal(size=(n_rows, 3))
    X = latent @ rng.normal(size=(3, n_features)) + 0.1 * rng.normal(size=(n_rows, n_features))
    is_anomaly = np.zeros(n_rows, bool)
    is_anomaly[:n_anomalies] = True
    # Each feature of an anomaly taken from another row: normal marginals,
    # wrong dependencies.
    X[:n_anomalies] = np.column_stack([rng.choice(X[n_anomalies:, j], n_anomalies)
                                       for j in range(n_features)])
    return (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0)), is_anomaly


def test_narrow_table_gets_narrow_codes_and_finds_planted_anomalies():
    X, is_anomaly = narrow_table_with_anomalies()
    detector = AutoencoderOutlierDetector(random_state=0).fit(X)
    assert len(detector.estimators_) == 3
    for member in detector.estimators_:
        # At most half the input's width: no member can learn the identity.
        assert member.n_components_ <= X.shape[1] // 2
        assert member.n_iter_ == member.max_epochs
    assert roc_auc_score(is_anomaly, -detector.score_samples(X)) > 0.9


def test_rows_between_clusters_of_normal_rows_are_outliers():
    # Two clusters on one line through 9-dimensional space, and a few rows
    # on the same line midway between them (synthetic): every row lies on
    # the line the members reconstruct, so only the density of the codes
    # tells the rows in the gap apart.
    rng = np.random.RandomState(0)
    along = np.r_[rng.normal(-3, 0.4, 200), rng.normal(3, 0.4, 200), rng.normal(0, 0.3, 12)]
    is_anomaly = np.r_[np.zeros(400, bool), np.ones(12, bool)]
    X = np.outer(along, rng.normal(size=9)) + 0.05 * rng.normal(size=(len(along), 9))
    detector = AutoencoderOutlierDetector(random_state=0).fit(X)
    assert roc_auc_score(is_anomaly, -detector.score_samples(X)) > 0.9


def test_data_just_above_one_gets_the_same_network():
    X, _ = narrow_table_with_anomalies()
    nudged = X.copy()
    nudged[X == 1.0] = 1.0000000000000002  # as MinMaxScaler can return
    assert nudged.max() > 1.0
    exact = AutoencoderOutlierDetector(random_state=0).fit(X)
    rounded = AutoencoderOutlierDetector(random_state=0).fit(nudged)
    for a, b in zip(exact.estimators_, rounded.estimators_):
        assert a.get_params() == b.get_params()
    assert_allclose(exact.score_samples(X), rounded.score_samples(X), rtol=1e-4, atol=1e-5)


def test_default_ensemble_and_seeding(blobs):
    detector = AutoencoderOutlierDetector(random_state=3)
    assert detector.autoencoder is None
    detector.fit(blobs)
    assert detector.autoencoder is None  # the parameter is left as given
    assert not hasattr(detector, "autoencoder_")  # no single autoencoder scores the rows
    assert all(type(member) is Autoencoder for member in detector.estimators_)
    # Different code widths (capped at half of the 10 features), so that no
    # one width decides the score.
    assert len({member.n_components_ for member in detector.estimators_}) >= 2
    same = AutoencoderOutlierDetector(random_state=3).fit(blobs)
    other = AutoencoderOutlierDetector(random_state=4).fit(blobs)
    assert_array_equal(detector.score_samples(blobs), same.score_samples(blobs))
    assert not np.allclose(detector.score_samples(blobs), other.score_samples(blobs))
    assert detector.score_samples(blobs.astype(np.float32)).dtype == np.float32
    assert_array_equal(detector.predict(blobs[:5] + 25.0), -1)


def test_given_autoencoder_is_cloned_not_fitted(blobs):
    autoencoder = small(Autoencoder)
    detector = AutoencoderOutlierDetector(autoencoder).fit(blobs)
    assert not hasattr(autoencoder, "net_")
    assert detector.autoencoder_ is not autoencoder


def test_failed_fit_leaves_the_detector_unfitted(blobs):
    # The autoencoder's own parameter check fails inside the detector's fit.
    detector = AutoencoderOutlierDetector(small(Autoencoder, learning_rate=-1.0))
    with pytest.raises(ValueError, match="learning_rate"):
        detector.fit(blobs)
    assert not hasattr(detector, "offset_") and not hasattr(detector, "autoencoder_")


def interrupt_the_second_member(monkeypatch):
    """Ctrl-C during the default ensemble's second fit, after the first has finished."""
    fit = Autoencoder.fit
    calls = []

    def interrupted_fit(self, X, y=None):
        calls.append(self)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fit(self, X, y)

    monkeypatch.setattr(Autoencoder, "fit", interrupted_fit)


def diverging(**params):
    return small(Autoencoder, learning_rate=1e8, **params)


@pytest.mark.parametrize("interrupted", [False, True], ids=["diverging", "interrupted"])
def test_a_failed_fit_leaves_an_unfitted_detector_unfitted(interrupted, blobs, monkeypatch):
    detector = AutoencoderOutlierDetector(None if interrupted else diverging(), random_state=0)
    if interrupted:
        interrupt_the_second_member(monkeypatch)
    with pytest.raises(KeyboardInterrupt if interrupted else TrainingDivergedError):
        detector.fit(blobs)
    assert not [name for name in vars(detector) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        detector.predict(blobs)


# The interrupted member warns which epoch it kept; the detector keeps none.
@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("interrupted", [False, True], ids=["diverging", "interrupted"])
def test_a_failed_refit_keeps_the_fitted_model_and_its_columns(interrupted, blobs, monkeypatch):
    detector = AutoencoderOutlierDetector(random_state=0).fit(blobs)
    before = detector.score_samples(blobs)
    members, offset = detector.estimators_, detector.offset_
    if interrupted:
        interrupt_the_second_member(monkeypatch)
    else:
        detector.set_params(autoencoder=diverging())
    with pytest.raises(KeyboardInterrupt if interrupted else TrainingDivergedError):
        detector.fit(blobs[:, :6])
    assert detector.n_features_in_ == blobs.shape[1]
    assert detector.estimators_ is members and detector.offset_ == offset
    assert_array_equal(detector.score_samples(blobs), before)


def test_bad_data_is_refused_before_any_training(blobs, monkeypatch):
    monkeypatch.setattr(Autoencoder, "fit", lambda *args: pytest.fail("training started"))
    X = blobs.copy()
    X[0, 0] = np.nan
    detector = AutoencoderOutlierDetector(small(Autoencoder))
    with pytest.raises(ValueError, match="NaN"):
        detector.fit(X)
    assert not hasattr(detector, "n_features_in_")


def test_float32_scores_stay_float32(blobs):
    X = blobs.astype(np.float32)
    detector = AutoencoderOutlierDetector(small(Autoencoder), random_state=0).fit(X)
    assert detector.score_samples(X).dtype == np.float32
    assert detector.decision_function(X).dtype == np.float32


def test_in_a_pipeline(blobs):
    pipeline = make_pipeline(
        StandardScaler(), AutoencoderOutlierDetector(small(Autoencoder), random_state=0)
    ).fit(blobs)
    assert_array_equal(pipeline.predict(blobs[:5] + 25.0), -1)


def test_nines_are_anomalies_among_mnist_digits(mnist_subset):
    # Trained on the 0s, 1s and 6s; the 9s among the test rows are the
    # anomalies. A short fit of a small net: the full defaults reach ~0.99.
    X_train, y_train, X_test, y_test = mnist_subset
    inliers = X_train[y_train != 9][::2]
    detector = AutoencoderOutlierDetector(
        Autoencoder(16, hidden_layer_sizes=(64,), max_epochs=10, batch_size=128,
                    learning_rate=3e-3, device="cpu"),
        random_state=0,
    ).fit(inliers)
    is_nine = y_test == 9
    # 0.94 to 0.95 over seeds 0-2; an untrained net or a flipped sign is far below.
    auc = roc_auc_score(is_nine, -detector.score_samples(X_test))
    assert auc > 0.92
    # predict agrees with the scores: the nines are flagged far more often.
    flagged = detector.predict(X_test) == -1
    assert flagged[is_nine].mean() > 3 * flagged[~is_nine].mean()
