import os

# scikit-learn's array API dispatch needs SciPy's own array API support,
# which SciPy reads from the environment: set before any test, doctest or
# guide imports scipy or sklearn.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
