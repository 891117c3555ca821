"""Failure safety: a fit that raises leaves the estimator as it was."""

import copy
import functools

from ..exceptions import TrainingInterrupted
from ._inference import weights_changed

class _NetState:
    """What a resumed fit may change in a net, captured to be put back."""

    def __init__(self, net):
        self.net = net
        self.attributes = dict(vars(net))
        self.n_epochs = len(net.history)
        self.module = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
        self.optimizer = copy.deepcopy(net.optimizer_.state_dict())

    def restore(self):
        net = self.net
        vars(net).clear()
        vars(net).update(self.attributes)
        del net.history[self.n_epochs :]
        net.module_.load_state_dict(self.module)
        net.optimizer_.load_state_dict(self.optimizer)
        weights_changed(net.module_)


def restore_on_failure(fit_method):
    """Decorate a fit method: if it raises, the estimator is put back as it was.

    A fresh fit that fails leaves the estimator unfitted; a continued one
    (``partial_fit``, ``warm_start``) leaves the previous model, weights,
    optimizer state and attributes. The one exception is a Ctrl-C after a
    completed epoch (:class:`TrainingInterrupted`), which keeps that
    epoch's model. Every skae ``fit`` and ``partial_fit`` is decorated with it.

    Parameters
    ----------
    fit_method : callable
        A method ``fit(self, X, ...)`` that changes the estimator.

    Returns
    -------
    fit : callable
        The method, restoring the estimator's state when it raises.
    """

    @functools.wraps(fit_method)
    def fit(self, *args, **kwargs):
        saved = dict(vars(self))
        net = saved.get("net_")
        net_state = _NetState(net) if net is not None else None

        def restore():
            vars(self).clear()
            vars(self).update(saved)
            if net_state is not None:
                net_state.restore()

        try:
            return fit_method(self, *args, **kwargs)
        except TrainingInterrupted as interrupt:
            if interrupt.estimator is not self:
                restore()
            raise
        except BaseException:
            restore()
            raise

    return fit
