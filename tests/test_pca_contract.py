"""PCA's transformer contract, checked on LinearAutoencoder side by side with PCA.

Each test takes one point of what scikit-learn's own PCA tests hold PCA to
(fitted attributes, their order, dtype and meaning; codes, whitening,
``n_components=None``, feature names) and checks it on both estimators.
Where PCA's values come from an exact SVD, LinearAutoencoder's come from a
subspace learned by gradient descent, so they are compared with a tolerance
on data whose spectrum has clear gaps, trained just long enough to find it.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.decomposition import PCA, IncrementalPCA

from skae import LinearAutoencoder

# Enough steps (600) for the 3-dimensional subspace of ``gapped`` below: they
# match PCA's variances within 1e-4 (seeds 0 and 1); half as many do not.
TRAINED = dict(max_epochs=150, batch_size=50, device="cpu")
# A few steps: for the identities that hold whatever subspace was learned.
BRIEF = dict(max_epochs=3, device="cpu")

PCA_ATTRIBUTES = [
    "explained_variance_", "explained_variance_ratio_", "singular_values_", "noise_variance_",
]


@pytest.fixture
def gapped():
    """200 rows in 6 dimensions, off-centre, with variances 36, 16, 4 then < 0.3."""
    rng = np.random.RandomState(0)
    rotation = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    return rng.normal(size=(200, 6)) * [6, 4, 2, 0.5, 0.3, 0.2] @ rotation + 3.0


def aligned_signs(codes, reference):
    """``codes`` with each column's sign flipped to agree with ``reference``."""
    return codes * np.sign(np.sum(codes * reference, axis=0))


# ----------------------------------------------------------- fitted attributes
def test_fitted_attributes_match_pca_once_the_subspace_is_learned(gapped):
    pca = PCA(3).fit(gapped)
    ae = LinearAutoencoder(3, random_state=0, **TRAINED).fit(gapped)
    assert ae.n_components_ == pca.n_components_ == 3
    for name in PCA_ATTRIBUTES:
        # rtol 1e-3: float32 training; the noise variance is a difference
        # of near totals, hence its looser bound.
        rtol = 2e-2 if name == "noise_variance_" else 1e-3
        assert_allclose(getattr(ae, name), getattr(pca, name), rtol=rtol, err_msg=name)
    # Same components with the same signs: both follow svd_flip's convention.
    assert_allclose(ae.components_, pca.components_, atol=1e-2)


def test_codes_are_pca_scores_and_do_not_depend_on_the_seed(gapped):
    # The issue: in an arbitrary basis, "the first column separates the
    # classes" held for PCA and changed with the seed for the autoencoder.
    pca_codes = PCA(3).fit_transform(gapped)
    for seed in (0, 1):
        codes = LinearAutoencoder(3, random_state=seed, **TRAINED).fit_transform(gapped)
        assert_allclose(aligned_signs(codes, pca_codes), pca_codes, atol=0.05)
        assert_allclose(codes, pca_codes, atol=0.05)


def test_codes_are_coordinates_on_components_ordered_by_variance(gapped):
    # Holds after any training, converged or not: the codes are uncorrelated
    # with variances explained_variance_ (ddof=1, as PCA's), in decreasing
    # order, and their squared norms are the singular values squared.
    for estimator in (PCA(3), LinearAutoencoder(3, random_state=0, **BRIEF)):
        codes = estimator.fit_transform(gapped)
        assert_allclose(codes, (gapped - estimator.mean_) @ estimator.components_.T,
                        atol=1e-5)
        assert_allclose(np.cov(codes, rowvar=False), np.diag(estimator.explained_variance_),
                        rtol=1e-4, atol=1e-4 * estimator.explained_variance_[0])
        assert np.all(np.diff(estimator.explained_variance_) <= 0)
        assert_allclose(np.linalg.norm(codes, axis=0), estimator.singular_values_, rtol=1e-4)
        assert_allclose(estimator.components_ @ estimator.components_.T, np.eye(3), atol=1e-6)
        total = np.var(gapped, axis=0, ddof=1).sum()
        assert_allclose(estimator.explained_variance_ratio_,
                        estimator.explained_variance_ / total, rtol=1e-6)
        # PCA's noise variance: the mean of the variance left to the other
        # min(n_samples, n_features) - k directions.
        assert_allclose(estimator.noise_variance_,
                        (total - estimator.explained_variance_.sum()) / 3, rtol=1e-4)


