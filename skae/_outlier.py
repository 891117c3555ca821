"""AutoencoderOutlierDetector: reconstruction error in scikit-learn's outlier-detector API."""

import warnings
from numbers import Real

import numpy as np
import torch
from sklearn import config_context
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils.validation import check_is_fitted, validate_data

from ._array_api import ArrayAPIMixin, fit_namespace, follows_input_namespace, in_fit_namespace
from .extend import BaseAutoencoder
from ._compat import Interval, StrOptions, _fit_context
from ._dense import Autoencoder
from .extend import draw_seed
from .extend import apply_module, restore_on_failure
from .nn import EnsembleScore

# contamination="auto": a training row is an outlier when its score lies more
# than this many robust standard deviations (1.4826 median absolute
# deviations, which equal one standard deviation for normal data) below the
# training scores' median. The default scores are sums of standardised
# logarithms of errors and densities, roughly symmetric, so the rule reads
# about as it would for a normal distribution; the shares it flags on
# anomaly-free data are measured in the Notes.
_AUTO_DEVIATIONS = 3.0
_MAD_TO_STD = 1.4826

# The default ensemble: one autoencoder per code width, each width a
# multiple of sqrt(n_features). Varied widths make the score depend less on
# any one width being right for the data (the "RandNet" observation: single
# autoencoders' scores vary much from fit to fit, their average far less).
_CODE_WIDTH_FACTORS = (1.0, 1.5, 2.0)
# Small tables get at least this many optimiser steps, large ones at most
# this many, so a member's fit stays near a second on one CPU thread
# whatever the number of rows.
_MIN_STEPS, _MAX_STEPS = 200, 1500
_LEARNING_RATE = 5e-3
# The code's density beside the reconstruction error: a row far out along
# the directions the network does reconstruct, or between the clusters the
# normal rows form, is reconstructed well but has an unlikely code (the idea
# of Zong et al.'s DAGMM, ICLR 2018, fitted after the autoencoder rather than
# with it). Two densities: one Gaussian, for rows far from the bulk of the
# codes, and a mixture of two, for rows between two modes. More components
# fit better, but then a tight group of anomalies claims one of its own and
# looks dense (on the planted clustered anomalies of the benchmark suite, 5
# components lost 0.3 of ROC AUC against these two). A component needs at
# least this many rows; a mixture is fitted on at most this many.
_MIXTURE_SIZES = (1, 2)
_MIN_ROWS_PER_MIXTURE = 50
_MIXTURE_MAX_ROWS = 4096
_MIXTURE_RIDGE = 1e-4
# Half the weight of the error: on the MNIST subset's nines the error alone
# ranks best (ROC AUC 0.99 against 0.98 at equal weights), and across the
# suite's and scikit-learn's real tasks weights of 0.5 to 1 measured alike.
_DENSITY_WEIGHT = 0.5
# The fewest training rows fit takes: a threshold needs a spread of scores,
# a code density more than one code.
_MIN_TRAINING_ROWS = 2


