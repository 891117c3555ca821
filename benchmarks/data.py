"""The datasets the report runs on: digits by default, larger ones opt-in."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

REPO_ROOT = Path(__file__).resolve().parents[1]
MNIST_SUBSET = REPO_ROOT.parent / "shared" / "data" / "mnist_0169_subset.npz"


@dataclass
class Dataset:
    name: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    image_shape: tuple
    note: str = ""


def _square_shape(n_features):
    side = round(n_features**0.5)
    return (side, side) if side * side == n_features else (1, n_features)


def _to_unit_interval(*arrays):
    top = max(float(np.max(a)) for a in arrays)
    scale = top if top > 1 else 1.0
    return [np.asarray(a, dtype=np.float64) / scale for a in arrays]


def digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, random_state=0, stratify=y
    )
    return Dataset("digits (sklearn, 8x8)", X_train, X_test, y_train, y_test, (8, 8))


def from_npz(path, name=None):
    data = np.load(path)
    if "X_train" in data:
        X_train, X_test = _to_unit_interval(data["X_train"], data["X_test"])
        y_train = data["y_train"] if "y_train" in data else np.zeros(len(X_train), int)
        y_test = data["y_test"] if "y_test" in data else np.zeros(len(X_test), int)
    elif "X" in data:
        (X,) = _to_unit_interval(data["X"])
        y = data["y"] if "y" in data else np.zeros(len(X), int)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    else:
        raise ValueError(f"{path} must hold X_train/X_test (and y_train/y_test) or X (and y).")
    X_train = X_train.reshape(len(X_train), -1)
    X_test = X_test.reshape(len(X_test), -1)
    return Dataset(name or Path(path).name, X_train, X_test, y_train, y_test,
                   _square_shape(X_train.shape[1]))


def load(spec):
    """'digits', 'mnist-subset' or a path to an .npz file."""
    if spec == "digits":
        return digits()
    if spec == "mnist-subset":
        if not MNIST_SUBSET.exists():
            fallback = digits()
            fallback.note = f"{MNIST_SUBSET} was not found: the report fell back to digits."
            return fallback
        return from_npz(MNIST_SUBSET, "MNIST subset (digits 0, 1, 6, 9; 28x28)")
    return from_npz(spec)
