"""The errors and warnings skae raises, as ``sklearn.exceptions`` holds scikit-learn's."""


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN, infinite, or far worse than a trivial model's.

    Training stops at the end of the epoch that diverged; the estimator is
    left as it was before the call.
    """


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C ended a fit after at least one completed epoch.

    The estimator holds the model as it was at the end of that epoch; the
    interrupt still propagates, so that a pipeline, a search or a script
    stops too. ``estimator`` is the estimator that kept the model.
    """

    def __init__(self, message, estimator):
        super().__init__(message)
        self.estimator = estimator


class TrainingInterruptedWarning(UserWarning):
    """A fit was interrupted; the estimator keeps the last completed epoch's model."""


class DataScaleWarning(UserWarning):
    """The data's scale is far from the one a nonlinear autoencoder trains well on."""


__all__ = [
    "DataScaleWarning",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "TrainingInterruptedWarning",
]
