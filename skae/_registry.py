"""Every skae estimator class, recorded when it is defined.

Services that act per class (ONNX converters, the safe format's allow-list)
read this registry instead of a list kept by hand or an import of the
package: a family of skae's, a user's subclass and a family written on
:mod:`skae.extend` outside the package join it by being defined, and a
service that subscribes is told of every class defined after it too.
"""

import threading

__all__ = ["Registered", "estimator_classes", "on_estimator_class"]

_CLASSES = []
_LISTENERS = []
_LOCK = threading.Lock()


class Registered:
    """A base whose every subclass joins the registry when it is defined."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        with _LOCK:
            _CLASSES.append(cls)
            listeners = list(_LISTENERS)
        for listener in listeners:
            listener(cls)


def estimator_classes():
    """The classes defined so far, in the order they were defined."""
    with _LOCK:
        return tuple(_CLASSES)


def on_estimator_class(listener):
    """Call ``listener(cls)`` for every class defined so far and every one defined later."""
    with _LOCK:
        _LISTENERS.append(listener)
        classes = tuple(_CLASSES)
    for cls in classes:
        listener(cls)
