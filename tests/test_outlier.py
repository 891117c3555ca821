"""AutoencoderOutlierDetector: scikit-learn's outlier-detector API over any skae autoencoder."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
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
from skae._base import BaseAutoencoder

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
    assert len(AUTOENCODER_CLASSES) == 7


@pytest.mark.parametrize("autoencoder_class", AUTOENCODER_CLASSES)
def test_far_rows_are_outliers_with_any_autoencoder(autoencoder_class, blobs):
    detector = AutoencoderOutlierDetector(small(autoencoder_class), random_state=0).fit(blobs)
    far = blobs[:5] + 25.0
    assert_array_equal(detector.predict(far), -1)
    # Tukey's fence flags only the training rows far out in the score tail.
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


def test_auto_contamination_is_tukeys_fence(blobs):
    detector = AutoencoderOutlierDetector(small(Autoencoder), random_state=0).fit(blobs)
    first, third = np.percentile(detector.score_samples(blobs), [25, 75])
    assert detector.offset_ == pytest.approx(first - 1.5 * (third - first))


@pytest.mark.parametrize("contamination", [0.0, 0.6, "high"])
def test_bad_contamination_names_itself(contamination, blobs):
    detector = AutoencoderOutlierDetector(small(Autoencoder), contamination=contamination)
    with pytest.raises(ValueError, match="contamination"):
        detector.fit(blobs)
    assert not hasattr(detector, "autoencoder_")


def test_default_autoencoder_and_seeding(blobs):
    detector = AutoencoderOutlierDetector(random_state=3)
    assert detector.autoencoder is None
    detector.fit(blobs)
    assert detector.autoencoder is None  # the parameter is left as given
    assert detector.autoencoder_.n_components_ == 32
    # A sigmoid output only for data it can reconstruct: [0, 1].
    assert detector.autoencoder_.output_activation == "identity"
    scaled = (blobs - blobs.min()) / (blobs.max() - blobs.min())
    unit = AutoencoderOutlierDetector(random_state=3).fit(scaled)
    assert unit.autoencoder_.output_activation == "sigmoid"
    same = AutoencoderOutlierDetector(random_state=3).fit(blobs)
    other = AutoencoderOutlierDetector(random_state=4).fit(blobs)
    assert_array_equal(detector.score_samples(blobs), same.score_samples(blobs))
    assert not np.allclose(detector.score_samples(blobs), other.score_samples(blobs))


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