def _member_architecture(n_samples, n_features, width_factor):
    """(code width, hidden width, batch size, epochs) of one default member.

    The code is at most half the input's width, so no member can learn the
    identity; the training budget is counted in optimiser steps, not epochs.
    """
    code = int(np.clip(round(width_factor * np.sqrt(n_features)), 1, max(1, n_features // 2)))
    hidden = int(np.clip(2 * n_features, 16, 256))
    batch_size = int(np.clip(n_samples // 16, 16, 256))
    steps = np.clip(n_samples / 8, _MIN_STEPS, _MAX_STEPS)
    epochs = max(1, int(round(steps * batch_size / n_samples)))
    return code, hidden, batch_size, epochs


def _scores(module, rows):
    return module(rows)


def default_autoencoders(X):
    """The autoencoders of the default ensemble, unfitted, for training data X.

    One :class:`~skae.Autoencoder` per factor in ``_CODE_WIDTH_FACTORS``: a
    code of about that factor times sqrt(n_features) units (at most half of
    n_features), one hidden layer of 2 * n_features units (16 to 256), a
    sigmoid output (the members see X min-max scaled on its training rows),
    Adam at 5e-3 under a cosine schedule, and a budget of n_samples / 8
    optimiser steps clipped to [200, 1500], in batches of n_samples / 16
    clipped to [16, 256].
    """
    n_samples, n_features = X.shape
    members = []
    for factor in _CODE_WIDTH_FACTORS:
        code, hidden, batch_size, epochs = _member_architecture(n_samples, n_features, factor)
        members.append(Autoencoder(
            n_components=code,
            hidden_layer_sizes=(hidden,),
            output_activation="sigmoid",
            learning_rate=_LEARNING_RATE,
            learning_rate_schedule="cosine",
            batch_size=batch_size,
            max_epochs=epochs,
        ))
    return members


def _code_mixture(codes, n_mixture, random_state):
    """A Gaussian mixture of the training codes, as :class:`~skae.nn.EnsembleScore` takes it.

    Fitted on the codes standardised per unit, so that the covariance ridge
    means the same whatever the codes' scale, then mapped back to the codes'
    own coordinates.
    """
    rng = check_random_state(random_state)
    if len(codes) > _MIXTURE_MAX_ROWS:
        codes = codes[rng.choice(len(codes), _MIXTURE_MAX_ROWS, replace=False)]
    centre, scale = codes.mean(axis=0), codes.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    n_mixture = int(np.clip(len(codes) // _MIN_ROWS_PER_MIXTURE, 1, n_mixture))
    mixture = GaussianMixture(n_mixture, covariance_type="full", reg_covar=_MIXTURE_RIDGE,
                              random_state=rng.randint(2**31 - 1))
    # The codes are host numpy arrays whatever the input's namespace, and
    # the mixture's k-means start has no array API path.
    with warnings.catch_warnings(), config_context(array_api_dispatch=False):
        # A mixture short of convergence still ranks rows by density.
        warnings.simplefilter("ignore", ConvergenceWarning)
        mixture.fit((codes - centre) / scale)
    # (c - centre) / scale - mean = (c - (centre + scale * mean)) / scale.
    means = centre + scale * mixture.means_
    precisions_cholesky = mixture.precisions_cholesky_ / scale[None, :, None]
    log_determinants = np.log(np.diagonal(precisions_cholesky, axis1=1, axis2=2)).sum(axis=1)
    log_normalisers = (np.log(mixture.weights_) + log_determinants
                       - 0.5 * codes.shape[1] * np.log(2 * np.pi))
    return log_normalisers, means, precisions_cholesky


def _ensemble_statistics(members, low, span, X, random_state):
    """The statistics :class:`~skae.nn.EnsembleScore` scores with, from the training rows X.

    Every quantity is computed through the score module's own methods, in
    float64, so the score is defined once.
    """
    X64 = np.asarray(X, dtype=np.float64)
    bare = _score_module(members, (low, span, [], None, None))
    mixtures = []
    for i in range(len(members)):
        codes = apply_module(
            lambda module, x, i=i: module.parts(module.members[i], module.scaled(x))[1], X64, bare)
        mixtures.append([_code_mixture(codes, size, random_state) for size in _MIXTURE_SIZES])
    unstandardised = _score_module(members, (low, span, mixtures, None, None))
    parts = apply_module(lambda module, x: module.parts_of_members(x), X64, unstandardised)
    centres = np.median(parts, axis=0)
    spreads = _MAD_TO_STD * np.median(np.abs(parts - centres), axis=0)
    # A part that hardly varies on the training rows must not dominate the sum.
    spreads = np.maximum(spreads, 1e-6 * np.abs(centres) + 1e-12)
    return low, span, mixtures, centres, spreads


# Rows per chunk while the training rows' per-feature errors are summed:
# the errors of a chunk, not of all rows, are held at once.
_BASELINE_CHUNK_ROWS = 1024


def _feature_baselines(module, X64):
    """Each member's typical squared error of each feature: shape (n_members, n_features).

    The mean over the training rows X64, scaled per member so that
    ``log(mean + 1e-12)`` is the member's training median of the log error
    (its centre), which ``EnsembleScore.feature_contributions`` starts its
    paths from: a feature's contribution is positive exactly when it is
    reconstructed worse than it typically is.
    """
    n_members, n_features = len(module.members), X64.shape[1]
    sums = np.zeros((n_members, n_features))
    for rows in gen_batches(len(X64), _BASELINE_CHUNK_ROWS):
        for i in range(n_members):
            sums[i] += apply_module(
                lambda m, x, i=i: m.parts(m.members[i], m.scaled(x))[0], X64[rows], module,
            ).sum(axis=0)
    means = sums / len(X64)
    typical = np.maximum(np.exp(module.centres[:, 0].double().cpu().numpy()) - 1e-12, 0.0)
    level = means.mean(axis=1)
    # A member that reconstructs every training row exactly has no profile
    # to scale: its baseline is flat.
    return np.where(level[:, None] > 0,
                    means * (typical / np.where(level > 0, level, 1.0))[:, None],
                    typical[:, None] * np.ones(n_features))


def _as_frame(values, estimator, X):
    """``values`` as a DataFrame with the fit's column names, when the fit saw names.

    X's own index is kept when X is a DataFrame; otherwise rows are numbered.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return values
    import pandas as pd  # installed: the fit saw a DataFrame

    index = X.index if isinstance(X, pd.DataFrame) else None
    return pd.DataFrame(values, columns=list(names), index=index)


def _score_module(members, statistics):
    """The score of the ensemble ``members`` with ``statistics``, as a torch module."""
    low, span, mixtures, centres, spreads = statistics

    def as_tensor(values):
        return None if values is None else torch.as_tensor(np.asarray(values), dtype=torch.float32)

    return EnsembleScore(
        members, as_tensor(low), as_tensor(span),
        [[tuple(as_tensor(v) for v in mixture) for mixture in member] for member in mixtures],
        as_tensor(centres), as_tensor(spreads), _DENSITY_WEIGHT,
    )


class AutoencoderOutlierDetector(ArrayAPIMixin, OutlierMixin, BaseEstimator):
    """Outlier detection by reconstruction error, in scikit-learn's outlier-detector API.

    ``fit(X)`` trains autoencoders on X (mostly normal rows); rows they
    reconstruct badly are the outliers. As with
    :class:`~sklearn.ensemble.IsolationForest`, ``score_samples`` is higher
    for normal rows, ``decision_function`` is ``score_samples - offset_``
    (negative for outliers) and ``predict`` returns +1 for inliers and -1
    for outliers, so the detector drops into code written for any of
    scikit-learn's detectors. :meth:`explain` says why a row is flagged:
    each feature's contribution to its score.

    Read more in the :ref:`User Guide <anomaly_detection>`.

    Parameters
    ----------
    autoencoder : skae autoencoder or None, default=None
        An unfitted skae autoencoder; it is cloned, and when its
        ``random_state`` is None the clone's is drawn from this estimator's.
        Its ``score_samples`` (minus the reconstruction loss, or the ELBO of a
        :class:`~skae.VariationalAutoencoder`) scores the rows; scale X first
        (e.g. ``MinMaxScaler`` in a Pipeline), as for the autoencoder alone.
        None fits a default ensemble sized from X (see Notes).
    contamination : "auto" or float, default="auto"
        Expected share of outliers in the training data; it sets ``offset_``. A
        float in (0, 0.5] puts the threshold at that percentile of the training
        scores. "auto" flags the rows scoring more than three robust standard
        deviations (1.4826 median absolute deviations) below the training
        scores' median (see Notes for the share it flags on clean data).
    random_state : int, RandomState instance or None, default=None
        Seeds the autoencoders whose own ``random_state`` is None; None draws
        fresh seeds without touching numpy's global random state.

    Attributes
    ----------
    autoencoder_ : skae autoencoder
        The fitted clone of ``autoencoder`` that scores the rows. Defined only
        when ``autoencoder`` is given.
    estimators_ : list of skae autoencoders
        The fitted autoencoders: the default ensemble's members, or
        ``[autoencoder_]``.
    offset_ : float
        Threshold on ``score_samples``:
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during :meth:`fit`. Defined only when X has
        feature names that are all strings.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Outlier detection with random trees.
    sklearn.neighbors.LocalOutlierFactor : Outlier detection by local density.

    Notes
    -----
    The default (``autoencoder=None``) is an ensemble of three
    :class:`~skae.Autoencoder` members sized from X's shape, so that a narrow
    table never gets a network that can learn the identity: codes of about
    1, 1.5 and 2 times sqrt(n_features) units, at most half of n_features
    (9 features: codes of 3, 4 and 4; 784: 28, 42 and 56), one hidden layer
    of 2 * n_features units (16 to 256), and a training budget counted in
    optimiser steps: n_samples / 8 steps clipped to [200, 1500], in batches
    of n_samples / 16 clipped to [16, 256], Adam at 5e-3 under a cosine
    schedule. The members see X min-max scaled on its training rows and
    reconstruct it through a sigmoid, so no choice depends on whether X lies
    exactly in [0, 1] (``MinMaxScaler``'s 1.0000000000000002 builds the same
    network as 1.0). A member scores a row by three parts: the log of its
    mean squared reconstruction error (rows unlike the normal ones are
    reconstructed badly), and minus the log-density of its code under one
    Gaussian and under a mixture of two fitted to the training codes (a row
    far out along the directions the network reconstructs, or between two
    clusters of normal rows, is reconstructed well but has an unlikely code:
    the idea of Zong et al.'s DAGMM, ICLR 2018). Each part is centred on its training median and
    divided by its robust spread (1.4826 median absolute deviations); a
    member's score is its standardised error plus half the mean of its two
    standardised densities, and ``score_samples`` is minus the mean over the
    members.

    On a suite of 17 tabular tasks (real minority classes of scikit-learn's
    datasets, planted local, global, dependency and clustered anomalies,
    the MNIST subset's nines; ``python -m benchmarks.anomaly_tabular``, 3
    seeds, one thread) the default's mean ROC AUC is 0.863, LocalOutlierFactor's
    0.807, IsolationForest's 0.804, pyod's AutoEncoder's 0.801.

    ``contamination="auto"`` flagged 0.1 to 3.4 % of the rows of anomaly-free
    data (median 0.75 %; the normal rows of that suite's data sets and 1,000
    standard normal rows, 3 seeds each;
    ``python -m benchmarks.anomaly_tabular --auto-threshold``). With a given
    ``autoencoder`` the same rule applies to its own scores, whose tail is
    heavier: it flags more.

    A fit that raises, a diverging or interrupted autoencoder included,
    leaves the detector as it was: unfitted, or with its previous model.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import Autoencoder, AutoencoderOutlierDetector
    >>> X, y = load_digits(return_X_y=True)
    >>> detector = AutoencoderOutlierDetector(
    ...     Autoencoder(8, hidden_layer_sizes=(32,), max_epochs=5),
    ...     contamination=0.05, random_state=0,
    ... ).fit(X[y != 8] / 16)
    >>> detector.predict(X[:3] / 16).shape
    (3,)
    >>> sorted(set(detector.predict(X / 16)))
    [np.int64(-1), np.int64(1)]
    >>> default = AutoencoderOutlierDetector(random_state=0).fit(X[:300])
    >>> [member.n_components for member in default.estimators_]
    [8, 12, 16]
    """

    _parameter_constraints: dict = {
        "autoencoder": [BaseAutoencoder, None],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "random_state": ["random_state"],
    }

    def __init__(self, autoencoder=None, *, contamination="auto", random_state=None):
        self.autoencoder = autoencoder
        self.contamination = contamination
        self.random_state = random_state

    # A fit that raises (a diverging or interrupted autoencoder included)
    # puts back every attribute, n_features_in_ among them: an unfitted
    # detector stays unfitted, a fitted one keeps its model and columns.
    # Nested validation stays on: the autoencoder validates its own
    # parameters in its fit.
    @restore_on_failure
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Train the autoencoder(s) on X and set the threshold ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, mostly normal rows; at least 2 of them (one row
            is refused before any training, with scikit-learn's
            ``ValueError``).
        y : None
            Ignored; accepted for Pipeline compatibility.

        Returns
        -------
        self : object
            The fitted detector.
        """
        # Refused before any training: one row has no spread to set a
        # threshold by, nor codes to fit a density to (IsolationForest fits
        # one row, but scores every row alike).
        X = validate_data(self, X, dtype=[np.float64, np.float32],
                          ensure_min_samples=_MIN_TRAINING_ROWS)
        # One generator for every seed drawn, so that members get different ones.
        random_state = (None if self.random_state is None
                        else check_random_state(self.random_state))
        if self.autoencoder is not None:
            autoencoder = clone(self.autoencoder)
            if autoencoder.random_state is None:
                autoencoder.set_params(random_state=draw_seed(random_state))
            fitted = autoencoder.fit(X)
            scores = fitted.score_samples(X).astype(np.float64)
            # Set together, once every fit has succeeded.
            self._ensemble_statistics = None
            self._feature_baselines = None
            self.autoencoder_ = fitted
            self.estimators_ = [fitted]
        else:
            low = X.min(axis=0).astype(np.float64)
            span = X.max(axis=0) - low
            # A constant column maps to 0 rather than dividing by zero.
            span = np.where(span > 0, span, 1.0)
            Z = ((X - low) / span).astype(X.dtype)
            fitted = []
            for autoencoder in default_autoencoders(X):
                autoencoder.set_params(random_state=draw_seed(random_state))
                fitted.append(autoencoder.fit(Z))
            modules = [member.module_ for member in fitted]
            statistics = _ensemble_statistics(modules, low, span, X,
                                              draw_seed(random_state))
            X64 = np.asarray(X, dtype=np.float64)
            module = _score_module(modules, statistics)
            baselines = _feature_baselines(module, X64)
            self._ensemble_statistics = statistics
            self._feature_baselines = baselines
            self.estimators_ = fitted
            scores = apply_module(_scores, X64, module)
        # The fit's input namespace is recorded with the threshold, in one step.
        vars(self).update(in_fit_namespace({"offset_": self._threshold(scores)}, fit_namespace()))
        return self

    def score_module(self):
        """The default ensemble's score as one torch module (None with a given autoencoder).

        ``score_samples`` runs it, and the ONNX converter exports it: the
        score has one definition. It shares the members' fitted modules.

        Returns
        -------
        module : skae.nn.EnsembleScore or None
            Rows in, normality scores out.
        """
        check_is_fitted(self)
        if self._ensemble_statistics is None:
            return None
        return _score_module([member.module_ for member in self.estimators_],
                             self._ensemble_statistics)

    def _threshold(self, scores):
        if self.contamination == "auto":
            median = np.median(scores)
            spread = _MAD_TO_STD * np.median(np.abs(scores - median))
            return float(median - _AUTO_DEVIATIONS * spread)
        # The same percentile IsolationForest takes: exactly the expected
        # share of training rows falls below it, barring ties.
        return float(np.percentile(scores, 100.0 * self.contamination))

    def score_samples(self, X):
        """Normality score of each row (higher is more normal).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            With the default ensemble, minus the mean over its members of
            their standardised reconstruction errors and code densities (see
            Notes; 0 is a typical training row); with a given
            ``autoencoder``, its own ``score_samples`` (minus the
            reconstruction loss, or the ELBO of a variational autoencoder).
            In X's float dtype.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        module = self.score_module()
        if module is None:
            return self.autoencoder_.score_samples(X)
        return apply_module(_scores, X, module)

    def decision_function(self, X):
        """Shifted score: negative for outliers, non-negative for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each row: +1 for an inlier, -1 for an outlier.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to label.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            +1 for an inlier, -1 for an outlier.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    @follows_input_namespace
    def explain(self, X):
        """Each feature's contribution to each row's anomaly score (larger: more anomalous).

        The contributions of a row sum to minus its :meth:`score_samples`,
        so the features whose contributions are largest are the ones that
        make the row look anomalous, and a typical training row's
        contributions sum to about 0 (see Notes for how the parts of the
        score that no one feature carries are split).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to explain, with the features seen in :meth:`fit`.

        Returns
        -------
        contributions : ndarray or DataFrame of shape (n_samples, n_features)
            ``contributions.sum(axis=1)`` equals ``-score_samples(X)`` up to
            rounding. In X's float dtype; a pandas DataFrame with the fit's
            column names (and X's index, when X is a DataFrame) when the
            detector was fitted on a DataFrame.

        See Also
        --------
        skae.plotting.plot_explanation : Draw one row's contributions.

        Notes
        -----
        With the default ensemble, each member's part of minus the score is
        its standardised log reconstruction error, ``(log(e + 1e-12) - c) / s``
        with ``e`` the mean over features of the squared errors ``d_f``, plus
        half the mean of its standardised code densities. The error part is
        split over the features by integrated gradients (Sundararajan et al.,
        ICML 2017) along the straight line from the member's baseline errors
        ``b_f`` to ``d_f``; its closed form gives feature f the share
        ``(d_f - b_f) / n_features * (log(e + 1e-12) - log(B + 1e-12)) / (e - B)``
        of it, with ``B`` the mean of the ``b_f``. ``b_f`` is the feature's
        mean squared error on the training rows, scaled so that
        ``log(B + 1e-12) = c``: a feature's share is positive exactly when
        the row reconstructs it worse than the training rows typically do,
        and ranks features by that excess. The code densities depend on every
        feature through the encoder and are spread evenly over the features
        (as is the rounding left between ``log(B + 1e-12)`` and ``c``): they
        shift a row's contributions, not their order (up to float64's
        rounding when the density term dwarfs the error part). The result is
        the mean over the members, divided as ``score_samples`` is. A row
        whose score overflows to ``-inf`` gets ``+inf`` on the features whose
        error overflowed and 0 elsewhere.

        With a given ``autoencoder``, the contributions are its own
        :meth:`~skae.Autoencoder.explain`: each feature's reconstruction loss
        divided by n_features (a variational autoencoder's KL term, again
        not one feature's, spread evenly).

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_breast_cancer
        >>> from skae import AutoencoderOutlierDetector
        >>> X = load_breast_cancer(as_frame=True).data
        >>> detector = AutoencoderOutlierDetector(random_state=0).fit(X[:300])
        >>> row = X[300:301].copy()
        >>> row["mean area"] = 10 * X["mean area"].max()
        >>> contributions = detector.explain(row)
        >>> contributions.shape
        (1, 30)
        >>> contributions.iloc[0].idxmax()
        'mean area'
        >>> bool(np.allclose(contributions.sum(axis=1), -detector.score_samples(row)))
        True
        """
        check_is_fitted(self)
        rows = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        module = self.score_module()
        if module is None:
            contributions = np.asarray(self.autoencoder_.explain(rows))
        else:
            baselines = getattr(self, "_feature_baselines", None)
            if baselines is None:
                # A detector fitted before explain existed kept no baselines:
                # a flat one at each member's typical error still sums to
                # minus the score, and ranks features by their own error.
                typical = np.exp(self._ensemble_statistics[3][:, 0]) - 1e-12
                baselines = np.repeat(typical[:, None], self.n_features_in_, axis=1)
            baselines = torch.as_tensor(baselines)
            contributions = apply_module(
                lambda score, x: score.feature_contributions(x, baselines), rows, module)
        return _as_frame(contributions, self, X)
