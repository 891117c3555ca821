"""AutoencoderOutlierDetector.explain and the autoencoders' explain: per-feature contributions."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import NotFittedError

import skae
from skae import (
    Autoencoder,
    AutoencoderOutlierDetector,
    ConvolutionalAutoencoder,
    LinearAutoencoder,
    RecurrentAutoencoder,
    VariationalAutoencoder,
)
from skae.extend import BaseAutoencoder

# Every public autoencoder, derived from skae's exports.
AUTOENCODER_CLASSES = [
    cls for name in skae.__all__
    if isinstance(cls := getattr(skae, name), type) and issubclass(cls, BaseAutoencoder)
]

pd = pytest.importorskip("pandas")


def small_autoencoder(cls=Autoencoder, **params):
    settings = {"n_components": 3, "max_epochs": 20, "learning_rate": 0.01, "device": "cpu",
                "random_state": 0}
    if cls is ConvolutionalAutoencoder:
        settings.update(image_shape=(1, 8, 8), channels=(4,))
    elif cls is RecurrentAutoencoder:  # 64 features as 8 steps of 8
        settings.update(sequence_shape=(8, 8), hidden_size=4)
    elif cls is not LinearAutoencoder:
        settings["hidden_layer_sizes"] = (8,)
    return cls(**{**settings, **params})


def planted_rows(X_train, X_held_out, seed):
    """Held-out rows with one feature each moved a whole range beyond its training maximum.

    Only features that vary on the training rows are moved, so "outside the
    normal range" has a scale. Returns the rows and the moved feature of each.
    """
    low, high = X_train.min(axis=0), X_train.max(axis=0)
    varying = np.flatnonzero(high > low)
    rng = np.random.RandomState(seed)
    moved = rng.choice(varying, len(X_held_out))
    rows = X_held_out.copy()
    rows[np.arange(len(rows)), moved] = high[moved] + (high[moved] - low[moved])
    return rows, moved


def held_out_split(X, seed=0):
    order = np.random.RandomState(seed).permutation(len(X))
    cut = 3 * len(X) // 4
    return X[order[:cut]], X[order[cut:]]


@pytest.mark.parametrize("loader", [load_breast_cancer, load_digits],
                         ids=["breast_cancer", "digits"])
def test_a_planted_feature_ranks_first(loader):
    # Measured with the default ensemble, seeds 0 and 1: the moved feature
    # ranks first for 100 % of the 143 breast cancer rows and 99.1 to
    # 99.8 % of the 450 digits rows (half a range beyond: 98.6-100 % and
    # 78-94 %); the issue asks for 70 %.
    X, _ = loader(return_X_y=True)
    train, held_out = held_out_split(X)
    detector = AutoencoderOutlierDetector(random_state=0).fit(train)
    rows, moved = planted_rows(train, held_out, seed=0)
    contributions = detector.explain(rows)
    assert contributions.shape == rows.shape
    share = (contributions.argmax(axis=1) == moved).mean()
    assert share >= 0.9
    # The moved rows are the anomalous ones.
    assert (detector.score_samples(rows) < detector.score_samples(held_out)).mean() > 0.9


def test_a_planted_patch_is_among_the_top_pixels(mnist_subset):
    # Normal digits (0, 1, 6) with a 4x4 white patch on a blank part of the
    # image: on average 91 % of the 16 top-ranked pixels lie in the patch,
    # and the top pixel does for 95 % of the rows (default ensemble fitted
    # on 600 or on all 1,500 normal training rows, seed 0, 200 rows).
    X_train, y_train, X_test, y_test = mnist_subset
    detector = AutoencoderOutlierDetector(random_state=0).fit(X_train[y_train != 9][:600])
    rows = X_test[y_test != 9][:100].copy()
    rng = np.random.RandomState(0)
    patches = np.zeros(rows.shape, bool)
    for row, patch in zip(rows, patches):
        image = row.reshape(28, 28)
        while True:
            top, left = rng.randint(2, 22, size=2)
            if image[top:top + 4, left:left + 4].max() == 0:
                break
        patch.reshape(28, 28)[top:top + 4, left:left + 4] = True
        row[patch] = 1.0
    contributions = detector.explain(rows)
    top_16 = np.argsort(-contributions, axis=1)[:, :16]
    assert np.take_along_axis(patches, top_16, axis=1).mean() >= 0.8
    assert_allclose(contributions.sum(axis=1), -detector.score_samples(rows), atol=1e-8)


# Arrays given to a detector fitted on a DataFrame draw scikit-learn's
# warning; the tests below give them on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")


@pytest.fixture(scope="module")
def fitted_on_frame():
    """A default detector fitted on breast cancer as a DataFrame, with its data."""
    X = load_breast_cancer(as_frame=True).data
    return AutoencoderOutlierDetector(random_state=0).fit(X[:300]), X


def test_contributions_sum_to_minus_the_score(fitted_on_frame):
    detector, X = fitted_on_frame
    rows = X.to_numpy()
    contributions = detector.explain(rows)
    assert isinstance(contributions, pd.DataFrame)
    assert_allclose(contributions.to_numpy().sum(axis=1), -detector.score_samples(rows),
                    rtol=1e-10, atol=1e-10)
    # 0 is a typical training row, for the sum and so for the score.
    assert abs(np.median(contributions.to_numpy()[:300].sum(axis=1))) < 0.2


def test_frame_in_frame_out_with_the_fit_s_names_and_the_row_index(fitted_on_frame):
    detector, X = fitted_on_frame
    rows = X.iloc[[400, 7, 512]]
    contributions = detector.explain(rows)
    assert list(contributions.columns) == list(X.columns)
    assert list(contributions.index) == [400, 7, 512]
    # The same numbers as for the array; an array gets numbered rows.
    array_contributions = detector.explain(rows.to_numpy())
    assert list(array_contributions.index) == [0, 1, 2]
    assert_allclose(contributions.to_numpy(), array_contributions.to_numpy())


def test_columns_in_another_order_are_refused(fitted_on_frame):
    detector, X = fitted_on_frame
    with pytest.raises(ValueError, match="feature names"):
        detector.explain(X[X.columns[::-1]])


def test_array_in_array_out(blobs):
    detector = AutoencoderOutlierDetector(small_autoencoder(), random_state=0).fit(blobs)
    contributions = detector.explain(blobs)
    assert type(contributions) is np.ndarray and contributions.shape == blobs.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("given", [False, True], ids=["default", "given"])
def test_the_input_s_float_dtype_comes_back(dtype, given, blobs):
    X = blobs.astype(dtype)
    detector = AutoencoderOutlierDetector(small_autoencoder() if given else None,
                                          random_state=0).fit(X)
    contributions = detector.explain(X)
    assert contributions.dtype == dtype
    scores = detector.score_samples(X)
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    assert_allclose(contributions.sum(axis=1), -scores, rtol=tolerance, atol=tolerance)
    # Integer rows are explained as float64 rows, as score_samples scores them.
    assert detector.explain(np.round(X).astype(int)).dtype == np.float64


@pytest.mark.parametrize("cls", AUTOENCODER_CLASSES, ids=lambda cls: cls.__name__)
def test_autoencoders_explain_their_own_score(cls, digits):
    X = digits[0][:200]
    autoencoder = small_autoencoder(cls, max_epochs=3).fit(X)
    contributions = autoencoder.explain(X)
    assert contributions.shape == X.shape
    assert_allclose(contributions.sum(axis=1), -autoencoder.score_samples(X), atol=1e-10)
    if not issubclass(cls, VariationalAutoencoder):
        # Each feature's own squared error, over n_features.
        reconstructions = autoencoder.inverse_transform(autoencoder.transform(X))
        assert_allclose(contributions, (reconstructions - X) ** 2 / X.shape[1], atol=1e-10)
    # The detector over a given autoencoder explains with it.
    detector = AutoencoderOutlierDetector(small_autoencoder(cls, max_epochs=3)).fit(X)
    assert_allclose(detector.explain(X), detector.autoencoder_.explain(X))


def test_bce_autoencoder_explains_its_cross_entropy(digits):
    X = digits[0][:200]
    autoencoder = small_autoencoder(loss="bce", output_activation="sigmoid",
                                    max_epochs=3).fit(X)
    contributions = autoencoder.explain(X)
    assert_allclose(contributions.sum(axis=1), -autoencoder.score_samples(X), atol=1e-10)
    assert (contributions >= 0).all()


def test_autoencoder_fitted_on_a_frame_explains_in_a_frame(digits):
    X = pd.DataFrame(digits[0][:100], columns=[f"pixel{i}" for i in range(64)])
    autoencoder = small_autoencoder(max_epochs=2).fit(X)
    contributions = autoencoder.explain(X.iloc[10:20])
    assert list(contributions.columns) == list(X.columns)
    assert list(contributions.index) == list(range(10, 20))
    # set_output governs transform's codes, not the per-feature explanation.
    autoencoder.set_output(transform="pandas")
    assert isinstance(autoencoder.transform(X), pd.DataFrame)
    assert list(autoencoder.explain(X).columns) == list(X.columns)


# --------------------------------------------------------------------- edges
def test_one_training_row_is_refused_before_any_training(blobs, monkeypatch):
    monkeypatch.setattr(Autoencoder, "fit", lambda *args: pytest.fail("training started"))
    for autoencoder in (None, small_autoencoder()):
        detector = AutoencoderOutlierDetector(autoencoder)
        with pytest.raises(ValueError, match=r"1 sample\(s\).*minimum of 2.*"
                                             "AutoencoderOutlierDetector"):
            detector.fit(blobs[:1])
        assert not [name for name in vars(detector) if name.endswith("_")]


@pytest.mark.parametrize("X", [np.zeros((0, 4)), np.zeros(4), [["a", "b"], ["c", "d"]]],
                         ids=["empty", "1-D", "strings"])
def test_bad_training_data_is_refused_before_any_training(X, monkeypatch):
    monkeypatch.setattr(Autoencoder, "fit", lambda *args: pytest.fail("training started"))
    with pytest.raises(ValueError):
        AutoencoderOutlierDetector().fit(X)


def test_two_rows_fit_and_score(monkeypatch):
    # The fewest rows the detector takes; a quick member keeps the test short.
    X = np.random.RandomState(0).normal(size=(2, 4))
    detector = AutoencoderOutlierDetector(small_autoencoder(max_epochs=2)).fit(X)
    assert detector.predict(X).shape == (2,)
    assert detector.explain(X).shape == (2, 4)


@pytest.fixture(scope="module")
def fitted_default():
    X = np.random.RandomState(0).normal(size=(120, 5))
    return AutoencoderOutlierDetector(random_state=0).fit(X), X


@pytest.mark.parametrize("method", ["explain", "score_samples"])
def test_explain_validates_as_the_other_methods(method, fitted_default):
    detector, X = fitted_default
    explain = getattr(detector, method)
    bad = X[:3].copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        explain(bad)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        explain(bad)
    with pytest.raises(ValueError, match="5 features"):
        explain(X[:, :4])
    with pytest.raises(ValueError, match="2D array"):
        explain(X[0])
    with pytest.raises(ValueError, match="0 sample"):
        explain(X[:0])


def test_one_row_is_explained_as_among_many(fitted_default):
    detector, X = fitted_default
    assert_allclose(detector.explain(X[7:8])[0], detector.explain(X)[7], rtol=1e-10)


@pytest.mark.parametrize("detector", [AutoencoderOutlierDetector(),
                                      AutoencoderOutlierDetector(small_autoencoder())],
                         ids=["default", "given"])
def test_unfitted_explain_raises_not_fitted(detector, blobs):
    with pytest.raises(NotFittedError):
        detector.explain(blobs)
    with pytest.raises(NotFittedError):
        small_autoencoder().explain(blobs)


def test_a_constant_training_column_moved_is_blamed():
    X = np.random.RandomState(0).normal(size=(150, 6))
    X[:, 2] = 3.0
    detector = AutoencoderOutlierDetector(random_state=0).fit(X)
    rows = X[:10].copy()
    rows[:, 2] = 4.0
    assert_array_equal(detector.explain(rows).argmax(axis=1), 2)
    assert (detector.score_samples(rows) < detector.score_samples(X[:10])).all()


def test_all_constant_training_data_gives_finite_contributions():
    X = np.ones((30, 4))
    detector = AutoencoderOutlierDetector(random_state=0).fit(X)
    contributions = detector.explain(X[:3])
    assert np.isfinite(contributions).all()
    assert_array_equal(detector.predict(X[:3]), 1)


def test_a_refit_on_other_columns_explains_the_new_columns(blobs):
    detector = AutoencoderOutlierDetector(small_autoencoder(), random_state=0)
    detector.fit(pd.DataFrame(blobs, columns=[f"f{i}" for i in range(10)]))
    detector.fit(blobs[:, :6])  # arrays now: no names, six columns
    contributions = detector.explain(blobs[:, :6])
    assert type(contributions) is np.ndarray and contributions.shape == (len(blobs), 6)


# ------------------------------------------------------------------ plotting
def test_plot_explanation_draws_bars_and_images(fitted_on_frame):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skae.plotting import plot_explanation

    detector, X = fitted_on_frame
    contributions = detector.explain(X[400:401])
    ax = plot_explanation(contributions, n_features=5)
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert len(labels) == 5
    # The largest contribution is the top bar.
    assert labels[-1] == contributions.iloc[0].idxmax()
    # A Series (one row of the frame) names its bars by its index too.
    assert [t.get_text() for t in plot_explanation(contributions.iloc[0]).get_yticklabels()][-1] \
        == labels[-1]
    # An image row: the row in grey, its 3 most anomalous pixels marked.
    image_ax = plot_explanation(np.arange(64.0) - 32, image_shape=(8, 8), image=np.ones(64),
                                n_features=3)
    assert len(image_ax.images) == 1
    assert_array_equal(image_ax.collections[0].get_offsets(), [[7, 7], [6, 7], [5, 7]])
    # Without the row, the contributions themselves.
    assert len(plot_explanation(np.zeros(64), image_shape=(1, 8, 8)).images) == 1
    with pytest.raises(ValueError, match="one row"):
        plot_explanation(detector.explain(X[:2]))
    with pytest.raises(ValueError, match="image_shape"):
        plot_explanation(np.zeros(30), image_shape=(8, 8))
    plt.close("all")


def test_explanations_survive_pickle_and_save(fitted_default, tmp_path):
    import pickle

    import skae

    detector, X = fitted_default
    expected = detector.explain(X)
    assert_allclose(pickle.loads(pickle.dumps(detector)).explain(X), expected)
    skae.save(detector, tmp_path / "detector.skae")
    assert_allclose(skae.load(tmp_path / "detector.skae").explain(X), expected)


def test_a_detector_without_baselines_still_sums_to_minus_the_score(fitted_default):
    # As one pickled before explain existed would load.
    import copy

    detector, X = fitted_default
    older = copy.deepcopy(detector)
    del older._feature_baselines
    assert_allclose(older.explain(X).sum(axis=1), -older.score_samples(X), atol=1e-10)


def test_torch_rows_in_torch_rows_out_under_array_api_dispatch(fitted_default):
    torch = pytest.importorskip("torch")
    from sklearn import config_context

    from skae._compat import array_api_helpers_available

    if not array_api_helpers_available():
        pytest.skip("scikit-learn without array API helpers")
    _, X = fitted_default
    with config_context(array_api_dispatch=True):
        detector = AutoencoderOutlierDetector(small_autoencoder()).fit(torch.as_tensor(X))
        contributions = detector.explain(torch.as_tensor(X))
        assert isinstance(contributions, torch.Tensor)
        with pytest.raises(ValueError, match="namespace"):
            detector.explain(X)


# ------------------------------------------------------------ overflowing rows
@pytest.mark.parametrize("value, dtype", [(1e160, np.float64), (1e20, np.float32)])
def test_a_finite_row_that_overflows_is_the_most_anomalous(value, dtype):
    """Far enough out, a finite value overflows the score: -inf, an outlier, and the
    explanation names the feature rather than returning NaN."""
    X = np.random.RandomState(0).rand(80, 6)
    detector = AutoencoderOutlierDetector(random_state=0).fit(X)
    row = X[:1].astype(dtype)
    row[0, 3] = value
    assert detector.score_samples(row)[0] == -np.inf
    assert detector.predict(row)[0] == -1
    contributions = np.asarray(detector.explain(row))[0]
    assert not np.isnan(contributions).any()
    assert contributions.argmax() == 3 and contributions[3] == np.inf
    autoencoder = Autoencoder(n_components=2, hidden_layer_sizes=(4,), max_epochs=2,
                              device="cpu", random_state=0).fit(X)
    shares = np.asarray(autoencoder.explain(row))[0]
    assert not np.isnan(shares).any() and shares[3] == np.inf
