"""Inference: a module over rows, chunk by chunk, in the rows' float dtype.

Float32 rows run through the fitted module itself, float64 rows through a
float64 twin of it, kept while its weights are unchanged.
"""

import copy
import itertools
import threading
import weakref

import numpy as np
import torch
from scipy import sparse

from ._rows import dense_block
from ._sources import check_finite, read_only_tensor

# Rows per forward pass at inference: bounds memory, never changes results.
_INFERENCE_CHUNK = 8192


# Sparse input is densified a chunk at a time; wide rows make chunks shorter
# so that one densified chunk stays within this many bytes.
_DENSIFIED_CHUNK_BYTES = 64 * 2**20


_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def apply_module(fn, X, module):
    """``fn(module, rows)`` over the rows of X, chunk by chunk, in X's float dtype.

    How every skae estimator runs inference, for a family's
    ``fitted_attributes`` too: X (a float32 or float64 ndarray, scipy sparse
    matrix or memmap) is converted a chunk at a time and never copied whole;
    float64 rows compute with a float64 twin of the module holding its
    current weights; the module runs in eval mode under
    ``torch.inference_mode``, on its own device. ``fn`` returns a tensor
    with one row per input row.

    Parameters
    ----------
    fn : callable
        ``fn(module, rows) -> torch.Tensor``, such as
        ``lambda module, rows: module.encode(rows)``.
    X : ndarray, sparse matrix or memmap of shape (n_samples, n_features)
        Validated float rows.
    module : torch.nn.Module
        The module, typically ``net.module_``.

    Returns
    -------
    result : ndarray of shape (n_samples, ...)
        ``fn``'s rows, in X's dtype.
    """
    if isinstance(X, torch.Tensor):
        return _apply_to_tensor(fn, X, module)
    dtype = np.dtype(X.dtype)
    if dtype == np.float32:
        # The fitted weights themselves: no context to enter on the path a
        # one-row transform takes.
        if module.training:
            module.eval()
        return _apply_in(fn, X, module, dtype)
    return _apply_in(fn, X, _inference_module(module, _TORCH_DTYPES[dtype]), dtype)


def _inference_module(module, dtype):
    """``module`` in ``dtype``, with its current weights, in eval mode.

    A float64 twin is never changed once built, so it needs no context: a
    later change of the weights builds another.
    """
    if module.training:
        module.eval()
    if dtype == torch.float32:
        return module
    return _FLOAT64.twin(module)


def _apply_in(fn, A, module, dtype):
    device = next(module.parameters()).device
    on_cuda = device.type == "cuda"
    with torch.inference_mode():
        n_rows = A.shape[0]
        chunk_rows = _INFERENCE_CHUNK
        if sparse.issparse(A):
            row_bytes = A.shape[1] * dtype.itemsize
            chunk_rows = max(1, min(chunk_rows, _DENSIFIED_CHUNK_BYTES // row_bytes))
        if n_rows <= chunk_rows and not on_cuda:
            # One chunk: the result is the output, with no copy into it.
            return fn(module, read_only_tensor(dense_block(A))).numpy()
        out = None
        for start in range(0, n_rows, chunk_rows):
            chunk = read_only_tensor(dense_block(A[start : start + chunk_rows]))
            chunk = chunk.to(device, non_blocking=True)
            if on_cuda:
                check_finite(chunk)
            result = fn(module, chunk).cpu().numpy()
            if out is None:
                out = np.empty((n_rows, *result.shape[1:]), dtype=dtype)
            out[start : start + len(result)] = result
    return out


def _apply_to_tensor(fn, X, module):
    """``fn(module, rows)`` over a torch tensor's rows, returned on X's device in X's dtype.

    Under scikit-learn's array API dispatch the rows of a tensor never pass
    through NumPy: chunks go to the module's device (none move when both are
    the same) and the results back to X's. The results are ordinary tensors
    (``no_grad``, not ``inference_mode``), which a caller's own training may
    use.
    """
    in_dtype = _inference_module(module, X.dtype)
    device = next(in_dtype.parameters()).device
    results = []
    with torch.no_grad():
        for start in range(0, X.shape[0], _INFERENCE_CHUNK):
            chunk = X[start : start + _INFERENCE_CHUNK].to(device, non_blocking=True)
            if device.type == "cuda":
                check_finite(chunk)
            results.append(fn(in_dtype, chunk).to(X.device))
    return results[0] if len(results) == 1 else torch.cat(results)


class _Float64Copies:
    """Float64 twins of fitted modules, rebuilt only when the weights change.

    A float64 forward pass needs float64 weights. A twin is kept while its
    module's weights are unchanged, keyed on the identity, storage and
    version counter of every parameter and buffer and on the module's
    training generation: an optimizer step, ``load_state_dict``, an
    assignment to ``.data`` or a replaced parameter each change the key, and
    every training run the engine completes (a ``fit``, ``partial_fit``, warm
    start, or a failed fit whose weights were put back) advances the
    generation, which covers steps a captured CUDA graph replays outside the
    version counters. The next float64 pass then builds a new twin. A twin is
    never changed once built, so a pass that holds one while another thread
    builds the next computes with the weights of the moment it began; the
    lock guards the table only, never a pass (a module's forward may run a
    float64 pass of its own).
    """

    def __init__(self):
        self._twins = weakref.WeakKeyDictionary()
        self._generations = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def twin(self, module):
        key = self._key(module)
        with self._lock:
            entry = self._twins.get(module)
        if key is not None and entry is not None and entry[0] == key:
            return entry[1]
        with torch.no_grad():
            twin = copy.deepcopy(module).to(torch.float64).eval()
        with self._lock:
            self._twins[module] = (key, twin)
        return twin

    def weights_changed(self, module):
        with self._lock:
            self._generations[module] = self._generations.get(module, 0) + 1

    def _key(self, module):
        """What identifies the module's current weights; None where it cannot be told."""
        with self._lock:
            generation = self._generations.get(module, 0)
        try:
            tensors = tuple(
                (id(tensor), tensor._version, tensor.data_ptr(), tensor.dtype, tensor.device,
                 tuple(tensor.shape))
                for tensor in itertools.chain(module.parameters(), module.buffers())
            )
        except RuntimeError:
            # An inference tensor keeps no version counter: such a module's
            # twin is built afresh at every pass.
            return None
        return generation, tensors


_FLOAT64 = _Float64Copies()


def weights_changed(module):
    """Mark that a training run changed ``module``'s weights (its float64 twin is rebuilt)."""
    _FLOAT64.weights_changed(module)

