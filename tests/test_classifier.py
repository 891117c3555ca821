import numpy as np
import pytest
from sklearn.model_selection import train_test_split

import skae
from skae import Autoencoder, AutoencoderClassifier
from skae.extend import BaseAutoencoder

# Every autoencoder the package exports, so that a new family is covered here
# without an edit.
AUTOENCODERS = [
    getattr(skae, name)
    for name in skae.__all__
    if isinstance(getattr(skae, name), type) and issubclass(getattr(skae, name), BaseAutoencoder)
]

# Small-net settings, each given to the families that take the parameter.
# sequence_shape reads a digit's rows as 8 steps of 8 pixels.
QUICK_SETTINGS = {"hidden_layer_sizes": (32,), "channels": (8,), "hidden_size": 16,
                  "sequence_shape": (8, 8)}


def quick_autoencoder(autoencoder_class):
    accepted = autoencoder_class().get_params()
    settings = {name: value for name, value in QUICK_SETTINGS.items() if name in accepted}
    return autoencoder_class(16, max_epochs=5, random_state=0, device="cpu", **settings)


@pytest.fixture(scope="module")
def few_labels(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    hidden = np.random.RandomState(0).uniform(size=len(y_train)) > 0.1
    y_partial = np.where(hidden, -1, y_train)
    return X_train, y_partial, X_test, y_test


def make_classifier(**params):
    autoencoder = Autoencoder(16, hidden_layer_sizes=(64,), max_epochs=20, device="cpu")
    settings = {"max_epochs": 60, "random_state": 0, "device": "cpu", **params}
    return AutoencoderClassifier(autoencoder, **settings)


@pytest.mark.parametrize("freeze_encoder", [False, True])
def test_accuracy_with_most_labels_hidden_is_well_above_chance(few_labels, freeze_encoder):
    X_train, y_partial, X_test, y_test = few_labels
    clf = make_classifier(freeze_encoder=freeze_encoder).fit(X_train, y_partial)
    assert list(clf.classes_) == list(range(10))
    assert clf.score(X_test, y_test) > 0.6  # chance is 0.1
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_pretraining_uses_the_unlabelled_rows(few_labels):
    X_train, y_partial, _, _ = few_labels
    clf = make_classifier(max_epochs=1).fit(X_train, y_partial)
    assert clf.autoencoder_.n_features_in_ == X_train.shape[1]
    assert clf.n_iter_ == 1
    assert (y_partial != -1).sum() < 0.2 * len(X_train)


def test_frozen_encoder_keeps_the_pretrained_weights(few_labels):
    X_train, y_partial, _, _ = few_labels
    clf = make_classifier(freeze_encoder=True, max_epochs=3).fit(X_train, y_partial)
    pretrained = clf.autoencoder_.module_.encoder_layers[0].weight.detach()
    tuned = clf.module_.encoder.encoder_layers[0].weight.detach()
    assert np.array_equal(pretrained.numpy(), tuned.numpy())
    free = make_classifier(max_epochs=3).fit(X_train, y_partial)
    assert not np.array_equal(
        free.autoencoder_.module_.encoder_layers[0].weight.detach().numpy(),
        free.module_.encoder.encoder_layers[0].weight.detach().numpy(),
    )


def test_string_labels(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                      "eight", "nine"])[y]
    clf = make_classifier(max_epochs=5).fit(X[:300], names[:300])
    assert set(clf.predict(X[:20])) <= set(names)


def test_autoencoders_are_all_found():
    assert {cls.__name__ for cls in AUTOENCODERS} >= {
        "LinearAutoencoder", "Autoencoder", "DenoisingAutoencoder", "SparseAutoencoder",
        "VariationalAutoencoder", "ConvolutionalAutoencoder", "RecurrentAutoencoder",
    }


@pytest.mark.parametrize("autoencoder_class", AUTOENCODERS, ids=lambda cls: cls.__name__)
def test_any_skae_autoencoder_can_be_pretrained(digits, autoencoder_class):
    X, y = digits
    X_train, y_train, X_test, y_test = X[:300], y[:300], X[300:500], y[300:500]
    y_partial = np.where(np.arange(len(y_train)) % 2 == 0, y_train, -1)
    clf = AutoencoderClassifier(quick_autoencoder(autoencoder_class), max_epochs=20,
                                random_state=0, device="cpu").fit(X_train, y_partial)
    assert clf.predict(X_test).shape == (len(X_test),)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.score(X_test, y_test) > 0.3  # chance is 0.1


def test_all_unlabelled_is_an_error(digits):
    X, y = digits
    with pytest.raises(ValueError, match="no labelled row"):
        make_classifier().fit(X[:50], np.full(50, -1))
