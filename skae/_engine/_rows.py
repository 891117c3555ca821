"""Training rows kept in a scipy sparse matrix, densified batch by batch.

A bag-of-words or one-hot matrix is mostly zeros: densified whole it may not
fit in memory, while each batch does. :class:`SparseRows` offers the few
tensor operations the batching and the loss yardstick use (``len``,
``index_select`` along rows, row slices, ``device``), each returning a dense
float32 tensor of just the rows asked for.
"""

import numpy as np
import torch
from scipy import sparse


class SparseRows:
    """The rows of a scipy sparse matrix, served as dense float32 tensors.

    Rows are densified into one reused buffer per number of rows: a new
    array for every batch would leave the allocator's heap fragmented and
    growing by about a batch per step. A returned tensor is therefore valid
    until the next request for as many rows, which is how batches are used
    (a training step ends before the next batch is gathered).

    Parameters
    ----------
    matrix : scipy.sparse matrix or array
        Converted to CSR once (row access is what batching needs).
    """

    device = torch.device("cpu")

    def __init__(self, matrix):
        self.matrix = matrix.tocsr()
        self._buffers = {}

    def __len__(self):
        return self.matrix.shape[0]

    def _dense(self, rows):
        shape = rows.shape
        buffer = self._buffers.get(shape)
        if buffer is None:
            buffer = self._buffers[shape] = np.zeros(shape, dtype=np.float32)
        else:
            buffer.fill(0)
        rows.astype(np.float32, copy=False).toarray(out=buffer)
        return torch.from_numpy(buffer)

    def index_select(self, dim, index):
        if dim != 0:
            raise ValueError("SparseRows selects rows (dim=0) only.")
        return self._dense(self.matrix[index.cpu().numpy()])

    def __getitem__(self, rows):
        if not isinstance(rows, slice):
            raise TypeError("SparseRows takes row slices; use index_select for indices.")
        return self._dense(self.matrix[rows])


def dense_block(rows):
    """A block of rows as a C-contiguous numpy array: sparse rows are densified.

    Parameters
    ----------
    rows : array-like or scipy sparse matrix of shape (n_rows, n_features)
        A block of rows (a slice of an array, a memmap or a sparse matrix).

    Returns
    -------
    block : ndarray of shape (n_rows, n_features)
        The rows, dense and C-contiguous, in their dtype.
    """
    if sparse.issparse(rows):
        return rows.toarray()
    return np.ascontiguousarray(rows)
