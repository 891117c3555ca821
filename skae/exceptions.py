"""The errors and warnings skae raises, as ``sklearn.exceptions`` holds scikit-learn's."""


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN, infinite, or far worse than a trivial model's.

    Training stops at the end of the epoch that diverged; the estimator is
    left as it was before the call. The message names the epoch and hints at
    the learning rate.

    Read more in the :ref:`User Guide <training>`.
    """


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C ended a fit after at least one completed epoch.

    The estimator holds the model as it was at the end of that epoch; the
    interrupt still propagates, so that a pipeline, a search or a script
    stops too; catch it to go on with the model.

    Read more in the :ref:`User Guide <training>`.

    Parameters
    ----------
    message : str
        What was interrupted, and the epoch whose model is kept.
    estimator : estimator
        The estimator that kept the model.

    Attributes
    ----------
    estimator : estimator
        The estimator that kept the model.
    """

    def __init__(self, message, estimator):
        super().__init__(message)
        self.estimator = estimator


class TrainingInterruptedWarning(UserWarning):
    """A fit was interrupted; the estimator keeps the last completed epoch's model.

    The warning names that epoch; :class:`TrainingInterrupted` follows it.

    Read more in the :ref:`User Guide <training>`.
    """


class DataScaleWarning(UserWarning):
    """The data's scale is far from the one a nonlinear autoencoder trains well on.

    Biases, activations and loss terms such as a VAE's KL term have a fixed
    scale, so features whose typical standard deviation is below 1e-3 or
    above 1e6 train badly; scale them first, e.g. with ``StandardScaler`` or
    ``MinMaxScaler`` in a Pipeline. :class:`~skae.LinearAutoencoder`, which
    divides its loss by the data's variance, never warns.

    Read more in the :ref:`User Guide <training>`.
    """


__all__ = [
    "DataScaleWarning",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "TrainingInterruptedWarning",
]
