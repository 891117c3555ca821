"""The API reference page, written from the package's own export lists.

``docs/conf.py`` writes ``api.rst`` with :func:`write` before Sphinx reads
the sources, so a new estimator, error or function appears on the page as
soon as the package exports it.
"""

import inspect
from pathlib import Path

INTRO = """\
API reference
=============

Each page lists the object's parameters, attributes and methods, links to
its guide page, and lists the gallery examples that use it.
"""


def _public_functions(module):
    return [name for name, obj in vars(module).items()
            if inspect.isfunction(obj) and not name.startswith("_")
            and obj.__module__ == module.__name__]


def sections():
    """(title, module name, object names, with signatures) for each section of the page."""
    import skae
    import skae.exceptions
    import skae.extend
    import skae.plotting
    from sklearn.base import BaseEstimator

    exported = [getattr(skae, name) for name in skae.__all__]
    estimators = [obj.__name__ for obj in exported
                  if isinstance(obj, type) and issubclass(obj, BaseEstimator)]
    functions = [obj.__name__ for obj in exported if inspect.isfunction(obj)]
    found = [
        ("Estimators", "skae", estimators, False),
        ("Functions", "skae", functions, True),
        # Without the scikit-learn constraints skae.extend re-exports.
        ("Writing a family", "skae.extend",
         [name for name in skae.extend.__all__
          if getattr(skae.extend, name).__module__.startswith("skae")], False),
        ("Errors and warnings", "skae.exceptions", list(skae.exceptions.__all__), False),
        ("Plotting", "skae.plotting", _public_functions(skae.plotting), True),
    ]
    try:
        import skae.onnx
    except ImportError:  # the onnx extra is not installed
        pass
    else:
        found.append(("ONNX export", "skae.onnx", list(skae.onnx.__all__), True))
    return found


def text():
    """The page's reStructuredText."""
    parts = [INTRO]
    for title, module, names, signatures in sections():
        parts += [
            "", title, "-" * len(title), "", f".. currentmodule:: {module}", "",
            ".. autosummary::", "   :toctree: generated",
        ]
        if not signatures:
            parts.append("   :nosignatures:")
        parts += [""] + [f"   {name}" for name in names]
    return "\n".join(parts) + "\n"


def write(path=Path(__file__).with_name("api.rst")):
    """Write the page, unless it already says the same (so Sphinx rebuilds nothing)."""
    content = text()
    if not path.is_file() or path.read_text() != content:
        path.write_text(content)
