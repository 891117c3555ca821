"""The private scikit-learn helpers skae relies on, imported in one place."""

from sklearn.base import _fit_context
from sklearn.manifold._t_sne import _joint_probabilities_nn
from sklearn.utils._param_validation import Interval, StrOptions

__all__ = ["Interval", "StrOptions", "_fit_context", "_joint_probabilities_nn"]
