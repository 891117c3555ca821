"""Inputs with structure: images (C, H, W) and sequences (T, F), flattened per sample.

Every skae module reads and writes flat (n_samples, n_features) rows; the
estimators for images and sequences also accept the structured arrays and
record the per-sample shape they were fitted on.
"""

import math
from numbers import Integral

import numpy as np
from sklearn.utils.validation import validate_data


class StructuredInputMixin:
    """Validation for estimators whose samples have a shape.

    Subclasses set ``_shape_param`` (the parameter naming the per-sample
    shape, e.g. "image_shape"), ``_shape_axes`` (the names of its axes, e.g.
    ("C", "H", "W")), ``_shape_ndims`` (the allowed numbers of
    per-sample dimensions) and implement :meth:`_infer_shape`, which turns
    the per-sample dimensions of the input (or its flat width) into the
    full shape. The resolved shape is stored as ``<_shape_param>_``.
    """

    _shape_param = None
    _shape_axes = ()
    # Images and sequences come dense: a sparse matrix has no sample shape.
    _accepted_sparse_formats = ()
    _shape_ndims = ()

    def _infer_shape(self, sample_dims):
        raise NotImplementedError

    def _resolve_shape(self, sample_dims):
        requested = getattr(self, self._shape_param)
        if requested is None:
            return self._infer_shape(sample_dims)
        # Checked before the shape meets the data, so that a bad entry is
        # named as such, not as a width mismatch or a torch error.
        axes = self._shape_axes
        if len(requested) != len(axes) or any(
            not isinstance(s, Integral) or s < 1 for s in requested
        ):
            raise ValueError(
                f"{self._shape_param} must be None or ({', '.join(axes)}), {len(axes)} "
                f"positive integers; got {requested!r}."
            )
        requested = tuple(int(s) for s in requested)
        n_features = math.prod(requested)
        if len(sample_dims) == 1 and sample_dims[0] != n_features:
            raise ValueError(
                f"X has {sample_dims[0]} features per row but {self._shape_param}="
                f"{requested} needs {n_features} (= {' x '.join(map(str, requested))})."
            )
        if len(sample_dims) > 1 and math.prod(sample_dims) != n_features:
            raise ValueError(
                f"X has samples of shape {sample_dims}, which does not match "
                f"{self._shape_param}={requested}."
            )
        return requested

    def _validate_X(self, X, *, reset, ensure_all_finite=True):
        ndim = getattr(X, "ndim", None)
        if ndim is None and isinstance(X, (list, tuple)):
            ndim = np.ndim(X)
        sample_dims = None
        if ndim is not None and ndim > 2:
            X = np.asarray(X)
            if ndim - 1 not in self._shape_ndims:
                raise ValueError(
                    f"Expected a 2-D array or samples with {' or '.join(map(str, self._shape_ndims))}"
                    f" dimensions; got an array of shape {X.shape}."
                )
            sample_dims = X.shape[1:]
            X = X.reshape(len(X), -1)
        X = validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32],
            ensure_all_finite=ensure_all_finite,
        )
        if sample_dims is None:
            sample_dims = (X.shape[1],)
        if reset:
            setattr(self, self._shape_param + "_", self._resolve_shape(sample_dims))
        elif len(sample_dims) > 1:
            fitted = getattr(self, self._shape_param + "_")
            if math.prod(sample_dims) != math.prod(fitted) or sample_dims[-1] != fitted[-1]:
                raise ValueError(
                    f"X has samples of shape {sample_dims}, but {type(self).__name__} "
                    f"was fitted on {self._shape_param}={fitted}."
                )
        return X
