"""Training rows as tensors: from arrays, sparse matrices, memmaps and tensors, on a device."""

import warnings

import numpy as np
import torch
from scipy import sparse

from ._chunks import MappedRows, is_memory_mapped
from ._rows import SparseRows

# Data on a CUDA device is copied there once when it takes at most this
# share of the free memory; otherwise each batch is copied as it is used.
_DEVICE_RESIDENT_SHARE = 0.25


def to_training_tensor(A, dtype, device):
    """A tensor of A; on the CPU it shares A's memory when A already has ``dtype``.

    A torch tensor stays on its device when it is a CUDA one; a scipy sparse A
    stays sparse on the host, its batches densified one by one;
    a memory-mapped A stays in its file, its batches read and converted one
    by one, in an order that reads the file in runs (:mod:`skae._engine._chunks`).
    """
    if isinstance(A, torch.Tensor):
        # Rows given as a tensor (array API dispatch) train where they are
        # when that is the training device: a CUDA tensor never visits the host.
        tensor = A.detach().to(dtype=dtype)
        if device.type != "cuda" or tensor.device.type == "cuda":
            return tensor.to(device)
    elif sparse.issparse(A):
        return SparseRows(A)
    elif is_memory_mapped(A):
        return MappedRows(A, dtype)
    else:
        tensor = read_only_tensor(
            np.ascontiguousarray(A, dtype=torch.empty((), dtype=dtype).numpy().dtype)
        )
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if tensor.numel() * tensor.element_size() <= _DEVICE_RESIDENT_SHARE * free:
            return tensor.to(device)
        return tensor.pin_memory()
    return tensor


def check_finite(tensor):
    """Refuse NaN or infinity, in scikit-learn's words, wherever the tensor lives."""
    if torch.isfinite(tensor).all():
        return
    if torch.isnan(tensor).any():
        raise ValueError("Input X contains NaN.")
    raise ValueError("Input X contains infinity or a value too large for dtype('float32').")


def read_only_tensor(array):
    """A tensor sharing ``array``'s memory, which skae only ever reads."""
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        # So a read-only array (a memmap opened "r") needs no copy.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)