def test_inverse_transform_is_the_orthogonal_projection_on_the_components(gapped):
    for estimator in (PCA(2), LinearAutoencoder(2, random_state=0, **BRIEF)):
        reconstruction = estimator.inverse_transform(estimator.fit_transform(gapped))
        V, mean = estimator.components_, estimator.mean_
        assert_allclose(reconstruction, (gapped - mean) @ V.T @ V + mean, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fitted_arrays_and_codes_keep_the_input_dtype(gapped, dtype):
    X = gapped.astype(dtype)
    for estimator in (PCA(2), LinearAutoencoder(2, random_state=0, **BRIEF)):
        codes = estimator.fit_transform(X)
        assert codes.dtype == dtype
        assert estimator.inverse_transform(codes).dtype == dtype
        for name in ["components_", *PCA_ATTRIBUTES]:
            assert np.asarray(getattr(estimator, name)).dtype == dtype, name


# ------------------------------------------------------------------ whitening
def test_whiten_gives_unit_variance_codes_and_the_same_reconstructions(gapped):
    pca = PCA(3, whiten=True).fit(gapped)
    ae = LinearAutoencoder(3, whiten=True, random_state=0, **TRAINED).fit(gapped)
    plain = LinearAutoencoder(3, random_state=0, **TRAINED).fit(gapped)
    codes = ae.transform(gapped)
    assert_allclose(np.var(codes, axis=0, ddof=1), np.ones(3), rtol=1e-4)
    assert_allclose(codes, pca.transform(gapped), atol=0.02)
    # Whitening rescales the codes, not the model: the same seed gives the
    # same components and reconstructions as without it.
    assert_allclose(ae.components_, plain.components_)
    assert_allclose(ae.inverse_transform(codes),
                    plain.inverse_transform(plain.transform(gapped)), atol=1e-4)


def test_whiten_may_change_under_warm_start(gapped):
    ae = LinearAutoencoder(2, warm_start=True, random_state=0, **BRIEF).fit(gapped)
    ae.set_params(whiten=True).fit(gapped)
    assert_allclose(np.var(ae.transform(gapped), axis=0, ddof=1), np.ones(2), rtol=1e-4)


# ------------------------------------------------------------ n_components=None
@pytest.mark.parametrize("shape", [(40, 6), (5, 12)])
def test_n_components_none_keeps_min_n_samples_n_features(shape):
    X = np.random.RandomState(0).normal(size=shape)
    pca = PCA().fit(X)
    ae = LinearAutoencoder(None, random_state=0, **BRIEF).fit(X)
    assert ae.n_components_ == pca.n_components_ == min(shape)
    assert ae.components_.shape == pca.components_.shape
    assert ae.get_feature_names_out().shape == (min(shape),)
    assert ae.noise_variance_ == pca.noise_variance_ == 0.0


def test_n_components_none_reconstructs_tall_data_exactly(gapped):
    # All of the space is the subspace: no training can miss any of it.
    ae = LinearAutoencoder(None, random_state=0, **BRIEF).fit(gapped)
    assert_allclose(ae.inverse_transform(ae.transform(gapped)), gapped, atol=1e-4)
    assert_allclose(ae.explained_variance_ratio_.sum(), 1.0, rtol=1e-6)
    assert_allclose(ae.explained_variance_, PCA().fit(gapped).explained_variance_, rtol=1e-5)


# -------------------------------------------------------------------- names
def test_feature_names_count_the_fitted_components_as_pca(gapped):
    pca = PCA(3).fit(gapped)
    ae = LinearAutoencoder(3, random_state=0, **BRIEF).fit(gapped)
    assert list(pca.get_feature_names_out()) == ["pca0", "pca1", "pca2"]
    assert list(ae.get_feature_names_out()) == [
        "linearautoencoder0", "linearautoencoder1", "linearautoencoder2"
    ]


# ---------------------------------------------------------------- streaming
def test_partial_fit_sets_the_attributes_from_all_data_seen(gapped):
    # IncrementalPCA is exact after one pass; the autoencoder converges over
    # passes, and its variances summarise every chunk seen, not the last
    # one, whose spread here is a fifth of the others'. The earlier chunks
    # enter through the components of their time, so the estimate runs
    # low while the subspace still moves (a few % after 40 passes).
    chunks = np.array_split(gapped, 4)
    last = chunks[-1]
    chunks[-1] = (last - last.mean(axis=0)) / 5 + last.mean(axis=0) + 1.0
    ipca = IncrementalPCA(3)
    ae = LinearAutoencoder(3, random_state=0, device="cpu", batch_size=10)
    for chunk in chunks:
        ipca.partial_fit(chunk)
    for _ in range(40):
        for chunk in chunks:
            ae.partial_fit(chunk)
    assert ae.n_samples_seen_ == 40 * len(gapped)
    assert_allclose(ae.mean_, ipca.mean_, rtol=1e-6)
    assert_allclose(ae.explained_variance_, ipca.explained_variance_, rtol=0.1)
    assert_allclose(ae.explained_variance_ratio_, ipca.explained_variance_ratio_, rtol=0.1)
    assert np.all(ae.explained_variance_ > 5 * PCA(3).fit(chunks[-1]).explained_variance_)
